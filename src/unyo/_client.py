"""Drop-in `OpenAI` / `AsyncOpenAI`: the official SDK's surface, every call through the pipeline.

    client = unyo.OpenAI()                       # profile from env/.env/unyo.toml, else local
    r = client.responses.create(model="main", input="hi")
    unyo.call_info(r).attempts                   # what the guardrails did

`responses.create` (incl. stream=True), `chat.completions.create` (incl. streaming),
`embeddings.create` and `models.list` are guarded and return the SDK's own types (streams are
wrapped to add cancel/metadata and yield the SDK's own events). Anything else is passed through
to the underlying SDK client unguarded (`client.raw` names it explicitly).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from unyo._call import CallInfo, Usage, attach
from unyo._config import Settings, load_settings
from unyo._pipeline import Call, Pipeline
from unyo._redact import install_log_redaction

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

    from unyo._errors import adopt_sdk_bases

    adopt_sdk_bases()  # `except openai.RateLimitError` now catches unyo's RateLimited

    options = dict(sdk_options)
    options["max_retries"] = 0  # unyo's retry loop is the only one
    key = settings.api_key.reveal() if settings.api_key else "unused"  # keyless local servers
    if settings.profile.local and "http_client" not in options:
        import httpx2

        from unyo._local._transport import LOCAL_BASE_URL, AsyncLocalTransport, LocalTransport

        transport = (AsyncLocalTransport if is_async else LocalTransport)(settings.local_model, settings.local_ctx)
        options["http_client"] = (httpx2.AsyncClient if is_async else httpx2.Client)(transport=transport)
        base_url = LOCAL_BASE_URL
    else:
        base_url = settings.base_url
    cls = openai.AsyncOpenAI if is_async else openai.OpenAI
    return cls(api_key=key, base_url=base_url, **options)


class _Resource:
    """One guarded SDK resource (e.g. `responses`). Unguarded methods pass through."""

    def __init__(self, client: _BaseClient, api: str, path: tuple[str, ...], method: str = "create") -> None:
        self._client, self._api, self._path, self._method = client, api, path, method

    def _sdk(self) -> Any:
        target = self._client.raw
        for name in self._path:
            target = getattr(target, name)
        return target

    def _guarded(self, **kwargs: Any) -> Any:
        return self._client._run(self._api, getattr(self._sdk().with_raw_response, self._method), kwargs)

    def __getattr__(self, name: str) -> Any:
        if name == self._method:
            return self._guarded
        return getattr(self._sdk(), name)


class _Chat:
    def __init__(self, client: _BaseClient) -> None:
        self.completions = _Resource(client, "chat", ("chat", "completions"))
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client.raw.chat, name)


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
        self.settings = settings or load_settings(profile=profile, api_key=api_key, base_url=base_url, model=model, **overrides)
        say_notices(self.settings)
        self.pipeline = pipeline or Pipeline()
        self.raw = _sdk_client(self.settings, self._is_async, sdk_options)
        self.responses = _Resource(self, "responses", ("responses",))
        self.chat = _Chat(self)
        self.embeddings = _Resource(self, "embeddings", ("embeddings",))
        self.models = _Resource(self, "models", ("models",), method="list")
        self.last_call: CallInfo | None = None
        self.user, self.tag = user, tag  # who budgets and reports charge; per call: unyo_user= / unyo_tag=

    def __getattr__(self, name: str) -> Any:
        if name in ("raw", "settings"):
            raise AttributeError(name)
        return getattr(self.raw, name)

    def __repr__(self) -> str:
        return f"<unyo.{type(self).__name__} profile={self.settings.profile.name} host={self.settings.host}>"

    def _prepare(self, api: str, kwargs: dict[str, Any]) -> Call:
        try:
            call = self.pipeline.prepare(api, kwargs, self.settings, self.user, self.tag)
        except Exception:
            self.last_call = None
            raise
        self.last_call = call.info
        return call

    def _settled(self, call: Call) -> None:
        self.pipeline.finish(call)

    def _abandoned(self, call: Call, exc: BaseException) -> None:
        """The call failed or was interrupted while sending: finish it (settle, audit) anyway."""
        info = call.info
        if info.status != "failed":  # send() already ended a call it gave up on
            cancelled = not isinstance(exc, Exception) or info.status == "cancelled"
            info.error = info.error or type(exc).__name__
            call.end("cancelled" if cancelled else "failed")
        info.error_message = info.error_message or str(exc)
        self._settled(call)

    def _deliver(self, call: Call, parsed: Any) -> Any:
        info = call.info
        if info.cache_hit:
            info.usage = Usage(0, 0, 0, 0)  # nothing billed; the object keeps the original usage
        else:
            info.usage = Usage.from_api(getattr(parsed, "usage", None))
        info.response_id = getattr(parsed, "id", None)
        call.output_text = response_text(parsed)
        call.end("incomplete" if getattr(parsed, "status", None) == "incomplete" or _chat_truncated(parsed) else "completed")
        attach(parsed, info)
        self._settled(call)
        return parsed

    def _from_cache(self, call: Call) -> Any:
        from unyo._cache import revive

        return self._deliver(call, revive(call.api, call.cached_body or {}))


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

    def _run(self, api: str, method: Any, kwargs: dict[str, Any]) -> Any:
        from unyo._send import send
        from unyo._stream import GuardedStream

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
        return self._deliver(call, parsed)

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> OpenAI:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncOpenAI(_BaseClient):
    """Drop-in for `openai.AsyncOpenAI`; the same pipeline, awaited."""

    _is_async = True

    async def _run(self, api: str, method: Any, kwargs: dict[str, Any]) -> Any:
        from unyo._send import asend
        from unyo._stream import AsyncGuardedStream

        call = self._prepare(api, kwargs)
        if call.cached_body is not None:
            return self._from_cache(call)
        try:
            parsed = await asend(call, method)
        except BaseException as exc:
            self._abandoned(call, exc)
            raise
        if call.stream:
            return AsyncGuardedStream(parsed, call, self._settled)
        return self._deliver(call, parsed)

    async def close(self) -> None:
        await self.raw.close()

    async def __aenter__(self) -> AsyncOpenAI:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
