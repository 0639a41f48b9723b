"""Streams with a real stop.

`GuardedStream` / `AsyncGuardedStream` wrap the SDK's stream: they yield the SDK's own event
objects unchanged, record time to first token, usage and ids, turn a broken stream into
`StreamInterrupted` (partial text kept), and `cancel()` — from any thread — shuts the socket
so the provider stops generating (and billing). `TextStream` adds text deltas, a CancelToken,
an `on_delta` callback, `max_chars` and `max_seconds`.

Whatever happens, the call ends as `completed | incomplete | cancelled | interrupted` with the
partial text and usage: the provider's if it said, else counted from the text received.
"""

from __future__ import annotations

import inspect
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from unyo._core._call import Call
from unyo._core._offload import offload
from unyo._core._steps import count_exactly, counter_for
from unyo._providers._hosted_tools import ITEM_TYPES, count_calls
from unyo._types._call import CallInfo, Usage, attach
from unyo._types._errors import StreamInterrupted, UnyoError, from_sdk
from unyo._types._messages import Message
from unyo._types._money_text import money_text

_TERMINAL = {"response.completed": "completed", "response.incomplete": "incomplete", "response.failed": "interrupted"}


def event_text(event: Any) -> str:
    """The text delta carried by a Responses event or a Chat chunk, else ''."""
    if getattr(event, "type", None) == "response.output_text.delta":
        return event.delta or ""
    choices = getattr(event, "choices", None)
    if choices:
        delta = getattr(choices[0], "delta", None)
        return (getattr(delta, "content", None) or "") if delta is not None else ""
    return ""


class _State:
    """What a stream has delivered so far, and how it ended. Shared by sync and async."""

    def __init__(self, call: Call, on_settled: Callable[[Call], None]) -> None:
        self.call = call
        self._on_settled = on_settled
        self._parts: list[str] = []
        self._began = time.monotonic()  # for time to first token, counted from when the stream opened
        self.ended: str | None = None  # terminal status seen in the stream
        self.settled = False
        self._settling = threading.Lock()  # async streams settle in a worker thread: once, whoever asks first
        self.cancel_requested = threading.Event()
        self.cancel_reason = ""

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def observe(self, event: Any) -> None:
        info = self.call.info
        delta = event_text(event)
        if delta:
            if info.ttft_s is None:  # time to the first token of text, not to the first event
                info.ttft_s = time.monotonic() - self._began
            self._parts.append(delta)
        kind = getattr(event, "type", None)
        if kind == "response.output_item.added":  # a hosted tool call is billed once it starts
            item = getattr(event.item, "type", None)
            if item in ITEM_TYPES:
                info.tool_calls[item] = info.tool_calls.get(item, 0) + 1
            return
        if kind in _TERMINAL or kind == "response.created":
            response = event.response
            info.response_id = response.id
            if kind in _TERMINAL:
                self.ended = _TERMINAL[kind]
                info.usage = Usage.from_api(response.usage) or info.usage
                info.tool_calls = count_calls(response.output) or info.tool_calls
            return
        if getattr(event, "object", None) == "chat.completion.chunk":
            info.response_id = info.response_id or event.id
            if event.usage is not None:
                info.usage = Usage.from_api(event.usage)
            for choice in event.choices or ():
                if choice.finish_reason:
                    self.ended = "incomplete" if choice.finish_reason == "length" else "completed"

    def failure(self, exc: BaseException) -> UnyoError | None:
        """The error to raise for an exception inside the stream; None if it was our own cancel."""
        if self.cancel_requested.is_set():
            return None
        ctx = self.call.error_context()
        ctx.partial_text = self.text
        mapped = from_sdk(exc, ctx)
        detail = (
            f" ({type(mapped).__name__}: {mapped.message})"
            if not isinstance(mapped, StreamInterrupted)
            else f": {mapped.message}"
        )
        return StreamInterrupted(f"stream interrupted after {len(self.text)} characters{detail}", ctx)

    def settle(self, status: str) -> None:
        with self._settling:
            if self.settled:
                return
            self.settled = True
        info = self.call.info
        self.call.end(status)
        self.call.output_text = self.text
        if status in ("cancelled", "interrupted") and self.cancel_reason:
            info.error = self.cancel_reason
        if info.usage is None:  # the provider never reported: count what we sent and received
            count_exactly(self.call)
            out = counter_for(self.call).count_text(self.text)
            info.usage = Usage(info.input_tokens or 0, 0, out, 0, reported=False)
        self._on_settled(self.call)

    def stop_requested(self, reason: str) -> None:
        if self.ended is None:
            self.cancel_reason = self.cancel_reason or reason
            self.cancel_requested.set()

    def end_status(self) -> str:
        if self.ended:
            return self.ended
        return "cancelled" if self.cancel_requested.is_set() else "interrupted"

    def finish(self) -> None:
        """The stream ran out: settle, and raise if it ended without a final event."""
        status = self.end_status()
        self.settle(status)
        self.check_ended(status)

    def check_ended(self, status: str) -> None:
        if status == "interrupted":
            ctx = self.call.error_context()
            ctx.partial_text = self.text
            raise StreamInterrupted(Message("stream.no_final_event", chars=len(self.text)), ctx)


