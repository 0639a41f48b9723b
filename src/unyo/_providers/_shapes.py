"""OpenAI wire shapes that unyo *serves*: the in-process local model and the test server.

Requests are turned into chat messages; a generated text plus token counts is turned back into
a Responses object, a Chat Completion, or the SSE events of either. Shapes follow the official
OpenAPI spec (checked in tests/test_shapes.py against ../shared/openai-openapi.yaml).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Generated:
    text: str
    input_tokens: int
    output_tokens: int
    finish: str = "stop"  # "stop" | "length"
    cached_tokens: int = 0
    tool_calls: list[dict[str, str]] = field(default_factory=list)  # {"call_id", "name", "arguments" (JSON text)}
    logprobs: list[dict[str, Any]] | None = None  # {"token", "logprob", "top_logprobs": [{"token", "logprob"}]}
    hosted: list[dict[str, Any]] = field(default_factory=list)  # web_search_call / file_search_call items
    annotations: list[dict[str, Any]] = field(default_factory=list)  # the text's file / url citations


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def tool_call_text(name: str, arguments: str) -> str:
    """How a model's tool call reads as conversation text (for counting and the local model)."""
    return json.dumps({"tool": name, "arguments": arguments}, ensure_ascii=False)


def tool_result_text(output: Any) -> str:
    return f"Tool result: {output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)}"


