"""Every entry point of the drop-in client goes through the guardrails or is refused: `parse`,
the `stream()` helpers, `with_options`, `with_raw_response`, `with_streaming_response`, and the
rest of the SDK's surface, walked by introspection so a new SDK method cannot slip through."""

from __future__ import annotations

import asyncio
import inspect
import os
import sqlite3
from pathlib import Path
from typing import Any

import openai
import pytest
from openai._resource import AsyncAPIResource, SyncAPIResource
from pydantic import BaseModel

import unyo
from unyo._client._surface import FREE_RESOURCES, classify
from unyo.testing import FaultServer

from .conftest import fast_settings


class Ticket(BaseModel):
    category: str
    urgency: int


def audit_rows() -> list[dict[str, Any]]:
    with sqlite3.connect(Path(os.environ["UNYO_HOME"]) / "unyo.db") as conn:
        conn.row_factory = sqlite3.Row
        return [
            dict(r)
            for r in conn.execute("SELECT api, status, model, error, cost AS cost_usd FROM unyo_calls ORDER BY ts")
        ]


def generations(fault: FaultServer) -> int:
    return sum(1 for r in fault.requests if r["path"] in ("/responses", "/chat/completions"))


def test_parse_on_both_apis_is_budgeted_and_audited(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    r = client.responses.parse(model="gpt-4o-mini", input="請求書が届きません", text_format=Ticket)
    assert isinstance(r, openai.types.responses.ParsedResponse) and isinstance(r.output_parsed, Ticket)
    info = unyo.call_info(r)
    assert info.budget == "reserved" and info.status == "completed" and info.cost_usd is not None
    sent = fault.requests[-1]["body"]
    assert (
        sent["text"]["format"]["type"] == "json_schema" and sent["max_output_tokens"] == 1024
    )  # the cap is always sent
    c = client.chat.completions.parse(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], response_format=Ticket
    )
    assert isinstance(c.choices[0].message.parsed, Ticket) and unyo.call_info(c).budget == "reserved"
    assert [(row["api"], row["status"]) for row in audit_rows()] == [("responses", "completed"), ("chat", "completed")]


def test_parse_is_refused_by_the_budget_before_sending(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, max_request_usd="0.0000001"))
    with pytest.raises(unyo.BudgetExceeded):
        client.responses.parse(model="gpt-4o-mini", input="hi", text_format=Ticket)
    assert generations(fault) == 0 and audit_rows()[-1]["error"] == "BudgetExceeded"


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_the_sdks_stream_helpers_settle_and_audit(fault: FaultServer, api: str) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    if api == "responses":
        with client.responses.stream(model="gpt-4o-mini", input="tell me a story") as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_response()
        assert "response.output_text.delta" in kinds and final.output_text
    else:
        with client.chat.completions.stream(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "story"}]
        ) as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_completion()
        assert "content.delta" in kinds and final.choices[0].message.content
        assert fault.requests[-1]["body"]["stream_options"] == {"include_usage": True}
    row = audit_rows()[-1]
    assert (row["api"], row["status"]) == (api, "completed") and row["cost_usd"] not in (None, "0")


def test_leaving_a_stream_helper_early_ends_the_call_as_cancelled(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    fault.script({"action": "ok", "text": "word " * 400, "delay": 0.01})
    with client.responses.stream(model="gpt-4o-mini", input="long") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                break
    row = audit_rows()[-1]
    assert row["status"] == "cancelled"
    budget = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    assert budget is not None and not _open_holds()  # the hold was released when the helper let go


def _open_holds() -> list[Any]:
    with sqlite3.connect(Path(os.environ["UNYO_HOME"]) / "unyo.db") as conn:
        return conn.execute("SELECT id FROM unyo_reservations").fetchall()


def test_with_options_keeps_every_guard(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, max_request_usd="0.0000001"))
    quick = client.with_options(timeout=5, max_retries=0)
    assert isinstance(quick, unyo.OpenAI) and quick.settings.max_attempts == 1 and quick.settings.read_timeout_s == 5
    with pytest.raises(unyo.BudgetExceeded):
        quick.responses.create(model="gpt-4o-mini", input="hi")
    with pytest.raises(unyo.BudgetExceeded):
        client.copy().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert generations(fault) == 0
    free = unyo.OpenAI(settings=fast_settings(fault)).with_options(timeout=5)
    r = free.responses.create(model="gpt-4o-mini", input="hi")
    assert unyo.call_info(r).status == "completed" and audit_rows()[-1]["status"] == "completed"


