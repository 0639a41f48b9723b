"""The drop-in client: same types as the SDK, the pipeline's guarantees visible on the wire."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

import unyo
from unyo.testing import FaultServer

from .conftest import FAKE_KEY, fast_settings


def test_same_types_and_serialisation_as_the_sdk(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    response = client.responses.create(model="gpt-4o-mini", input="hello")
    assert isinstance(response, Response)
    chat = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert isinstance(chat, ChatCompletion)
    for obj in (response, chat):
        dumped = obj.model_dump_json()
        assert "_unyo" not in dumped and "attempts" not in json.loads(dumped)
        assert unyo.call_info(obj).status == "completed"
    raw = openai.OpenAI(api_key=FAKE_KEY, base_url=fault.url).responses.create(model="gpt-4o-mini", input="hello")
    assert set(json.loads(raw.model_dump_json())) == set(json.loads(response.model_dump_json()))


def test_output_cap_is_always_sent(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, max_output_tokens=77))
    client.responses.create(input="hello")
    client.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
    client.chat.completions.create(messages=[{"role": "user", "content": "hi"}], max_tokens=5)
    bodies = [r["body"] for r in fault.requests]
    assert bodies[0]["max_output_tokens"] == 77
    assert bodies[1]["max_completion_tokens"] == 77  # the openai profile uses the newer name
    assert bodies[2]["max_completion_tokens"] == 5 and "max_tokens" not in bodies[2]


def test_cap_above_the_model_maximum_is_refused_before_sending(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    with pytest.raises(unyo.BadRequest, match="maximum output"):
        client.responses.create(input="x", max_output_tokens=10**6)
    assert fault.requests == []


def test_context_too_long_is_refused_before_sending(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, model="gpt-3.5-turbo"))
    with pytest.raises(unyo.ContextTooLong, match="not sent") as caught:
        client.responses.create(input="word " * 20000)
    assert fault.requests == [] and caught.value.exit_code == 7


def test_input_tokens_counted_exactly_as_the_server_bills(fault: FaultServer) -> None:
    """The fault server bills with the same o200k counter, so this proves the pre-send count
    reaches CallInfo unchanged for mixed Japanese/English chat input; the independent exactness
    check is tests/test_local_model.py, against llama.cpp's own prompt_tokens."""
    client = unyo.OpenAI(settings=fast_settings(fault))
    messages = [
        {"role": "system", "content": "あなたは丁寧なアシスタントです。"},
        {"role": "user", "content": "請求書の再発行をお願いします。Invoice #4411."},
    ]
    chat = client.chat.completions.create(messages=messages)
    info = unyo.call_info(chat)
    assert info.input_tokens_bound and info.input_tokens >= chat.usage.prompt_tokens  # sent on the byte bound
    from unyo._core._steps import count_exactly

    call = client.pipeline.prepare("chat", {"messages": messages}, client.settings)
    assert count_exactly(call) and call.info.input_tokens == chat.usage.prompt_tokens and call.info.input_tokens_exact
    assert not count_exactly(call)  # already exact


def test_the_byte_bound_is_refined_only_near_a_limit(fault: FaultServer) -> None:
    """A request whose byte bound would not fit the context window or the budget, but whose
    real count does, is counted exactly and sent; everything else never loads a BPE table."""
    client = unyo.OpenAI(settings=fast_settings(fault, max_output_tokens=16))
    japanese = "請求書の再発行をお願いします。" * 4000  # ~180 KB of UTF-8, ~ 28k tokens: bound > 128k window
    r = client.responses.create(input=japanese)
    info = unyo.call_info(r)
    assert not info.input_tokens_bound and info.input_tokens == r.usage.input_tokens and info.input_tokens < 128_000
    price = client.chat.completions.create(messages=[{"role": "user", "content": "見積もり" * 50}])
    tight = unyo.OpenAI(
        settings=fast_settings(
            fault, max_output_tokens=16, max_request_usd=str(unyo.call_info(price).worst_case_usd / 2)
        )
    )
    fits = tight.chat.completions.create(messages=[{"role": "user", "content": "見積もり" * 50}])
    assert unyo.call_info(fits).budget == "reserved" and not unyo.call_info(fits).input_tokens_bound


def test_roles_resolve_to_profile_models(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    client.responses.create(model="bulk", input="x")
    client.responses.create(model="gpt-4.1-mini", input="x")
    assert [r["body"]["model"] for r in fault.requests] == ["gpt-5-nano", "gpt-4.1-mini"]
    assert client.last_call.role is None and client.last_call.model == "gpt-4.1-mini"


def test_validation_refuses_bad_requests_before_sending(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    with pytest.raises(unyo.BadRequest):
        client.responses.create(input="")
    with pytest.raises(unyo.BadRequest):
        client.chat.completions.create(messages=[])
    with pytest.raises(unyo.BadRequest):
        client.responses.create(input="x", temperature=7)
    assert fault.requests == []


def test_embeddings_and_models(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    emb = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(emb.data) == 2 and unyo.call_info(emb).input_tokens == 2
    assert [m.id for m in client.models.list()] == ["gpt-4o-mini", "gpt-4.1-mini"]


def test_free_methods_pass_through_and_others_do_not(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    assert client.files.list == client.raw.files.list  # reads and management: the SDK's own method
    assert client.images.generate != client.raw.images.generate  # may spend money: through unyo (tests/test_surface.py)
    assert "profile=openai" in repr(client) and FAKE_KEY not in repr(client)


def test_async_client_parity(fault: FaultServer) -> None:
    """The async client goes through the same steps and retry policy as the sync one."""
    script = ["500", {"action": "429", "retry_after": 0.05}, "ok"]

    fault.script(*script)
    sync_info = unyo.call_info(unyo.OpenAI(settings=fast_settings(fault)).responses.create(input="hello"))

    async def main() -> unyo.CallInfo:
        fault.script(*script)
        client = unyo.AsyncOpenAI(settings=fast_settings(fault))
        r = await client.responses.create(input="hello")
        await client.close()
        return unyo.call_info(r)

    async_info = asyncio.run(main())
    strip = lambda info: [(a.outcome, a.status) for a in info.attempt_log]  # noqa: E731
    assert strip(sync_info) == strip(async_info) == [("ServerError", 500), ("RateLimited", 429), ("ok", 200)]
    assert sync_info.input_tokens == async_info.input_tokens
    assert sync_info.usage == async_info.usage
