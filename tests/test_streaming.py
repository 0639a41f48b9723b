"""Streams: text from both APIs, every way to stop, broken streams, usage when cut."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import unyo
from unyo._core._stream import event_text
from unyo.testing import FaultServer

from .conftest import fast_settings

LONG = " ".join(f"w{i}" for i in range(200))


def _stream(client: unyo.OpenAI, api: str):
    if api == "responses":
        return client.responses.create(input="hi", stream=True)
    return client.chat.completions.create(messages=[{"role": "user", "content": "hi"}], stream=True)


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_stream_completes_with_reported_usage(fault: FaultServer, api: str) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    stream = _stream(client, api)
    text = "".join(event_text(e) for e in stream)
    assert text == "Hello from the fault server. This reply has several words in it."
    assert stream.call.status == "completed"
    assert stream.call.usage.reported and stream.call.usage.output_tokens == fault.billed["output_tokens"]
    assert stream.call.ttft_s is not None and stream.call.response_id
    if api == "chat":
        assert fault.requests[-1]["body"]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_cut_stream_raises_interrupted_with_partial_text_and_counted_usage(fault: FaultServer, api: str) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    fault.script({"action": "cut", "after": 3})
    stream = _stream(client, api)
    seen = []
    with pytest.raises(unyo.StreamInterrupted) as caught:
        for event in stream:
            seen.append(event_text(event))
    assert caught.value.partial_text == "Hello from the " == "".join(seen)
    assert caught.value.exit_code == 6
    assert stream.call.status == "interrupted"
    usage = stream.call.usage
    assert usage.reported is False and usage.output_tokens == fault.billed["output_tokens"] == 4


def test_idle_timeout_between_chunks(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, stream_idle_s=0.3))
    fault.script({"action": "stall", "after": 2})
    stream = client.responses.create(input="hi", stream=True)
    with pytest.raises(unyo.StreamInterrupted) as caught:
        list(stream)
    assert "APITimeout" in str(caught.value) and caught.value.partial_text == "Hello from "


def _wait_for_disconnect(fault: FaultServer) -> dict:
    for _ in range(100):
        if fault.disconnects:
            return fault.disconnects[-1]
        time.sleep(0.02)
    raise AssertionError("the server never saw the client disconnect")


def test_cancel_from_another_thread_closes_upstream(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    fault.script({"action": "ok", "delay": 0.02, "text": LONG})
    text_stream = unyo.stream("hi", client=client)
    token_thread = threading.Timer(0.2, text_stream.cancel, args=("user pressed stop",))
    token_thread.start()
    parts = list(text_stream)
    result = text_stream.result
    assert result.status == "cancelled" and result.stop_reason == "user pressed stop"
    assert result.text == "".join(parts) and 0 < len(parts) < 200
    assert result.usage.output_tokens > 0 and not result.usage.reported
    gone = _wait_for_disconnect(fault)
    assert gone["deltas_sent"] < gone["of"]  # generation stopped upstream


def test_cancel_token_callback_max_chars_max_seconds(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))

    fault.script({"action": "ok", "delay": 0.01, "text": LONG})
    token = unyo.CancelToken()
    s = unyo.stream(
        "hi", client=client, cancel=token, on_delta=lambda d: token.cancel() if d.startswith("w5") else None
    )
    assert s.until_done().status == "cancelled" and s.result.stop_reason == "token"

    fault.script({"action": "ok", "delay": 0.01, "text": LONG})
    s = unyo.stream("hi", client=client, on_delta=lambda d: False)
    assert s.until_done().stop_reason == "callback" and s.text == "w0 "

    fault.script({"action": "ok", "delay": 0.01, "text": LONG})
    s = unyo.stream("hi", client=client, max_chars=12)
    assert s.until_done().stop_reason == "max_chars" and 12 <= len(s.text) < 20

    fault.script({"action": "ok", "delay": 0.05, "text": LONG})
    s = unyo.stream("hi", client=client, max_seconds=0.3)
    result = s.until_done()
    assert result.stop_reason == "max_seconds" and result.status == "cancelled" and len(s.text) < len(LONG)


def test_breaking_out_of_the_loop_marks_cancelled(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    fault.script({"action": "ok", "delay": 0.01, "text": LONG})
    with client.responses.create(input="hi", stream=True) as stream:
        for i, _ in enumerate(stream):
            if i == 5:
                break
    assert stream.call.status == "cancelled"


def test_keyboard_interrupt_mid_stream_is_cancelled(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    fault.script({"action": "ok", "delay": 0.01, "text": LONG})
    stream = client.chat.completions.create(messages=[{"role": "user", "content": "hi"}], stream=True)
    with pytest.raises(KeyboardInterrupt):
        for i, _ in enumerate(stream):
            if i == 3:
                raise KeyboardInterrupt
    assert stream.call.status == "cancelled"


def test_async_stream_and_cancel(fault: FaultServer) -> None:
    async def main() -> tuple[str, str, str]:
        client = unyo.AsyncOpenAI(settings=fast_settings(fault))
        stream = await client.responses.create(input="hi", stream=True)
        text = "".join([event_text(e) async for e in stream])
        fault.script({"action": "ok", "delay": 0.01, "text": LONG})
        second = await client.chat.completions.create(messages=[{"role": "user", "content": "hi"}], stream=True)
        async for _ in second:
            if len(second.text) > 10:
                second.cancel("enough")
        await client.close()
        return text, stream.call.status, second.call.status

    text, first, second = asyncio.run(main())
    assert text.startswith("Hello") and first == "completed" and second == "cancelled"