def responses_messages(body: dict[str, Any]) -> list[dict[str, str]]:
    """A Responses request's instructions + input as chat messages (tool calls and their
    results become assistant / user text)."""
    messages: list[dict[str, str]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": str(body["instructions"])})
    raw = body.get("input", "")
    if isinstance(raw, str):
        messages.append({"role": "user", "content": raw})
        return messages
    for item in raw or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "function_call":
            messages.append(
                {"role": "assistant", "content": tool_call_text(str(item.get("name")), str(item.get("arguments", "")))}
            )
        elif kind == "function_call_output":
            output = item.get("output", "")  # a list: text, image and file parts (images counted by their rule)
            messages.append(
                {
                    "role": "user",
                    "content": tool_result_text(_content_text(output) if isinstance(output, list) else output),
                }
            )
        elif kind in (None, "message"):
            role = item.get("role", "user")
            role = "system" if role == "developer" else role
            messages.append({"role": role, "content": _content_text(item.get("content", ""))})
    return messages


def chat_messages(body: dict[str, Any]) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    for m in body.get("messages", []):
        if not isinstance(m, dict):
            continue
        role = m.get("role", "user")
        if role == "tool":
            messages.append({"role": "user", "content": tool_result_text(_content_text(m.get("content", "")))})
            continue
        text = _content_text(m.get("content", ""))
        for call in m.get("tool_calls") or []:
            fn = call.get("function") or {}
            text += tool_call_text(str(fn.get("name")), str(fn.get("arguments", "")))
        messages.append({"role": "system" if role == "developer" else role, "content": text})
    return messages


def tools_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The function tools a request offers, in one shape for both APIs: {name, description, parameters}."""
    out = []
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        fn = tool.get("function", tool)  # Chat nests under "function"; Responses is flat
        out.append(
            {
                "name": fn.get("name"),
                "description": fn.get("description") or "",
                "parameters": fn.get("parameters") or {"type": "object", "properties": {}},
            }
        )
    return out


def wants_logprobs(body: dict[str, Any]) -> bool:
    return bool(body.get("logprobs")) or "message.output_text.logprobs" in (body.get("include") or [])


def json_schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a request asks the output to match (either API), `{}` for any JSON."""
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_schema":
            return dict(fmt.get("schema") or {})
        if fmt.get("type") == "json_object":
            return {}
    rf = body.get("response_format")
    if isinstance(rf, dict):
        if rf.get("type") == "json_schema":
            return dict((rf.get("json_schema") or {}).get("schema") or {})
        if rf.get("type") == "json_object":
            return {}
    return None


def output_cap(body: dict[str, Any]) -> int | None:
    for key in ("max_output_tokens", "max_completion_tokens", "max_tokens"):
        if isinstance(body.get(key), int):
            return int(body[key])
    return None


# --- Responses API -------------------------------------------------------------------------


def _response_usage(g: Generated) -> dict[str, Any]:
    return {
        "input_tokens": g.input_tokens,
        "input_tokens_details": {"cached_tokens": g.cached_tokens, "cache_write_tokens": 0},  # required by the spec
        "output_tokens": g.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": g.input_tokens + g.output_tokens,
    }


def _message_item(
    item_id: str,
    text: str,
    status: str,
    logprobs: list[dict[str, Any]] | None = None,
    annotations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    part = {
        "type": "output_text",
        "text": text,
        "annotations": annotations or [],
        "logprobs": _wire_logprobs(logprobs or []),
    }
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": [part]}


def file_search_item(query: str, results: list[dict[str, Any]] | None, status: str = "completed") -> dict[str, Any]:
    """A `file_search_call` output item (results only when the request includes them)."""
    return {"id": new_id("fs"), "type": "file_search_call", "status": status, "queries": [query], "results": results}


def web_search_item(query: str, sources: list[dict[str, Any]] | None, status: str = "completed") -> dict[str, Any]:
    """A `web_search_call` output item: a search action (its sources only when included)."""
    action: dict[str, Any] = {"type": "search", "query": query, "queries": [query]}
    if sources is not None:
        action["sources"] = [{"type": "url", "url": s["url"]} for s in sources]
    return {"id": new_id("ws"), "type": "web_search_call", "status": status, "action": action}


def _wire_logprobs(logprobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def one(t: dict[str, Any]) -> dict[str, Any]:
        return {"token": t["token"], "logprob": t["logprob"], "bytes": list(t["token"].encode())}

    return [{**one(t), "top_logprobs": [one(a) for a in t.get("top_logprobs", [])]} for t in logprobs]


def _output_items(g: Generated, item_id: str, status: str, logprobs: bool) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {
            "type": "function_call",
            "id": new_id("fc"),
            "call_id": c["call_id"],
            "name": c["name"],
            "arguments": c["arguments"],
            "status": "completed",
        }
        for c in g.tool_calls
    ]
    if g.text or not items:
        items.insert(0, _message_item(item_id, g.text, status, g.logprobs if logprobs else None, g.annotations))
    return [*g.hosted, *items]  # the hosted tools ran before the model wrote


def response_object(
    body: dict[str, Any], model: str, g: Generated | None, *, resp_id: str, item_id: str, created: int
) -> dict[str, Any]:
    done = g is not None
    incomplete = done and g.finish == "length"
    status = "in_progress" if not done else ("incomplete" if incomplete else "completed")
    return {
        "id": resp_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "model": model,
        "output": _output_items(g, item_id, "incomplete" if incomplete else "completed", wants_logprobs(body))
        if done
        else [],
        "usage": _response_usage(g) if done else None,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "temperature": body.get("temperature", 1.0),
        "top_p": body.get("top_p", 1.0),
        "parallel_tool_calls": True,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "text": body.get("text") or {"format": {"type": "text"}},
        "metadata": body.get("metadata") or {},
        "store": False,
    }


def response_json(body: dict[str, Any], model: str, g: Generated) -> dict[str, Any]:
    return response_object(body, model, g, resp_id=new_id("resp"), item_id=new_id("msg"), created=int(time.time()))


_TOOL_EVENTS = {"file_search_call": "response.file_search_call", "web_search_call": "response.web_search_call"}


def _hosted_events(items: list[dict[str, Any]], seq: Iterator[int]) -> Iterator[dict[str, Any]]:
    """A hosted tool call as it runs: added (in progress), in_progress, searching, completed, done."""
    for index, item in enumerate(items):
        prefix = _TOOL_EVENTS[item["type"]]
        start = {**item, "status": "in_progress"}
        if "results" in start:
            start["results"] = None
        yield {"type": "response.output_item.added", "sequence_number": next(seq), "output_index": index, "item": start}
        for stage in ("in_progress", "searching", "completed"):
            yield {
                "type": f"{prefix}.{stage}",
                "sequence_number": next(seq),
                "output_index": index,
                "item_id": item["id"],
            }
        yield {"type": "response.output_item.done", "sequence_number": next(seq), "output_index": index, "item": item}


def response_events(
    body: dict[str, Any],
    model: str,
    deltas: Iterable[str],
    finish: Any,
    hosted: list[dict[str, Any]] | None = None,
) -> Iterator[dict[str, Any]]:
    """Responses SSE events for text arriving in `deltas`; `finish()` is called after the last
    delta and returns the Generated record (usage, finish reason). `hosted`: the tool call items
    that run first (file_search_call, web_search_call), each with its progress events."""
    resp_id, item_id, created = new_id("resp"), new_id("msg"), int(time.time())
    seq = iter(range(1_000_000))
    start = response_object(body, model, None, resp_id=resp_id, item_id=item_id, created=created)
    yield {"type": "response.created", "sequence_number": next(seq), "response": start}
    yield {"type": "response.in_progress", "sequence_number": next(seq), "response": start}
    yield from _hosted_events(hosted or [], seq)
    at = len(hosted or [])
    empty = _message_item(item_id, "", "in_progress")
    empty["content"] = []
    yield {"type": "response.output_item.added", "sequence_number": next(seq), "output_index": at, "item": empty}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    where = {"item_id": item_id, "output_index": at, "content_index": 0}
    yield {"type": "response.content_part.added", "sequence_number": next(seq), **where, "part": part}
    for delta in deltas:
        yield {
            "type": "response.output_text.delta",
            "sequence_number": next(seq),
            **where,
            "delta": delta,
            "logprobs": [],
        }
    g: Generated = finish()
    for number, annotation in enumerate(g.annotations):
        yield {
            "type": "response.output_text.annotation.added",
            "sequence_number": next(seq),
            **where,
            "annotation_index": number,
            "annotation": annotation,
        }
    yield {"type": "response.output_text.done", "sequence_number": next(seq), **where, "text": g.text, "logprobs": []}
    yield {
        "type": "response.content_part.done",
        "sequence_number": next(seq),
        **where,
        "part": {**part, "text": g.text, "annotations": g.annotations},
    }
    final = response_object(body, model, g, resp_id=resp_id, item_id=item_id, created=created)
    yield {
        "type": "response.output_item.done",
        "sequence_number": next(seq),
        "output_index": at,
        "item": final["output"][at],
    }
    kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    yield {"type": kind, "sequence_number": next(seq), "response": final}


# --- Chat Completions API ------------------------------------------------------------------


def _chat_usage(g: Generated) -> dict[str, Any]:
    return {
        "prompt_tokens": g.input_tokens,
        "completion_tokens": g.output_tokens,
        "total_tokens": g.input_tokens + g.output_tokens,
        "prompt_tokens_details": {"cached_tokens": g.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def chat_json(body: dict[str, Any], model: str, g: Generated) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": g.text if g.text or not g.tool_calls else None,
        "refusal": None,
    }
    if g.tool_calls:
        message["tool_calls"] = [
            {"id": c["call_id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in g.tool_calls
        ]
    logprobs = {"content": _wire_logprobs(g.logprobs), "refusal": None} if g.logprobs and wants_logprobs(body) else None
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if g.tool_calls and g.finish == "stop" else g.finish,
                "logprobs": logprobs,
            }
        ],
        "usage": _chat_usage(g),
    }


def chat_events(body: dict[str, Any], model: str, deltas: Iterable[str], finish: Any) -> Iterator[dict[str, Any]]:
    chunk_id, created = new_id("chatcmpl"), int(time.time())

    def chunk(delta: dict[str, Any], reason: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}
        return {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
        }

    yield chunk({"role": "assistant", "content": ""}, None)
    for delta in deltas:
        yield chunk({"content": delta}, None)
    g: Generated = finish()
    yield chunk({}, g.finish)
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": _chat_usage(g),
        }


def sse(events: Iterable[dict[str, Any]], *, done_marker: bool) -> Iterator[bytes]:
    """Encode events as server-sent events; Chat ends with `data: [DONE]`, Responses names events."""
    for event in events:
        name = f"event: {event['type']}\n" if "type" in event and not done_marker else ""
        yield f"{name}data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()
    if done_marker:
        yield b"data: [DONE]\n\n"


def error_json(
    status: int, message: str, code: str | None = None, kind: str = "invalid_request_error"
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def models_json(model_ids: Iterable[str]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": 0, "owned_by": "unyo"} for m in model_ids],
    }


def example_of(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A small value that matches `schema` (the test server's answer when asked for JSON)."""
    root = root or schema
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return example_of(target, root)
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return example_of(schema["anyOf"][0], root)
    kind = schema.get("type", "object")
    kind = next((k for k in kind if k != "null"), "null") if isinstance(kind, list) else kind
    if kind == "object":
        return {name: example_of(sub, root) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [example_of(schema.get("items") or {"type": "string"}, root) for _ in range(schema.get("minItems", 1))]
    if kind == "string":
        return "example text"[: schema.get("maxLength", 12)].ljust(schema.get("minLength", 0), "x")
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("maximum", 1)) if schema.get("maximum", 1) <= 1 else float(schema.get("minimum", 0))
    if kind == "boolean":
        return False
    return None
