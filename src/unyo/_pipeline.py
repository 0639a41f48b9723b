"""The call pipeline: small steps run in order before a request is sent.

    resolve model -> validate -> apply output cap -> count input tokens -> check context window
    -> check cache -> reserve budget -> rate limit      then send with retry (or serve the cache hit)
    finishers: store in cache -> settle (cost, release the hold, audit record: one transaction)

A call refused by a step (budget, context window, bad request) is still finished, so it is
audited like any other.

Each step is a plain function `step(call) -> None` that reads and amends `call.params` /
`call.info` or raises an UnyoError. A client composes a Pipeline; the steps know nothing of
sync/async or of the transport, and each is testable alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from unyo._budget import reserve_budget
from unyo._cache import check_cache, store_in_cache
from unyo._call import CallInfo
from unyo._catalog import ModelInfo, model_info
from unyo._config import Settings
from unyo._errors import BadRequest, ContextTooLong, ErrorContext
from unyo._ledger import settle
from unyo._limiter import limiter_for
from unyo._tokens import BYTE_BOUND, Counter, bpe_counter, count_input

CONTENT_APIS = ("responses", "chat")


@dataclass
class Call:
    api: str  # "responses" | "chat" | "embeddings" | "models"
    params: dict[str, Any]  # exactly what will be sent to the SDK
    settings: Settings
    info: CallInfo
    model: ModelInfo = field(default_factory=lambda: ModelInfo(""))
    began: float = field(default_factory=time.monotonic)  # when the pipeline took the call
    periods: dict[str, str] | None = None  # the budget periods the call is charged to
    reserved_usd: Decimal | None = None
    cache_mode: str | None = None  # None (settings decide) | "off" | "force"
    cache_key: str | None = None
    cached_body: dict[str, Any] | None = None  # a cache hit: the stored response
    response_body: str | None = None  # the response as JSON, kept only when it will be cached
    output_text: str | None = None  # what the model said (for the audit log's content policy)
    prior_tokens: int = 0  # context the provider adds from its own state (previous_response_id, conversation)
    settle_once: bool = False  # a replayed batch answer: its id may already be in the ledger
    timeout_s: float | None = None  # the caller's per-request `timeout=`: caps each attempt
    raw_response: Any = None  # the SDK's raw response of the successful attempt

    def end(self, status: str) -> None:
        """Mark the call finished: status and latency (limiter wait, attempts and waits included)."""
        self.info.status = status  # type: ignore[assignment]
        self.info.latency_s = time.monotonic() - self.began

    @property
    def stream(self) -> bool:
        return bool(self.params.get("stream"))

    def error_context(self) -> ErrorContext:
        return ErrorContext(provider=self.info.profile, host=self.info.host, model=self.info.model, attempts=len(self.info.attempts))


Step = Callable[[Call], None]


def _refuse(call: Call, message: str) -> BadRequest:
    return BadRequest(message, call.error_context())


def resolve_model(call: Call) -> None:
    """Turn a role (`main`, `premium`, `bulk`, ...) into the profile's model id."""
    if call.api == "models":
        return
    name = call.params.get("model") or call.settings.model
    model_id, role = call.settings.profile.resolve_model(str(name))
    call.params["model"] = model_id
    call.info.model, call.info.role = model_id, role
    call.model = model_info(model_id, call.settings.models)


def validate(call: Call) -> None:
    p = call.params
    if call.api == "responses" and not (p.get("input") or p.get("previous_response_id") or p.get("conversation") or p.get("prompt")):
        raise _refuse(call, "responses.create needs `input` (or previous_response_id / conversation / prompt)")
    if call.api == "chat":
        messages = p.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) and m.get("role") for m in messages):
            raise _refuse(call, "chat.completions.create needs `messages`: a non-empty list of {role, content}")
    if call.api == "embeddings" and not p.get("input"):
        raise _refuse(call, "embeddings.create needs `input`")
    temperature = p.get("temperature")
    if temperature is not None and not (isinstance(temperature, (int, float)) and 0 <= temperature <= 2):
        raise _refuse(call, f"temperature must be a number from 0 to 2, got {temperature!r}")


_CAP_KEYS = ("max_output_tokens", "max_completion_tokens", "max_tokens")


def _cap_key(call: Call) -> str:
    return "max_output_tokens" if call.api == "responses" else call.settings.profile.chat_cap_param


def apply_output_cap(call: Call) -> None:
    """Always send an output cap: the caller's, else UNYO_MAX_OUTPUT_TOKENS, never above the
    model's own maximum. Without it a single call's cost has no upper bound."""
    if call.api not in CONTENT_APIS:
        return
    extra = call.params.get("extra_body")
    if isinstance(extra, dict) and any(k in extra for k in _CAP_KEYS):  # the SDK lets extra_body override the body
        extra = dict(extra)
        for key in _CAP_KEYS:
            if key in extra:
                call.params[key] = extra.pop(key)
        call.params["extra_body"] = extra
    given = [call.params[k] for k in ("max_output_tokens", "max_completion_tokens", "max_tokens") if call.params.get(k) is not None]
    cap = given[0] if given else call.settings.max_output_tokens
    if not isinstance(cap, int) or isinstance(cap, bool) or cap <= 0:
        raise _refuse(call, f"the output cap must be a positive integer, got {cap!r}")
    if call.model.max_output and cap > call.model.max_output:
        if given:
            raise _refuse(call, f"output cap {cap} exceeds {call.info.model}'s maximum output of {call.model.max_output} tokens")
        cap = call.model.max_output
    for key in ("max_output_tokens", "max_completion_tokens", "max_tokens"):
        call.params.pop(key, None)
    call.params[_cap_key(call)] = cap
    call.info.max_output_tokens = cap
    if call.api == "chat" and call.stream and call.settings.profile.stream_usage:
        call.params.setdefault("stream_options", {"include_usage": True})


