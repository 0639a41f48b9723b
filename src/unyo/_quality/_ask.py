"""A small convenience API for scripts: `unyo.ask(...)` and `unyo.stream(...)`, and their async
twins `unyo.aask(...)` and `unyo.astream(...)` (on AsyncOpenAI; see `_flow`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from unyo._client._openai import AsyncOpenAI, OpenAI, response_text
from unyo._core._stream import AsyncTextStream, CancelToken, TextStream
from unyo._quality._flow import Blocking, Create, Flow, arun, default_async_client, run
from unyo._types._call import CallInfo, Usage, attach
from unyo._types._money_text import money_text

_clients: dict[tuple[Any, ...], OpenAI] = {}
_lock = threading.Lock()


def default_client(profile: str | None = None) -> OpenAI:
    """One client per profile per process, built on first use (settings read then)."""
    key = (profile,)
    with _lock:
        if key not in _clients:
            _clients[key] = OpenAI(profile=profile)
        return _clients[key]


@dataclass
class Answer:
    text: str
    model: str
    provider: str
    status: str  # completed | incomplete (the output cap cut it)
    usage: Usage | None
    call: CallInfo
    response_id: str | None = None
    request_id: str | None = None

    @property
    def calls(self) -> list[CallInfo]:
        return [self.call]

    @property
    def cost_usd(self) -> Decimal | None:
        return self.call.cost_usd

    def __str__(self) -> str:
        return self.text

    @classmethod
    def of(cls, text: str, info: CallInfo) -> Answer:
        answer = cls(text, info.model, info.profile, info.status, info.usage, info, info.response_id, info.request_id)
        attach(answer, info)
        return answer

    def to_dict(self) -> dict[str, Any]:
        usage = self.usage
        return {
            "text": self.text,
            "model": self.model,
            "provider": self.provider,
            "status": self.status,
            "usage": None
            if usage is None
            else {
                "input_tokens": usage.input_tokens,
                "cached_input_tokens": usage.cached_input_tokens,
                "output_tokens": usage.output_tokens,
                "reasoning_tokens": usage.reasoning_tokens,
                "total_tokens": usage.total_tokens,
                "reported": usage.reported,
            },
            "attempts": self.call.attempts,
            "attempt_log": [{**vars(a), "cost_usd": money_text(a.cost_usd)} for a in self.call.attempt_log],
            "latency_s": self.call.latency_s,
            "ttft_s": self.call.ttft_s,
            "request_id": self.request_id,
            "response_id": self.response_id,
            "role": self.call.role,
            "max_output_tokens": self.call.max_output_tokens,
            "input_tokens_counted": self.call.input_tokens,
            "input_tokens_bound": self.call.input_tokens_bound,  # True: an upper bound (UTF-8 bytes), not a count
            "cost_usd": money_text(self.call.cost_usd),
            "worst_case_usd": money_text(self.call.worst_case_usd),
            "budget": self.call.budget,
            "budget_warning": self.call.budget_warning,
            "cache_hit": self.call.cache_hit,
            "call_id": self.call.call_id,
        }


def build_request(
    api: Literal["responses", "chat"],
    turns: str | list[dict[str, str]],
    *,
    model: str | None,
    system: str | None,
    max_output_tokens: int | None,
    temperature: float | None,
    stream: bool,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """A prompt, or a conversation's turns, as kwargs for either API (system text stays first
    so provider prompt caching works)."""
    if api == "responses":
        params: dict[str, Any] = {"input": turns}
        if system:
            params["instructions"] = system
        if max_output_tokens:
            params["max_output_tokens"] = max_output_tokens
    else:
        history = [{"role": "user", "content": turns}] if isinstance(turns, str) else list(turns)
        params = {"messages": ([{"role": "system", "content": system}] if system else []) + history}
        if max_output_tokens:
            params["max_tokens"] = max_output_tokens
    if model:
        params["model"] = model
    if temperature is not None:
        params["temperature"] = temperature
    if stream:
        params["stream"] = True
    return {**params, **extra}


def _api_for(client: OpenAI, api: str | None) -> Literal["responses", "chat"]:
    chosen = api or client.settings.profile.api
    if chosen not in ("responses", "chat"):
        raise ValueError(f"api must be 'responses' or 'chat', got {chosen!r}")
    return chosen  # type: ignore[return-value]


def _create(client: OpenAI, api: str, params: dict[str, Any]) -> Any:
    return client.responses.create(**params) if api == "responses" else client.chat.completions.create(**params)


def ask_flow(
    client: Any,
    prompt: str | list[dict[str, Any]],
    *,
    model: str | None = None,
    system: str | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    api: str | None = None,
    images: Sequence[Any] = (),
    image_detail: str = "auto",
    **extra: Any,
) -> Flow[Answer]:
    """ask's body, for either client (see `_flow`)."""
    which = _api_for(client, api)
    if images:  # files read, checked and scaled off the event loop
        from unyo._quality._image_input import with_images

        if not isinstance(prompt, str):
            raise ValueError("images= goes with a prompt text; put image parts in the turns yourself otherwise")
        target = client.settings.profile.resolve_model(str(model or client.settings.model))[0]
        hosts = client.settings.image_hosts
        prompt = yield Blocking(with_images, which, prompt, list(images), target, image_detail, hosts, io=False)
    params = build_request(
        which,
        prompt,
        model=model,
        system=system,
        max_output_tokens=max_output_tokens,
        temperature=temperature,
        stream=False,
        extra=extra,
    )
    response = yield Create(which, params)
    return Answer.of(response_text(response) or "", response._unyo_call)


