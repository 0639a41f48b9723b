"""The high-level functions' orchestration, written once and run either way.

A flow is a generator: it yields what it needs done and receives the result (or the exception,
thrown in at the yield):

    Create(api, params)         a guarded model call through the client -> the SDK's response
    Method(path, kwargs)        another client method, e.g. ("conversations", "create")
    Blocking(fn, *args, io=)    blocking work: storage (io=True: the bounded pool of
                                `_core._offload`) or anything else (tools: a plain thread)

`run(flow, client)` drives it with `unyo.OpenAI`; `arun(flow, client)` awaits it with
`unyo.AsyncOpenAI`, so `unyo.ask` and `unyo.aask` (and every other pair) share one body and
differ only in how each step is carried out: nothing blocking ever runs on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from unyo._types._errors import ConfigError

T = TypeVar("T")


@dataclass
class Create:
    api: str  # "responses" | "chat"
    params: dict[str, Any]


@dataclass
class Method:
    path: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


class Blocking:
    def __init__(self, fn: Callable[..., Any], *args: Any, io: bool = True, **kwargs: Any) -> None:
        self.fn = functools.partial(fn, *args, **kwargs) if args or kwargs else fn
        self.io = io


Effect = Create | Method | Blocking
Flow = Generator[Effect, Any, T]


def _is_async(client: Any) -> bool:
    return bool(getattr(client, "_is_async", False))


def _method(client: Any, path: tuple[str, ...]) -> Any:
    target = client
    for name in path:
        target = getattr(target, name)
    return target


def _create_method(client: Any, api: str) -> Any:
    return client.responses.create if api == "responses" else client.chat.completions.create


def run(flow: Flow[T], client: Any) -> T:
    """Drive `flow` with a sync client."""
    if _is_async(client):
        flow.close()
        raise ConfigError(
            "this is the sync API and the client is an AsyncOpenAI: await the a-prefixed twin (unyo.aask, ...)"
        )
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            if isinstance(effect, Create):
                value = _create_method(client, effect.api)(**effect.params)
            elif isinstance(effect, Method):
                value = _method(client, effect.path)(**effect.kwargs)
            else:
                value = effect.fn()
        except Exception as exc:  # noqa: BLE001 - back into the flow, which may handle it
            error = exc


async def arun(flow: Flow[T], client: Any) -> T:
    """Drive `flow` with an AsyncOpenAI: calls awaited, blocking work off the loop."""
    from unyo._core._offload import offload

    if not _is_async(client):
        flow.close()
        raise ConfigError("this is the async API and the client is a sync OpenAI: pass client=unyo.AsyncOpenAI(...)")
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            if isinstance(effect, Create):
                value = await _create_method(client, effect.api)(**effect.params)
            elif isinstance(effect, Method):
                value = _method(client, effect.path)(**effect.kwargs)
                if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
                    value = await value
            elif effect.io:
                value = await offload(effect.fn)
            else:
                value = await asyncio.to_thread(effect.fn)
        except Exception as exc:  # noqa: BLE001 - back into the flow, which may handle it
            error = exc


_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, Any]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def default_async_client(profile: str | None = None) -> Any:
    """One AsyncOpenAI per profile per event loop (an async HTTP pool belongs to its loop)."""
    from unyo._client._openai import AsyncOpenAI

    loop = asyncio.get_running_loop()
    with _lock:
        clients = _async_clients.setdefault(loop, {})
        if profile not in clients:
            clients[profile] = AsyncOpenAI(profile=profile)
        return clients[profile]
