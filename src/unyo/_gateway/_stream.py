"""A guarded stream served as Server-Sent Events, with a real stop when the client goes away.

    Responses   event: <type>\\ndata: <event json>\\n\\n ...           (no [DONE], as OpenAI)
    Chat        data: <chunk json>\\n\\n ... data: [DONE]\\n\\n

While the events flow, a watcher waits on the ASGI `receive` channel; `http.disconnect` (or a
failed write) cancels the guarded stream, which shuts the upstream socket, so the provider stops
generating, and the call settles as `cancelled` with the tokens delivered so far. A stream that
breaks upstream ends with an error event instead of a silent cut.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from unyo._gateway._errors import to_http

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
]


def _json(event: Any) -> str:
    return json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":"))


class EventStream(Response):
    """An ASGI response around an AsyncGuardedStream. `on_end(call_info)` runs once it settled."""

    media_type = "text/event-stream"

    def __init__(
        self, stream: Any, responses: bool, usage_chunk_wanted: bool, on_end: Callable[[Any], Any] | None = None
    ) -> None:
        self.status_code, self.background = 200, None
        self.raw_headers = list(_HEADERS)
        self.stream, self.responses, self.usage_wanted, self.on_end = stream, responses, usage_chunk_wanted, on_end

    def encode(self, event: Any) -> bytes:
        if self.responses:
            return f"event: {event.type}\ndata: {_json(event)}\n\n".encode()
        if not self.usage_wanted and not event.choices and event.usage is not None:
            return b""  # the usage chunk unyo asked for on its own account, not the caller's
        return f"data: {_json(event)}\n\n".encode()

    def error_frame(self, exc: BaseException) -> bytes:
        _, body, _ = to_http(exc)
        if self.responses:
            error = body["error"]
            payload = {"type": "error", "code": error["code"], "message": error["message"], "param": None}
            return f"event: error\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        stream = self.stream

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            stream.cancel("client disconnected")

        watcher = asyncio.create_task(watch())
        events = stream.__aiter__()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            try:
                async for event in events:
                    data = self.encode(event)
                    if data:
                        await send({"type": "http.response.body", "body": data, "more_body": True})
                tail = b"" if self.responses else b"data: [DONE]\n\n"
            except Exception as exc:  # the upstream broke mid-stream: say so in the stream
                tail = self.error_frame(exc)
            if not stream.stop_reason:
                await send({"type": "http.response.body", "body": tail, "more_body": False})
        except OSError:  # the client went away while we wrote
            stream.cancel("client disconnected")
        finally:
            watcher.cancel()
            await events.aclose()
            await stream.aclose()  # ends as cancelled if it had not ended
            if self.on_end is not None:
                result = self.on_end(stream.call)
                if asyncio.iscoroutine(result):
                    await result
