"""The shapes unyo serves (local model, fault server) carry every field the official OpenAPI
spec requires (../shared/openai-openapi.yaml)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest

from unyo._providers import _shapes

_CANDIDATES = [
    Path(os.environ.get("UNYO_OPENAPI_SPEC", "")),
    Path(__file__).resolve().parents[2] / "shared" / "openai-openapi.yaml",
    Path("/work/shared/openai-openapi.yaml"),
]
SPEC = next((p for p in _CANDIDATES if p.name and p.is_file()), _CANDIDATES[1])


@functools.cache
def schemas() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"{SPEC} not present")
    import yaml

    return yaml.safe_load(SPEC.read_text())["components"]["schemas"]


def required(name: str) -> set[str]:
    schema = schemas()[name]
    fields = set(schema.get("required", []))
    for part in schema.get("allOf", []):
        if "$ref" in part:
            fields |= required(part["$ref"].rsplit("/", 1)[-1])
        fields |= set(part.get("required", []))
    return fields


def check(obj: dict[str, Any], name: str) -> None:
    missing = required(name) - set(obj)
    assert not missing, f"{name} lacks {sorted(missing)}"


G = _shapes.Generated("hello world", 10, 2)
EVENT_SCHEMAS = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
}


def test_response_object() -> None:
    body = {"input": "hi", "max_output_tokens": 5}
    obj = _shapes.response_json(body, "m", G)
    check(obj, "Response")
    check(obj["usage"], "ResponseUsage")
    check(obj["output"][0], "OutputMessage")


@pytest.mark.parametrize("finish", ["stop", "length"])
def test_response_events(finish: str) -> None:
    g = _shapes.Generated("hello world", 10, 2, finish)
    events = list(_shapes.response_events({"input": "hi"}, "m", iter(["hello", " world"]), lambda: g))
    assert events[-1]["type"] == ("response.completed" if finish == "stop" else "response.incomplete")
    for event in events:
        check(event, EVENT_SCHEMAS[event["type"]])
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_chat_shapes() -> None:
    obj = _shapes.chat_json({}, "m", G)
    check(obj, "CreateChatCompletionResponse")
    check(obj["usage"], "CompletionUsage")
    chunks = list(_shapes.chat_events({"stream_options": {"include_usage": True}}, "m", iter(["a"]), lambda: G))
    for chunk in chunks:
        check(chunk, "CreateChatCompletionStreamResponse")
    assert chunks[-1]["usage"]["completion_tokens"] == 2


def test_models_list() -> None:
    check(_shapes.models_json(["a"]), "ListModelsResponse")


TOOL_G = _shapes.Generated(
    "", 10, 7, tool_calls=[{"call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Tokyo"}'}]
)
LOGPROBS = [
    {
        "token": "bug",
        "logprob": -0.1,
        "top_logprobs": [{"token": "bug", "logprob": -0.1}, {"token": "billing", "logprob": -2.5}],
    }
]


def test_tool_call_shapes() -> None:
    obj = _shapes.response_json({"input": "hi", "tools": []}, "m", TOOL_G)
    check(obj, "Response")
    assert [o["type"] for o in obj["output"]] == ["function_call"]
    check(obj["output"][0], "FunctionToolCall")
    chat = _shapes.chat_json({}, "m", TOOL_G)
    check(chat, "CreateChatCompletionResponse")
    assert chat["choices"][0]["finish_reason"] == "tool_calls" and chat["choices"][0]["message"]["content"] is None
    check(chat["choices"][0]["message"]["tool_calls"][0], "ChatCompletionMessageToolCall")


def test_logprob_shapes() -> None:
    g = _shapes.Generated("bug", 10, 1, logprobs=LOGPROBS)
    obj = _shapes.response_json({"input": "hi", "include": ["message.output_text.logprobs"]}, "m", g)
    check(obj, "Response")
    check(obj["output"][0]["content"][0]["logprobs"][0], "LogProb")
    chat = _shapes.chat_json({"logprobs": True}, "m", g)
    check(chat, "CreateChatCompletionResponse")
    check(chat["choices"][0]["logprobs"]["content"][0], "ChatCompletionTokenLogprob")
    assert _shapes.chat_json({}, "m", g)["choices"][0]["logprobs"] is None  # only when asked


HOSTED_EVENTS = {
    "response.file_search_call.in_progress": "ResponseFileSearchCallInProgressEvent",
    "response.file_search_call.searching": "ResponseFileSearchCallSearchingEvent",
    "response.file_search_call.completed": "ResponseFileSearchCallCompletedEvent",
    "response.web_search_call.in_progress": "ResponseWebSearchCallInProgressEvent",
    "response.web_search_call.searching": "ResponseWebSearchCallSearchingEvent",
    "response.web_search_call.completed": "ResponseWebSearchCallCompletedEvent",
    "response.output_text.annotation.added": "ResponseOutputTextAnnotationAddedEvent",
}


def test_hosted_tool_shapes_and_events() -> None:
    found = [
        {"file_id": "file_1", "filename": "a.txt", "text": "Refunds take 14 days.", "score": 0.9, "attributes": {}}
    ]
    hosted = [
        _shapes.file_search_item("refunds?", found),
        _shapes.web_search_item("refunds?", [{"url": "https://example.com/a"}]),
    ]
    notes = [
        {"type": "file_citation", "file_id": "file_1", "filename": "a.txt", "index": 5},
        {"type": "url_citation", "url": "https://example.com/a", "title": "A", "start_index": 0, "end_index": 5},
    ]
    g = _shapes.Generated("hello", 10, 1, hosted=hosted, annotations=notes)
    obj = _shapes.response_json({"input": "hi"}, "m", g)
    check(obj, "Response")
    assert [o["type"] for o in obj["output"]] == ["file_search_call", "web_search_call", "message"]
    check(obj["output"][0], "FileSearchToolCall")
    check(obj["output"][1], "WebSearchToolCall")
    check(obj["output"][1]["action"], "WebSearchActionSearch")
    check(notes[0], "FileCitationBody")
    check(notes[1], "UrlCitationBody")
    assert obj["output"][2]["content"][0]["annotations"] == notes
    events = list(_shapes.response_events({"input": "hi"}, "m", iter(["hel", "lo"]), lambda: g, hosted))
    kinds = [e["type"] for e in events]
    for event in events:
        check(event, {**EVENT_SCHEMAS, **HOSTED_EVENTS}[event["type"]])
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert kinds.index("response.file_search_call.completed") < kinds.index("response.web_search_call.in_progress")
    assert kinds.count("response.output_text.annotation.added") == 2
    assert kinds.index("response.output_text.annotation.added") < kinds.index("response.output_text.done")
    message_events = [e for e in events if e.get("item_id") == obj["output"][2]["id"] or "part" in e]
    assert {e["output_index"] for e in message_events if "output_index" in e} <= {2}


def test_vector_store_and_file_shapes() -> None:
    from unyo.testing._vector_stores import VectorStores

    files = {"file_1": {"id": "file_1", "filename": "a.txt", "_content": b"Refunds take 14 days."}}
    stores = VectorStores()
    status, store = stores.serve(files, "POST", "/vector_stores", "", {"name": "kb"})
    assert status == 200
    check(store, "VectorStoreObject")
    assert set(store["file_counts"]) == {"in_progress", "completed", "failed", "cancelled", "total"}
    status, attached = stores.serve(files, "POST", f"/vector_stores/{store['id']}/files", "", {"file_id": "file_1"})
    check(attached, "VectorStoreFileObject")
    assert attached["status"] == "in_progress"
    _, listed = stores.serve(files, "GET", f"/vector_stores/{store['id']}/files", "", {})
    check(listed, "ListVectorStoreFilesResponse")
    assert listed["data"][0]["status"] == "completed"
    check(stores.serve(files, "GET", "/vector_stores", "", {})[1], "ListVectorStoresResponse")
    deleted = stores.serve(files, "DELETE", f"/vector_stores/{store['id']}/files/file_1", "", {})[1]
    check(deleted, "DeleteVectorStoreFileResponse")
    check(stores.serve(files, "DELETE", f"/vector_stores/{store['id']}", "", {})[1], "DeleteVectorStoreResponse")
