"""Drop-in `OpenAI` / `AsyncOpenAI`: the official SDK's surface, every call through the pipeline.

    client = unyo.OpenAI()                       # profile from env/.env/unyo.toml, else local
    r = client.responses.create(model="main", input="hi")
    unyo.call_info(r).attempts                   # what the guardrails did

`responses.create` (incl. stream=True), `chat.completions.create` (incl. streaming),
`embeddings.create`, `models.list`, `images.generate` and `audio.*.create` (priced by
`_money._media`) are guarded and return the SDK's own types (streams are
wrapped to add cancel/metadata and yield the SDK's own events). Anything else is passed through
to the underlying SDK client unguarded (`client.raw` names it explicitly).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import sys
import threading
from typing import Any

from unyo._client._defaults import default_pipeline
from unyo._core._call import Call
from unyo._core._config import Settings, load_settings
from unyo._core._pipeline import Pipeline
from unyo._types._call import CallInfo, Usage, attach
from unyo._types._redact import install_log_redaction

_notices_said: set[str] = set()
_notice_lock = threading.Lock()


def say_notices(settings: Settings) -> None:
    """Print configuration notices (e.g. "using the local model") once per process, on stderr."""
    for notice in settings.notices:
        with _notice_lock:
            if notice in _notices_said:
                continue
            _notices_said.add(notice)
        print(notice, file=sys.stderr)


def _sdk_client(settings: Settings, is_async: bool, sdk_options: dict[str, Any]) -> Any:
    import openai

    from unyo._types._errors import adopt_sdk_bases

    adopt_sdk_bases()  # `except openai.RateLimitError` now catches unyo's RateLimited

    options = dict(sdk_options)
    options["max_retries"] = 0  # unyo's retry loop is the only one
    key = settings.api_key.reveal() if settings.api_key else "unused"  # keyless local servers
    in_process = (
        None
        if "http_client" in options
        else settings.profile.http_client(settings.local_model, settings.local_ctx, is_async)
    )
    if in_process is not None:
        options["http_client"], base_url = in_process
    else:
        base_url = settings.base_url
    cls = openai.AsyncOpenAI if is_async else openai.OpenAI
    return cls(api_key=key, base_url=base_url, **options)


_OMITTED = ("Omit", "NotGiven")


def _given(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments the caller gave: the SDK's helpers fill the rest with `omit` / `not_given`."""
    return {k: v for k, v in kwargs.items() if type(v).__name__ not in _OMITTED}