def test_with_raw_response_returns_the_raw_response_with_call_info(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    raw = client.responses.with_raw_response.create(model="gpt-4o-mini", input="hi")
    assert raw.headers.get("x-request-id") and raw.parse().output_text
    assert unyo.call_info(raw).budget == "reserved" and unyo.call_info(raw.parse()) is unyo.call_info(raw)
    chat = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert chat.parse().choices[0].message.content and unyo.call_info(chat).status == "completed"
    with pytest.raises(unyo.BadRequest, match="stream=True"):
        client.responses.with_raw_response.create(model="gpt-4o-mini", input="hi", stream=True)
    assert [row["status"] for row in audit_rows()] == ["completed", "completed", "failed"]


def test_with_streaming_response_is_refused_and_recorded(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    with pytest.raises(unyo.BadRequest, match="with_streaming_response"):
        client.responses.with_streaming_response.create(model="gpt-4o-mini", input="hi")
    assert generations(fault) == 0
    assert audit_rows()[-1]["api"] == "responses.create" and audit_rows()[-1]["error"] == "BadRequest"
    files = client.files.with_streaming_response.list  # reading stays possible
    assert callable(files)


def test_a_method_unyo_cannot_price_is_refused_under_a_budget_and_recorded_either_way(fault: FaultServer) -> None:
    budgeted = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    upload = budgeted.files.create(file=("in.jsonl", b'{"custom_id": "1"}\n'), purpose="batch")  # free: passes
    with pytest.raises(unyo.UnpricedModel, match="batches.create cannot be priced"):
        budgeted.batches.create(input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h")
    assert not any(r["path"] == "/batches" for r in fault.requests)
    free = unyo.OpenAI(settings=fast_settings(fault))
    batch = free.batches.create(input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h")
    assert batch.id and unyo.call_info(batch).status == "completed"
    allowed = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5", allow_unpriced=True))
    assert allowed.batches.create(input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h").id
    rows = [(r["api"], r["status"], r["error"], r["cost_usd"]) for r in audit_rows()]
    assert rows == [("batches.create", "failed", "UnpricedModel", None), ("batches.create", "completed", None, None),
                    ("batches.create", "completed", None, None)]  # fmt: skip


def test_async_client_parse_and_stream_helper(fault: FaultServer) -> None:
    async def main() -> None:
        client = unyo.AsyncOpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
        r = await client.responses.parse(model="gpt-4o-mini", input="hi", text_format=Ticket)
        assert isinstance(r.output_parsed, Ticket) and unyo.call_info(r).budget == "reserved"
        async with client.responses.stream(model="gpt-4o-mini", input="story") as stream:
            async for _ in stream:
                pass
            final = await stream.get_final_response()
        assert final.output_text
        with pytest.raises(unyo.UnpricedModel):
            await client.images.edit(image=b"GIF89a", prompt="a cat", model="gpt-image-1")
        raw = await client.with_options(timeout=5).responses.with_raw_response.create(model="gpt-4o-mini", input="hi")
        assert unyo.call_info(raw).status == "completed"

    asyncio.run(main())
    assert [r["api"] for r in audit_rows()] == ["responses", "responses", "images.edit", "responses"]


# --- the whole surface, by introspection ---------------------------------------------------


def _methods(obj: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every public method of the SDK client, as attribute paths, found by walking its resources."""
    found = []
    for name in sorted(dir(type(obj))):
        if name.startswith("_") or name in ("with_raw_response", "with_streaming_response"):
            continue
        try:
            value = getattr(obj, name)
        except Exception:  # noqa: BLE001 - a property that needs configuration we do not have
            continue
        if isinstance(value, (SyncAPIResource, AsyncAPIResource)):
            found += _methods(value, (*path, name))
        elif callable(value) and not isinstance(value, type):
            found.append((*path, name))
    return found


# Verbs that start generation, storage or compute. A method with one of them may be "free" only
# on a resource that never generates (uploading a file, managing an account, adding items).
SPENDING_VERBS = {
    "create",
    "parse",
    "stream",
    "generate",
    "edit",
    "create_variation",
    "run",
    "connect",
    "upload",
    "create_and_poll",
    "upload_and_poll",
    "create_and_run",
    "remix",
    "extend",
    "compact",
    "resume",
    "fork",
    "accept",
    "submit_tool_outputs",
    "search",
    "invocations",
    "post",
    "put",
    "patch",
    "request",
}


@pytest.mark.parametrize("cls", [openai.OpenAI, openai.AsyncOpenAI])
def test_every_sdk_method_is_guarded_refused_or_free_by_rule(fault: FaultServer, cls: type) -> None:
    sdk = cls(api_key="unused", base_url=fault.url)
    paths = _methods(sdk)
    assert len(paths) > 100  # the walk really found the surface
    ours = (unyo.OpenAI if cls is openai.OpenAI else unyo.AsyncOpenAI)(
        settings=fast_settings(fault, budget_daily_usd="5")
    )
    kinds: dict[str, int] = {}
    for path in paths:
        kind = classify(path)
        kinds[kind] = kinds.get(kind, 0) + 1
        target: Any = ours
        for name in path:
            target = getattr(target, name)
        plain: Any = sdk
        for name in path:
            plain = getattr(plain, name)
        if kind == "free":
            assert path[-1] not in SPENDING_VERBS or path[0] in FREE_RESOURCES, (
                f"{'.'.join(path)} spends money but passes through"
            )
            if path not in (("close",), ("copy",), ("with_options",)):  # unyo's own: a copy stays guarded
                if not hasattr(target, "__func__"):  # fine-tuning reads settle ended jobs (_client._job_settle)
                    target = target.__wrapped__
                assert target.__func__ is plain.__func__, f"{'.'.join(path)} should be the SDK's own method"
        else:
            assert getattr(target, "__func__", None) is not plain.__func__, (
                f"{'.'.join(path)} reaches the SDK unguarded"
            )
    assert kinds["guarded"] >= 6 and kinds["stream"] >= 2 and kinds["unpriced"] > 50


def test_every_unpriced_method_is_refused_under_a_budget_without_a_request(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    unpriced = [p for p in _methods(openai.OpenAI(api_key="unused", base_url=fault.url)) if classify(p) == "unpriced"]
    for path in unpriced:
        target: Any = client
        for name in path:
            target = getattr(target, name)
        with pytest.raises(unyo.UnpricedModel):
            target()
    assert fault.requests == []
    assert len(audit_rows()) == len(unpriced) and {r["error"] for r in audit_rows()} == {"UnpricedModel"}


def test_guarded_methods_still_exist_in_the_sdk() -> None:
    """A renamed SDK method would make a GUARDED entry dead: fail loudly instead."""
    from unyo._client._surface import GUARDED, STREAMS

    sdk = openai.OpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")
    for path in (*GUARDED, *STREAMS):
        target: Any = sdk
        for name in path:
            target = getattr(target, name)
        assert callable(target) and "timeout" in inspect.signature(target).parameters, path


def test_extra_body_cannot_lift_the_output_cap_and_n_is_priced(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5", max_output_tokens=50))
    with pytest.raises(unyo.BadRequest, match="exceeds"):  # the SDK would let extra_body override the body's cap
        client.responses.create(model="gpt-4o-mini", input="hi", extra_body={"max_output_tokens": 10**6})
    r = client.responses.create(model="gpt-4o-mini", input="hi", extra_body={"max_output_tokens": 200})
    assert unyo.call_info(r).max_output_tokens == 200 and fault.requests[-1]["body"]["max_output_tokens"] == 200
    one = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=50
    )
    five = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=50, n=5
    )
    assert unyo.call_info(five).worst_case_usd > unyo.call_info(one).worst_case_usd * 4


def test_nested_wrappers_extra_body_and_hosted_tools_cannot_pass_a_budget(fault: FaultServer) -> None:
    import types

    client = unyo.OpenAI(settings=fast_settings(fault, max_request_usd="0.0001"))
    with pytest.raises(AttributeError, match="one wrapper at a time"):
        client.responses.with_raw_response.with_raw_response.create(input="hi")
    with pytest.raises(AttributeError):
        client.chat.completions.with_streaming_response.with_raw_response.create(messages=[])
    with pytest.raises(unyo.BadRequest, match="exceeds"):  # a Mapping that is not a dict is merged by the SDK too
        client.responses.create(input="hi", extra_body=types.MappingProxyType({"max_output_tokens": 100000}))
    with pytest.raises(unyo.BudgetExceeded):  # extra_body names arguments: they are priced as arguments
        client.chat.completions.create(
            messages=[{"role": "user", "content": "hi"}], max_tokens=200, extra_body={"n": 128}
        )
    with pytest.raises(unyo.BudgetExceeded):
        client.responses.create(input="hi", max_output_tokens=16, extra_body={"input": "x" * 400_000})
    for tool in ("image_generation", "code_interpreter", "mcp"):
        with pytest.raises(unyo.UnpricedModel, match="hosted tools"):
            client.responses.create(input="hi", max_output_tokens=16, tools=[{"type": tool}])
    for tool in ("web_search", "web_search_preview", "file_search"):  # priced per call: max_tool_calls x price
        with pytest.raises(unyo.BudgetExceeded, match=f"up to 4 {tool} calls"):
            client.responses.create(input="hi", max_output_tokens=16, tools=[{"type": tool, "vector_store_ids": []}])
    assert generations(fault) == 0
    r = client.responses.create(input="hi", max_output_tokens=16, extra_body={"metadata": {"k": "v"}, "novel_field": 1})
    sent = fault.requests[-1]["body"]
    assert unyo.call_info(r).status == "completed" and sent["metadata"] == {"k": "v"} and sent["novel_field"] == 1


def test_stored_context_of_unknown_size_is_refused_under_a_budget(fault: FaultServer) -> None:
    free = unyo.OpenAI(settings=fast_settings(fault))
    first = free.responses.create(input="長い前置き" * 2000, max_output_tokens=16, store=True)
    client = unyo.OpenAI(settings=fast_settings(fault, max_request_usd="0.0001"))
    with pytest.raises(unyo.UnpricedModel, match="unyo_prior_tokens"):
        client.responses.create(previous_response_id=first.id, input="and?", max_output_tokens=16)
    with pytest.raises(unyo.BudgetExceeded):  # told the size, unyo prices it
        client.responses.create(previous_response_id=first.id, input="and?", max_output_tokens=16,
                                unyo_prior_tokens=first.usage.input_tokens)  # fmt: skip
    assert generations(fault) == 1  # only the unbudgeted first call
