"""Send with retry: the one retry loop (the SDK's own retries are off), in a sync and an async
flavour that share everything but the sleeping. Every attempt is recorded on the call."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import openai

from unyo._core._call import Call
from unyo._core._retry import RetryPolicy
from unyo._types._call import Attempt
from unyo._types._errors import APITimeout, UnyoError, from_sdk

RETRYABLE_SOURCES = (openai.OpenAIError, httpx2.HTTPError, json.JSONDecodeError)


def policy_for(call: Call) -> RetryPolicy:
    s = call.settings
    return RetryPolicy(s.max_attempts, s.deadline_s, s.backoff_base_s, s.backoff_max_s, s.retry_after_cap_s)


def attempt_timeout(call: Call, remaining: float) -> httpx2.Timeout:
    """Per-attempt timeouts, never past the call's total deadline. For streams the read timeout
    is the idle timeout between chunks."""
    s = call.settings
    read = min(s.stream_idle_s if call.stream else s.read_timeout_s, remaining, call.timeout_s or remaining)
    return httpx2.Timeout(
        connect=min(s.connect_timeout_s, remaining), read=read, write=read, pool=min(s.connect_timeout_s, remaining)
    )


def _deadline_error(call: Call, attempts: int) -> APITimeout:
    ctx = call.error_context()
    ctx.attempts = attempts
    return APITimeout(f"total deadline of {call.settings.deadline_s:g}s exhausted", ctx)


def _learn(call: Call, headers: Any, used_input: int | None = None) -> None:
    """Hand an answer's `x-ratelimit-*` headers (and the input usage it reports) to the shared
    limiter that reserved this call's capacity."""
    if call.limiter_ticket is None or headers is None:  # no answer (a transport error): nothing announced
        return
    from unyo._core._limiter import observe_answer

    observe_answer(call.settings, call.info.model, headers, call.limiter_ticket, used_input)


def _reported_input(call: Call, raw: Any) -> int | None:
    """The input tokens a (non-stream) answer's body reports, read with the stdlib: the limits
    are learned before the SDK parses the body, whose first parse in a process takes ~0.3 s that
    every request waiting on the first answer's limits would wait too."""
    if call.stream or call.limiter_ticket is None:
        return None
    try:
        usage = raw.http_response.json().get("usage") or {}
        used = usage.get("input_tokens") or usage.get("prompt_tokens")
    except Exception:  # noqa: BLE001 - not JSON, not a dict: the parse below says so
        return None
    return used if isinstance(used, int) else None


def _repace(call: Call) -> float:
    """A retry is another request: reserve its capacity again; how long to wait for it."""
    ticket = call.limiter_ticket
    if ticket is None:
        return 0.0
    from unyo._core._limiter import shared_limiter

    call.limiter_ticket = again = shared_limiter(call.settings, call.info.model).reserve(
        ticket.tokens, ticket.counted_input, ticket.bound_input
    )
    return float(again.wait)


def _succeeded(call: Call, raw: Any, number: int, began: float) -> Any:
    request_id = raw.headers.get("x-request-id")
    _learn(call, raw.headers, _reported_input(call, raw))
    parsed = raw.parse()  # may raise JSONDecodeError on a malformed body: retried like a transport error
    call.info.request_id = request_id
    call.raw_response = raw
    if call.cache_key:  # the provider's exact JSON, for the response cache
        call.response_body = raw.text
    call.info.attempt_log.append(
        Attempt(number, "ok", time.monotonic() - began, raw.status_code, request_id, model=call.info.model,
                profile=call.info.profile)
    )  # fmt: skip
    return parsed


def _failed(
    call: Call, exc: BaseException, number: int, began: float, started: float
) -> tuple[UnyoError, float | None]:
    ctx = call.error_context()
    ctx.attempts = number
    err = from_sdk(exc, ctx)
    _learn(call, getattr(getattr(err, "response", None), "headers", None))  # a 429 announces the limits too
    wait = policy_for(call).next_wait(err, number, time.monotonic() - started)
    if wait is not None:
        wait = max(wait, _repace(call))
    status = getattr(err, "status", None)
    call.info.attempt_log.append(
        Attempt(
            number,
            type(err).__name__,
            time.monotonic() - began,
            status,
            getattr(err, "request_id", None),
            wait or 0.0,
            model=call.info.model,
            profile=call.info.profile,
        )  # fmt: skip
    )
    if wait is None:
        call.info.error = type(err).__name__
        call.end("failed")
    return err, wait


def _cancelled(call: Call, number: int, began: float) -> None:
    call.info.attempt_log.append(
        Attempt(number, "Cancelled", time.monotonic() - began, model=call.info.model, profile=call.info.profile)
    )
    call.info.status = "cancelled"


def send(call: Call, fn: Callable[..., Any]) -> Any:
    """Call `fn(**params, timeout=...)` (an SDK `with_raw_response` method) until it succeeds,
    the policy gives up, or the deadline runs out. Returns the parsed SDK object."""
    if call.info.limiter_wait_s:
        time.sleep(call.info.limiter_wait_s)
    started = time.monotonic()
    number = 0
    while True:
        number += 1
        remaining = call.settings.deadline_s - (time.monotonic() - started)
        if remaining <= 0:
            raise _deadline_error(call, number - 1)
        if call.limiter_ticket is not None:
            call.limiter_ticket.sent()
        began = time.monotonic()
        try:
            return _succeeded(call, fn(**call.params, timeout=attempt_timeout(call, remaining)), number, began)
        except KeyboardInterrupt:
            _cancelled(call, number, began)
            raise
        except UnyoError:  # ours already (it is also an openai.OpenAIError): not a transport failure
            raise
        except RETRYABLE_SOURCES as exc:
            err, wait = _failed(call, exc, number, began, started)
            if wait is None:
                raise err from None
        time.sleep(wait)


async def asend(call: Call, fn: Callable[..., Awaitable[Any]]) -> Any:
    """The async twin of `send` (tests/test_parity.py keeps them in step)."""
    if call.info.limiter_wait_s:
        await asyncio.sleep(call.info.limiter_wait_s)
    started = time.monotonic()
    number = 0
    while True:
        number += 1
        remaining = call.settings.deadline_s - (time.monotonic() - started)
        if remaining <= 0:
            raise _deadline_error(call, number - 1)
        if call.limiter_ticket is not None:
            call.limiter_ticket.sent()
        began = time.monotonic()
        try:
            return _succeeded(call, await fn(**call.params, timeout=attempt_timeout(call, remaining)), number, began)
        except (KeyboardInterrupt, asyncio.CancelledError):
            _cancelled(call, number, began)
            raise
        except UnyoError:
            raise
        except RETRYABLE_SOURCES as exc:
            err, wait = _failed(call, exc, number, began, started)
            if wait is None:
                raise err from None
        await asyncio.sleep(wait)