def _lift_extra_body(method: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The SDK merges `extra_body` over the request body, so a key there that names one of the
    method's own arguments (model, input, messages, n, tools, stream, the output cap ...) would
    override what unyo priced and checked. Such keys become arguments, checked like any other."""
    from collections.abc import Mapping

    extra = kwargs.get("extra_body")
    if not isinstance(extra, Mapping):
        return kwargs
    known = _arguments(_unbound(method))
    kwargs = {**kwargs, **{k: v for k, v in extra.items() if k in known}}
    rest = {k: v for k, v in extra.items() if k not in known}
    if rest:
        kwargs["extra_body"] = rest
    else:
        kwargs.pop("extra_body")
    return kwargs


def _unbound(method: Any) -> Any:
    """The SDK's function behind a method, its raw-response wrapper or its bound instance: one
    object per SDK method, whichever client it was reached through."""
    import inspect

    inner = inspect.unwrap(method)
    return getattr(inner, "__func__", inner)


@functools.lru_cache(maxsize=256)
def _arguments(function: Any) -> frozenset[str]:
    """The named arguments of an SDK method (its signature, read once per method: the gateway
    lifts every request's body through here)."""
    import inspect

    return frozenset(inspect.signature(function).parameters) - {
        "self", "extra_headers", "extra_query", "extra_body", "timeout",
    }  # fmt: skip


class _Node:
    """The SDK's client or one of its resources, seen through unyo: each method resolves by its
    kind in `_surface` (guarded, stream helper, free, unpriced). `mode` is "plain", or "raw" /
    "streaming" under `with_raw_response` / `with_streaming_response`."""

    def __init__(self, client: _BaseClient, path: tuple[str, ...] = (), mode: str = "plain") -> None:
        self._client, self._path, self._mode = client, path, mode

    def _sdk(self) -> Any:
        target = self._client.raw
        for name in self._path:
            target = getattr(target, name)
        return target

    def __getattr__(self, name: str) -> Any:
        from openai._resource import AsyncAPIResource, SyncAPIResource

        from unyo._client._surface import classify

        if name.startswith("__"):
            raise AttributeError(name)
        if name in ("with_raw_response", "with_streaming_response"):
            if self._mode != "plain":  # the SDK's own wrapper object would be returned unguarded
                raise AttributeError(f"{name} under with_{self._mode}_response: unyo guards one wrapper at a time")
            return _Node(self._client, self._path, "raw" if name == "with_raw_response" else "streaming")
        plain = getattr(self._sdk(), name)
        if isinstance(plain, (SyncAPIResource, AsyncAPIResource)):
            return _Node(self._client, (*self._path, name), self._mode)
        if not callable(plain) or isinstance(plain, type):
            return plain
        path, client = (*self._path, name), self._client
        kind = classify(path)
        if kind == "free" and self._mode == "plain":
            from unyo._client._job_settle import settling

            return settling(client, path, plain)  # an ended fine-tuning job is settled when seen
        if kind == "free":
            return getattr(getattr(self._sdk(), f"with_{self._mode}_response"), name)
        if self._mode == "streaming":
            return functools.partial(
                client._refused,
                path,
                "with_streaming_response hands the body to the caller unread, so unyo "
                "cannot settle or audit it; use the method itself (stream=True for streams) or with_raw_response",
            )
        if kind == "guarded":
            return functools.partial(client._guarded, path, self._mode == "raw")
        if kind == "stream":
            return functools.partial(
                getattr(type(self._sdk()), name), _Node(client, self._path)
            )  # the SDK's helper, on our create
        return functools.partial(client._unpriced, path, self._mode == "raw")

    def __repr__(self) -> str:
        return f"<unyo guarded {'.'.join(self._path) or 'client'} ({self._mode})>"


class _BaseClient:
    _is_async = False

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        profile: str | None = None,
        model: str | None = None,
        settings: Settings | None = None,
        pipeline: Pipeline | None = None,
        max_retries: int | None = None,
        user: str | None = None,
        tag: str | None = None,
        **sdk_options: Any,
    ) -> None:
        install_log_redaction()
        overrides = {"max_attempts": max_retries + 1} if max_retries is not None else {}
        self.settings = settings or load_settings(
            profile=profile, api_key=api_key, base_url=base_url, model=model, **overrides
        )
        say_notices(self.settings)
        self.pipeline = pipeline or default_pipeline()
        self.raw = _sdk_client(self.settings, self._is_async, sdk_options)
        self.last_call: CallInfo | None = None
        self.user, self.tag = user, tag  # who budgets and reports charge; per call: unyo_user= / unyo_tag=

    def __getattr__(self, name: str) -> Any:
        """`client.responses`, `client.images`, `client.with_raw_response`, ...: the SDK's surface
        through unyo (see `_surface`); nothing reaches the SDK unclassified."""
        if name in ("raw", "settings", "pipeline") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(_Node(self), name)

    def with_options(self, **options: Any) -> Any:
        """A copy with other options, guarded like this one (the SDK's `with_options` / `copy`).
        `max_retries` and `timeout` become unyo's attempts and per-attempt timeouts."""
        clone = copy.copy(self)
        overrides: dict[str, Any] = {}
        if options.get("max_retries") is not None:
            overrides["max_attempts"] = int(options.pop("max_retries")) + 1
        options.pop("max_retries", None)
        if "timeout" in options:
            from unyo._core._call import request_timeout

            seconds = request_timeout(options.pop("timeout"))
            if seconds is not None:
                overrides["read_timeout_s"] = seconds
        if options.get("base_url"):
            overrides["base_url"] = str(options["base_url"])
        if overrides:
            clone.settings = self.settings.with_overrides(**overrides)
        if options:
            clone.raw = self.raw.with_options(**options, max_retries=0)
        return clone

    copy = with_options

    def __repr__(self) -> str:
        return f"<unyo.{type(self).__name__} profile={self.settings.profile.name} host={self.settings.host}>"

    def _prepare(self, api: str, kwargs: dict[str, Any], carry: Call | None = None) -> Call:
        try:
            call = self.pipeline.prepare(api, kwargs, self.settings, self.user, self.tag, carry)
        except Exception:
            self.last_call = None
            raise
        self.last_call = call.info
        return call

    def _settled(self, call: Call) -> None:
        self.pipeline.finish(call)

    def _method(self, path: tuple[str, ...]) -> tuple[Any, Any]:
        """(the SDK method to send with, through `with_raw_response` where it has one; whether it does)."""
        owner: Any = self.raw
        for name in path[:-1]:
            owner = getattr(owner, name)
        wrapped = getattr(getattr(owner, "with_raw_response", None), path[-1], None)
        return (wrapped, True) if wrapped is not None else (getattr(owner, path[-1]), False)

    def _guard_args(self, path: tuple[str, ...], raw: bool, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs = _lift_extra_body(self._method(path)[0], _given(kwargs))
        if raw and kwargs.get("stream"):
            self._refused(
                path,
                "with_raw_response.create(stream=True) hands the stream to the caller unread; "
                "use create(stream=True) (its .response has the headers)",
                **kwargs,
            )
        if raw or path[-1] == "parse":
            kwargs.setdefault("unyo_cache", "off")  # the cache keeps bodies, not raw responses or parsed types
        return kwargs

    def _refused(self, path: tuple[str, ...], why: str, **kwargs: Any) -> Any:
        """Refuse a call unyo cannot guard, with an audit record of the refusal."""
        from unyo._types._errors import BadRequest

        call = self._unpriced_call(path, _given(kwargs))
        error = BadRequest(f"{'.'.join(path)}: {why} (not sent)", call.error_context())
        call.info.error, call.info.error_message = type(error).__name__, str(error)
        call.end("failed")
        self._settled(call)
        raise error

    def _unpriced_call(self, path: tuple[str, ...], kwargs: dict[str, Any]) -> Call:
        from unyo._providers._catalog import ModelInfo

        params = {k: v for k, v in kwargs.items() if not k.startswith("unyo_")}
        model = str(params.get("model") or "")
        info = CallInfo(api=".".join(path), profile=self.settings.profile.name, host=self.settings.host, model=model,
                        user=kwargs.get("unyo_user") or self.user, tag=kwargs.get("unyo_tag") or self.tag)  # fmt: skip
        return Call(info.api, params, self.settings, info, model=ModelInfo(model), timeout_s=None)

    def _prepare_unpriced(self, path: tuple[str, ...], kwargs: dict[str, Any]) -> Call:
        """An SDK method unyo cannot price: refused while a budget is set (unless allow_unpriced),
        recorded in the audit log either way."""
        from unyo._client._surface import classify
        from unyo._money._budget import reserve_budget
        from unyo._money._fine_tuning import CREATE, reserve_training

        call = self._unpriced_call(path, _given(kwargs))
        if classify(path) == "recorded":  # nothing billed per request: allowed under a budget, audited
            call.request_free, call.info.budget = True, "not billed per request"
            return call
        try:
            reserve_training(call, kwargs) if call.api == CREATE else reserve_budget(call)
        except Exception as exc:
            call.info.error, call.info.error_message = type(exc).__name__, str(exc)
            call.end("failed")
            self._settled(call)
            raise
        return call

    def _deliver_unpriced(self, call: Call, result: Any, raw: bool) -> Any:
        self._settle_unpriced(call, result)
        self._settled(call)
        return _unpriced_result(call, result, raw)

    def _settle_unpriced(self, call: Call, result: Any) -> None:
        """What the call ends with, before it is settled."""
        try:
            call.info.usage = Usage.from_api(getattr(result, "usage", None))
        except (TypeError, ValueError, AttributeError):
            call.info.usage = None
        call.end("completed")
        if call.api == "fine_tuning.jobs.create":  # its hold now belongs to the job (_money._fine_tuning)
            from unyo._money._fine_tuning import keep_training_hold

            keep_training_hold(call, result)
        attach(result, call.info)

    def _abandoned(self, call: Call, exc: BaseException) -> None:
        """The call failed or was interrupted while sending: finish it (settle, audit) anyway."""
        _give_up(call, exc)
        self._settled(call)

    def _orphaned(self, call: Call) -> None:
        """Prepared for a caller that was cancelled meanwhile (async): release its hold, audit it."""
        self._abandoned(call, asyncio.CancelledError())

    def _deliver(self, call: Call, parsed: Any) -> Any:
        self._complete(call, parsed)
        self._settled(call)
        return parsed

    def _complete(self, call: Call, parsed: Any) -> None:
        """What the call ends with, before it is settled."""
        info = call.info
        if info.cache_hit:
            info.usage = Usage(0, 0, 0, 0)  # nothing billed; the object keeps the original usage
        else:
            info.usage = Usage.from_api(getattr(parsed, "usage", None))
        info.response_id = getattr(parsed, "id", None)
        if not info.cache_hit and getattr(parsed, "object", None) == "response":
            from unyo._providers._hosted_tools import count_calls

            info.tool_calls = count_calls(parsed.output)  # web_search_call / file_search_call: billed per call
        call.output_text = response_text(parsed)
        if call.quote and not info.cache_hit:  # Images / Audio: what the provider reported and returned
            call.quote.observe(parsed, call)
        call.end(
            "incomplete" if getattr(parsed, "status", None) == "incomplete" or _chat_truncated(parsed) else "completed"
        )
        attach(parsed, info)

    def _from_cache(self, call: Call) -> Any:
        from unyo._records._cache import revive

        return self._deliver(call, revive(call.api, call.cached_body or {}))


def _unpriced_result(call: Call, result: Any, raw: bool) -> Any:
    if raw and call.raw_response is not None:
        attach(call.raw_response, call.info)
        return call.raw_response
    return result


def _give_up(call: Call, exc: BaseException) -> None:
    info = call.info
    if info.status != "failed":  # send() already ended a call it gave up on
        cancelled = not isinstance(exc, Exception) or info.status == "cancelled"
        info.error = info.error or type(exc).__name__
        call.end("cancelled" if cancelled else "failed")
    info.error_message = info.error_message or str(exc)


def response_text(parsed: Any) -> str | None:
    """The text of a Responses or Chat Completions result (None for other results)."""
    if getattr(parsed, "object", None) == "response":
        return str(parsed.output_text)
    choices = getattr(parsed, "choices", None)
    if choices:
        return getattr(choices[0].message, "content", None)
    return None


def _chat_truncated(parsed: Any) -> bool:
    choices = getattr(parsed, "choices", None) or []
    return bool(choices) and getattr(choices[0], "finish_reason", None) == "length"


class OpenAI(_BaseClient):
    """Drop-in for `openai.OpenAI` with unyo's guardrails. Extra keyword-only arguments:
    `profile`, `model` (default model or role), `settings`, `pipeline`, `user` and `tag`
    (who and what budgets and reports charge; per call: `unyo_user=`, `unyo_tag=`)."""

    def _guarded(self, path: tuple[str, ...], raw: bool, **kwargs: Any) -> Any:
        from unyo._client._surface import GUARDED

        method, _ = self._method(path)
        return self._run(GUARDED[path], method, self._guard_args(path, raw, kwargs), raw)

    def _run(self, api: str, method: Any, kwargs: dict[str, Any], raw: bool = False) -> Any:
        from unyo._core._send import send
        from unyo._core._stream import GuardedStream

        call = self._prepare(api, kwargs)
        if call.cached_body is not None:
            return self._from_cache(call)
        try:
            parsed = send(call, method)
        except BaseException as exc:
            self._abandoned(call, exc)
            raise
        if call.stream:
            return GuardedStream(parsed, call, self._settled)
        delivered = self._deliver(call, parsed)
        if raw:
            attach(call.raw_response, call.info)
            return call.raw_response
        return delivered

    def _unpriced(self, path: tuple[str, ...], raw: bool, *args: Any, **kwargs: Any) -> Any:
        from unyo._client._training_file import counted
        from unyo._core._send import send

        kwargs = counted(self, path, _given(kwargs))  # a fine-tuning job: what it trains on, read
        call = self._prepare_unpriced(path, kwargs)  # positional arguments: raw HTTP (client.post(path, ...))
        method, wrapped = self._method(path)
        try:
            if wrapped:
                result = send(call, lambda **p: method(*args, **p))
            else:
                result = method(*args, **call.params)
        except BaseException as exc:
            self._abandoned(call, exc)
            raise
        return self._deliver_unpriced(call, result, raw)

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> OpenAI:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncOpenAI(_BaseClient):
    """Drop-in for `openai.AsyncOpenAI`; the same pipeline, awaited. The pipeline's steps and
    finishers (budget reservation, cache, settle, audit: database transactions) run in a bounded
    thread pool (`_core._offload`), so no storage call blocks the event loop."""

    _is_async = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from unyo._core._offload import start

        super().__init__(*args, **kwargs)
        start()

    async def _guarded(self, path: tuple[str, ...], raw: bool, **kwargs: Any) -> Any:
        from unyo._client._surface import GUARDED

        method, _ = self._method(path)
        return await self._run(GUARDED[path], method, self._guard_args(path, raw, kwargs), raw)

    async def _run(self, api: str, method: Any, kwargs: dict[str, Any], raw: bool = False) -> Any:
        from unyo._core._offload import offload
        from unyo._core._send import asend
        from unyo._core._stream import AsyncGuardedStream

        call = await offload(self._prepare, api, kwargs, orphan=self._orphaned)
        if call.cached_body is not None:
            return await self._afrom_cache(call)
        try:
            parsed = await asend(call, method)
        except BaseException as exc:
            await self._aabandoned(call, exc)
            raise
        if call.stream:
            return AsyncGuardedStream(parsed, call, self._settled)
        delivered = await self._adeliver(call, parsed)
        if raw:
            attach(call.raw_response, call.info)
            return call.raw_response
        return delivered

    async def _unpriced(self, path: tuple[str, ...], raw: bool, *args: Any, **kwargs: Any) -> Any:
        import inspect

        from unyo._client._training_file import acounted
        from unyo._core._offload import offload
        from unyo._core._send import asend

        kwargs = await acounted(self, path, _given(kwargs))
        call = await offload(self._prepare_unpriced, path, kwargs, orphan=self._orphaned)
        method, wrapped = self._method(path)
        try:
            if wrapped:
                result = await asend(call, lambda **p: method(*args, **p))
            else:
                result = method(*args, **call.params)
                if inspect.isawaitable(result):
                    result = await result
        except BaseException as exc:
            await self._aabandoned(call, exc)
            raise
        await offload(self._settle_unpriced, call, result)  # a fine-tuning job's hold moves in the ledger
        await self._asettled(call)
        return _unpriced_result(call, result, raw)

    async def _asettled(self, call: Call) -> None:
        from unyo._core._offload import offload

        await offload(self._settled, call)

    async def _aabandoned(self, call: Call, exc: BaseException) -> None:
        _give_up(call, exc)
        await self._asettled(call)

    async def _adeliver(self, call: Call, parsed: Any) -> Any:
        self._complete(call, parsed)
        await self._asettled(call)
        return parsed

    async def _afrom_cache(self, call: Call) -> Any:
        from unyo._records._cache import revive

        return await self._adeliver(call, revive(call.api, call.cached_body or {}))

    async def close(self) -> None:
        await self.raw.close()

    async def __aenter__(self) -> AsyncOpenAI:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