def _shutdown_socket(response: Any) -> None:
    """Unblock a reader in another thread: shut the connection's socket down."""
    stream = getattr(response, "extensions", {}).get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Response:
    """The stream's HTTP response (headers, status, ...). Closing it closes the guarded stream,
    so the SDK's stream helpers (`responses.stream()`, which close the response on exit) settle
    and audit the call the moment they let go of it."""

    def __init__(self, http: Any, stream: Any) -> None:
        self._http, self._stream = http, stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._http, name)

    def close(self) -> None:
        self._stream.close()

    async def aclose(self) -> None:
        await self._stream.aclose()


class _Guarded:
    """What the sync and async guarded streams share: state, metadata and the stop."""

    def __init__(self, sdk_stream: Any, call: Call, on_settled: Callable[[Call], None]) -> None:
        self._sdk = sdk_stream
        self._state = _State(call, on_settled)
        self.call: CallInfo = call.info
        self._http = sdk_stream.response
        self.response = _Response(self._http, self)
        attach(self, call.info)

    @property
    def text(self) -> str:
        return self._state.text

    @property
    def status(self) -> str:
        return self.call.status

    @property
    def stop_reason(self) -> str | None:
        return self._state.cancel_reason or None

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the stream from any thread; the upstream connection is closed."""
        self._state.cancel_reason = reason
        self._state.cancel_requested.set()
        _shutdown_socket(self._http)

    def _abandoned(self) -> None:
        """Closed by the caller: if it had not ended, it ends as cancelled."""
        if not self._state.settled:
            self._state.stop_requested("closed")
            self._state.settle(self._state.end_status())

    async def _aabandoned(self) -> None:
        if not self._state.settled:
            self._state.stop_requested("closed")
            await offload(self._state.settle, self._state.end_status())


class GuardedStream(_Guarded):
    """Iterate it like the SDK's Stream; it also has `cancel()`, `text`, `status`, `call`."""

    def __iter__(self) -> Iterator[Any]:
        state = self._state
        try:
            for event in self._sdk:
                state.observe(event)
                yield event
                if state.cancel_requested.is_set():
                    break
        except (KeyboardInterrupt, GeneratorExit) as exc:
            state.stop_requested(type(exc).__name__)
            self._close_transport()
            state.settle(state.end_status())
            raise
        except Exception as exc:
            self._close_transport()
            error = state.failure(exc)
            if error is not None:
                state.settle("interrupted")
                raise error from None
        finally:
            self._close_transport()
        state.finish()

    def _close_transport(self) -> None:
        try:
            self._sdk.close()
            inner = getattr(self._sdk, "_iterator", None)  # the SDK's SSE generator, if suspended
            if inner is not None and hasattr(inner, "close"):
                inner.close()
        except Exception:  # closing a broken connection can itself fail; it is closed either way
            pass

    def close(self) -> None:
        """Close the stream; if it had not ended, it ends as cancelled."""
        self._close_transport()
        self._abandoned()

    def __enter__(self) -> GuardedStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncGuardedStream(_Guarded):
    """The async twin of GuardedStream. It settles (counting, ledger, audit) in the bounded pool
    of `_offload`, never on the event loop."""

    async def __aiter__(self) -> AsyncIterator[Any]:
        state = self._state
        try:
            async for event in self._sdk:
                state.observe(event)
                yield event
                if state.cancel_requested.is_set():
                    break
        except BaseException as exc:
            if not isinstance(exc, Exception):  # CancelledError, KeyboardInterrupt, GeneratorExit
                state.stop_requested(type(exc).__name__)
                await self._close_transport()
                await offload(state.settle, state.end_status())
                raise
            await self._close_transport()
            error = state.failure(exc)
            if error is not None:
                await offload(state.settle, "interrupted")
                raise error from None
        finally:
            await self._close_transport()
        status = state.end_status()
        await offload(state.settle, status)
        state.check_ended(status)

    async def _close_transport(self) -> None:
        try:
            await self._sdk.close()
            inner = getattr(self._sdk, "_iterator", None)
            if inner is not None and hasattr(inner, "aclose"):
                await inner.aclose()
        except Exception:
            pass

    async def aclose(self) -> None:
        await self._close_transport()
        await self._aabandoned()

    async def __aenter__(self) -> AsyncGuardedStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