def ask(
    prompt: str | list[dict[str, Any]],
    *,
    model: str | None = None,
    system: str | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    api: Literal["responses", "chat"] | None = None,
    profile: str | None = None,
    client: OpenAI | None = None,
    images: Sequence[Any] = (),
    image_detail: str = "auto",
    **extra: Any,
) -> Answer:
    """Ask once (a prompt, or a list of turns) and get an Answer (text, usage, attempts, ids).
    `model` may be a role. `images`: local files or http(s) URLs sent with the prompt
    (`image_detail` low / high / auto); their tokens are counted and reserved before sending."""
    client = client or default_client(profile)
    return run(
        ask_flow(
            client,
            prompt,
            model=model,
            system=system,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            api=api,
            images=images,
            image_detail=image_detail,
            **extra,
        ),
        client,
    )


async def aask(
    prompt: str | list[dict[str, Any]],
    *,
    model: str | None = None,
    system: str | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    api: Literal["responses", "chat"] | None = None,
    profile: str | None = None,
    client: AsyncOpenAI | None = None,
    images: Sequence[Any] = (),
    image_detail: str = "auto",
    **extra: Any,
) -> Answer:
    """The async twin of `ask`, on an AsyncOpenAI (`client`, else one per profile per loop)."""
    client = client or default_async_client(profile)
    return await arun(
        ask_flow(
            client,
            prompt,
            model=model,
            system=system,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            api=api,
            images=images,
            image_detail=image_detail,
            **extra,
        ),
        client,
    )


def stream(
    prompt: str | list[dict[str, str]],
    *,
    model: str | None = None,
    system: str | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    api: Literal["responses", "chat"] | None = None,
    profile: str | None = None,
    client: OpenAI | None = None,
    cancel: CancelToken | None = None,
    on_delta: Any = None,
    max_chars: int | None = None,
    max_seconds: float | None = None,
    on_close: Any = None,
    **extra: Any,
) -> TextStream:
    """Stream text deltas for a prompt (or a list of turns). Stop with `cancel` (a CancelToken, from any thread),
    `on_delta` returning False, `max_chars`, `max_seconds`, Ctrl-C, or `.cancel()`; see `.result`.
    `on_close(text_stream)` runs once when the stream ends, however it ended."""
    client = client or default_client(profile)
    which = _api_for(client, api)
    params = build_request(
        which,
        prompt,
        model=model,
        system=system,
        max_output_tokens=max_output_tokens,
        temperature=temperature,
        stream=True,
        extra=extra,
    )
    return TextStream(
        _create(client, which, params),
        cancel=cancel,
        on_delta=on_delta,
        max_chars=max_chars,
        max_seconds=max_seconds,
        on_close=on_close,
    )


async def astream(
    prompt: str | list[dict[str, str]],
    *,
    model: str | None = None,
    system: str | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    api: Literal["responses", "chat"] | None = None,
    profile: str | None = None,
    client: AsyncOpenAI | None = None,
    cancel: CancelToken | None = None,
    on_delta: Any = None,
    max_chars: int | None = None,
    max_seconds: float | None = None,
    on_close: Any = None,
    **extra: Any,
) -> AsyncTextStream:
    """The async twin of `stream`: `s = await unyo.astream(...)`, then `async for delta in s`
    (or `await s.until_done()`); the same stops, settled off the event loop."""
    client = client or default_async_client(profile)
    which = _api_for(client, api)
    params = build_request(
        which,
        prompt,
        model=model,
        system=system,
        max_output_tokens=max_output_tokens,
        temperature=temperature,
        stream=True,
        extra=extra,
    )
    guarded = await (
        client.responses.create(**params) if which == "responses" else client.chat.completions.create(**params)
    )
    return AsyncTextStream(
        guarded, cancel=cancel, on_delta=on_delta, max_chars=max_chars, max_seconds=max_seconds, on_close=on_close
    )