def model_counter(settings: Settings, model: ModelInfo) -> Counter:
    """The tokenizer that counts input for `model` on this profile (the local model's own, else BPE)."""
    if settings.profile.local:
        from unyo._local._model import get_model

        return get_model(settings.local_model, settings.local_ctx)
    return bpe_counter(model.tokenizer if model.tokenizer and model.tokenizer != "local" else "o200k_base")


def counter_for(call: Call) -> Counter:
    return model_counter(call.settings, call.model)


def count_input_tokens(call: Call) -> None:
    """An upper bound on the input (UTF-8 bytes) for BPE models, the exact count on the local
    model (its tokenizer is loaded anyway). `count_exactly` refines a bound near a limit."""
    if call.api == "models":
        return
    local = call.settings.profile.local
    counter = counter_for(call) if local else BYTE_BOUND
    call.info.input_tokens = count_input(call.api, call.params, counter) + call.prior_tokens
    call.info.input_tokens_exact = local or call.model.exact_count
    call.info.input_tokens_bound = not local


def count_exactly(call: Call) -> bool:
    """Replace a byte bound by the tokenizer's count. False if the count was already exact."""
    if not call.info.input_tokens_bound or call.info.input_tokens is None:
        return False
    call.info.input_tokens = count_input(call.api, call.params, counter_for(call)) + call.prior_tokens
    call.info.input_tokens_bound = False
    return True


def check_context_window(call: Call) -> None:
    """Refuse, before sending, a request that cannot fit: input + output cap > context window."""
    window = call.model.context_window
    if call.settings.profile.local:
        window = counter_for(call).context_window  # type: ignore[attr-defined]
    if not window or call.info.input_tokens is None:
        return
    needed = call.info.input_tokens + (call.info.max_output_tokens or 0)
    if needed > window and count_exactly(call):
        needed = call.info.input_tokens + (call.info.max_output_tokens or 0)
    if needed > window:
        ctx = call.error_context()
        raise ContextTooLong(
            f"{call.info.input_tokens} input tokens + {call.info.max_output_tokens or 0} output cap = {needed} "
            f"exceeds {call.info.model}'s context window of {window} tokens (not sent)",
            ctx,
        )


def rate_limit(call: Call) -> None:
    """Reserve capacity in the profile's client-side RPM/TPM limiter; the sender waits."""
    if call.info.cache_hit:
        return
    profile = call.settings.profile
    limiter = limiter_for(profile.name, profile.rpm, profile.tpm)
    if limiter is not None:
        choices = max(1, int(call.params.get("n") or 1)) if call.api == "chat" else 1
        call.info.limiter_wait_s = limiter.reserve((call.info.input_tokens or 0) + (call.info.max_output_tokens or 0) * choices)


SHAPING_STEPS: tuple[Step, ...] = (resolve_model, validate, apply_output_cap, count_input_tokens, check_context_window)  # the request as sent
DEFAULT_STEPS: tuple[Step, ...] = (*SHAPING_STEPS, check_cache, reserve_budget, rate_limit)
DEFAULT_FINISHERS: tuple[Step, ...] = (store_in_cache, settle)


def _seconds(timeout: Any) -> float | None:
    """A per-request `timeout=` (seconds, or an httpx Timeout: its read timeout)."""
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return float(timeout)
    read = getattr(timeout, "read", None)
    return float(read) if isinstance(read, (int, float)) else None


class Pipeline:
    """An ordered list of steps before sending and of finishers after the call settles."""

    def __init__(self, steps: Sequence[Step] = DEFAULT_STEPS, finishers: Sequence[Callable[[Call], None]] = DEFAULT_FINISHERS) -> None:
        self.steps = tuple(steps)
        self.finishers = tuple(finishers)

    def prepare(self, api: str, kwargs: dict[str, Any], settings: Settings, user: str | None = None, tag: str | None = None) -> Call:
        """Run the steps. unyo's own per-call options are taken out of the SDK keyword arguments:
        `unyo_user`, `unyo_tag` (budgets and reports), `unyo_cache` ("off" | "force"),
        `unyo_prior_tokens` (tokens of provider-side context: previous_response_id / conversation)."""
        params = dict(kwargs)
        user = params.pop("unyo_user", None) or user or params.get("safety_identifier") or params.get("user")
        tag = params.pop("unyo_tag", None) or tag
        cache_mode = params.pop("unyo_cache", None)
        prior = int(params.pop("unyo_prior_tokens", 0) or 0)
        timeout = params.pop("timeout", None)
        info = CallInfo(api=api, profile=settings.profile.name, host=settings.host, model="", stream=bool(params.get("stream")), user=user, tag=tag)
        call = Call(api, params, settings, info, cache_mode=cache_mode, prior_tokens=prior, timeout_s=_seconds(timeout))
        try:
            for step in self.steps:
                step(call)
        except Exception as exc:  # refused before sending: still finished, so still audited
            info.error = type(exc).__name__
            info.error_message = str(exc)
            call.end("failed")
            self.finish(call)
            raise
        return call

    def finish(self, call: Call) -> None:
        for finisher in self.finishers:
            finisher(call)