class CancelToken:
    """Cancel a stream from anywhere (another thread, a signal handler, a UI button)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def _on_cancel(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks.append(callback)
            fire = self._event.is_set()
        if fire:
            callback()


@dataclass
class StreamResult:
    status: str  # completed | incomplete | cancelled | interrupted
    text: str
    usage: Usage | None
    call: CallInfo
    stop_reason: str | None = None  # why it was cancelled: max_chars, max_seconds, callback, token, ...

    @property
    def calls(self) -> list[CallInfo]:
        return [self.call]

    @property
    def cost_usd(self) -> Decimal | None:
        return self.call.cost_usd

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "text": self.text, "stop_reason": self.stop_reason, "call": self.call.to_dict(),
                "cost_usd": money_text(self.call.cost_usd)}  # fmt: skip


class _Text:
    """What TextStream and AsyncTextStream share: the stops and the outcome."""

    def __init__(
        self,
        guarded: Any,
        *,
        cancel: CancelToken | None = None,
        on_delta: Callable[[str], bool | None] | None = None,
        max_chars: int | None = None,
        max_seconds: float | None = None,
        on_close: Callable[[Any], Any] | None = None,
    ) -> None:
        self._guarded = guarded
        self._on_delta = on_delta
        self._on_close = on_close
        self._max_chars = max_chars
        self._max_seconds = max_seconds
        if cancel is not None:
            cancel._on_cancel(lambda: guarded.cancel("token"))
        self.call = guarded.call
        attach(self, guarded.call)

    def cancel(self, reason: str = "cancelled") -> None:
        self._guarded.cancel(reason)

    def _delivered(self, delta: str) -> None:
        """After a delta went to the caller: the callback and max_chars may stop the stream."""
        if self._on_delta is not None and self._on_delta(delta) is False:
            self._guarded.cancel("callback")
        elif self._max_chars is not None and len(self._guarded.text) >= self._max_chars:
            self._guarded.cancel("max_chars")

    def _closing(self) -> Any:
        if self._on_close is None:
            return None
        on_close, self._on_close = self._on_close, None
        return on_close(self)

    @property
    def text(self) -> str:
        return self._guarded.text  # type: ignore[no-any-return]

    @property
    def result(self) -> StreamResult:
        info = self._guarded.call
        return StreamResult(info.status, self._guarded.text, info.usage, info, self._guarded.stop_reason)


class TextStream(_Text):
    """Text deltas from either API, with every way to stop. `result` holds the outcome."""

    def __init__(self, guarded: GuardedStream, **options: Any) -> None:
        super().__init__(guarded, **options)
        seconds = self._max_seconds
        self._timer = threading.Timer(seconds, guarded.cancel, args=("max_seconds",)) if seconds else None

    def __iter__(self) -> Iterator[str]:
        if self._timer:
            self._timer.daemon = True
            self._timer.start()
        try:
            for event in self._guarded:
                delta = event_text(event)
                if not delta:
                    continue
                yield delta
                self._delivered(delta)
        finally:
            if self._timer:
                self._timer.cancel()
            self._guarded.close()
            self._closing()

    def until_done(self) -> StreamResult:
        for _ in self:
            pass
        return self.result


class AsyncTextStream(_Text):
    """The async twin of TextStream (`unyo.astream`): `async for delta in s`, `await s.until_done()`.
    `max_seconds` is a timer on the loop; `on_close` may be a coroutine function."""

    def __init__(self, guarded: AsyncGuardedStream, **options: Any) -> None:
        super().__init__(guarded, **options)

    async def __aiter__(self) -> AsyncIterator[str]:
        import asyncio

        seconds = self._max_seconds
        timer = asyncio.get_running_loop().call_later(seconds, self._guarded.cancel, "max_seconds") if seconds else None
        try:
            async for event in self._guarded:
                delta = event_text(event)
                if not delta:
                    continue
                yield delta
                self._delivered(delta)
        finally:
            if timer is not None:
                timer.cancel()
            await self._guarded.aclose()
            closed = self._closing()
            if inspect.isawaitable(closed):
                await closed

    async def until_done(self) -> StreamResult:
        async for _ in self:
            pass
        return self.result
