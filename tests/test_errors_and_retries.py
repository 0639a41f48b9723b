"""Every error class and retry path, through a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import inspect

import openai
import pytest

import unyo
from unyo._types._errors import ErrorContext, from_sdk
from unyo.testing import FaultServer

from .conftest import FAKE_KEY, fast_settings

CASES = [
    # action, class, exit code, attempts the server sees (default 3 attempts)
    ("400", unyo.BadRequest, 7, 1),
    ("401", unyo.AuthenticationError, 3, 1),
    ("403", unyo.PermissionDenied, 3, 1),
    ("404", unyo.NotFound, 7, 1),
    ("408", unyo.RequestTimeout, 6, 3),
    ("409", unyo.Conflict, 6, 3),
    ("422", unyo.Unprocessable, 7, 1),
    ("429", unyo.RateLimited, 5, 3),
    ("quota", unyo.QuotaExhausted, 5, 1),
    ("context", unyo.ContextTooLong, 7, 1),
    ("500", unyo.ServerError, 6, 3),
    ("502", unyo.ServerError, 6, 3),
    ("503", unyo.ServerError, 6, 3),
    ("reset", unyo.ConnectionFailed, 6, 3),
    ("malformed", unyo.MalformedResponse, 6, 3),
]


@pytest.mark.parametrize("api", ["responses", "chat"])
@pytest.mark.parametrize("action,cls,exit_code,requests", CASES)
def test_each_failure_maps_to_its_class(
    fault: FaultServer, api: str, action: str, cls: type, exit_code: int, requests: int
) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    fault.script(action, action, action)
    with pytest.raises(cls) as caught:
        if api == "responses":
            client.responses.create(input="hello")
        else:
            client.chat.completions.create(messages=[{"role": "user", "content": "hello"}])
    err = caught.value
    assert type(err) is cls
    assert err.exit_code == exit_code
    assert len(fault.requests) == requests
    assert err.attempts == requests
    assert err.provider == "openai" and err.host == "127.0.0.1" and err.model == "gpt-4o-mini"
    assert err.hint("en") and err.hint("ja") and err.hint("en") != err.hint("ja")
    assert FAKE_KEY not in str(err) and FAKE_KEY not in repr(err)
    info = client.last_call
    assert info is not None and info.status == "failed" and info.attempts == requests
    if isinstance(err, unyo.APIStatusError):
        assert err.status is not None and err.request_id.startswith("req_")


def test_retry_then_success_records_every_attempt(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    fault.script("500", {"action": "429", "retry_after": 0.2}, "ok")
    response = client.responses.create(input="hello")
    info = unyo.call_info(response)
    assert [a.outcome for a in info.attempt_log] == ["ServerError", "RateLimited", "ok"]
    assert [a.status for a in info.attempt_log] == [500, 429, 200]
    assert info.attempt_log[1].wait_s == pytest.approx(0.2)  # Retry-After honoured exactly
    assert 0 < info.attempt_log[0].wait_s <= 0.05  # backoff bounded by backoff_max_s
    assert response.output_text.startswith("Hello from the fault server")
    gap = fault.requests[2]["at"] - fault.requests[1]["at"]
    assert gap >= 0.2  # the server saw the wait


def test_retry_after_ms_wins_over_seconds(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    fault.script({"action": "429", "retry_after": 30, "retry_after_ms": 50}, "ok")
    info = unyo.call_info(client.responses.create(input="x"))
    assert info.attempt_log[0].wait_s == pytest.approx(0.05)


def test_retry_after_beyond_cap_raises_with_retry_after(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, retry_after_cap_s=5))
    fault.script({"action": "429", "retry_after": 120})
    with pytest.raises(unyo.RateLimited) as caught:
        client.responses.create(input="x")
    assert caught.value.retry_after == 120
    assert len(fault.requests) == 1


def test_quota_is_never_retried_even_with_retry_after(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, max_attempts=5))
    fault.script({"action": "quota", "retry_after": 0.01}, "ok")
    with pytest.raises(unyo.QuotaExhausted):
        client.responses.create(input="x")
    assert len(fault.requests) == 1


def test_total_deadline_bounds_all_attempts(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, deadline_s=0.6, max_attempts=10))
    fault.script("hang", "hang", "hang", "hang")
    with pytest.raises(unyo.APITimeout) as caught:
        client.responses.create(input="x")
    info = client.last_call
    assert info.status == "failed"
    assert sum(a.duration_s + a.wait_s for a in info.attempt_log) < 0.6 + 0.5  # never far past the deadline
    assert caught.value.attempts == info.attempts >= 1


def test_read_timeout_is_retried_then_succeeds(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, read_timeout_s=0.2))
    fault.script("hang", "ok")
    info = unyo.call_info(client.responses.create(input="x"))
    assert [a.outcome for a in info.attempt_log] == ["APITimeout", "ok"]


def test_connection_refused_is_a_connection_error() -> None:
    settings = unyo.load_settings(
        profile="openai", api_key=FAKE_KEY, base_url="http://127.0.0.1:9/v1", backoff_base_s=0.01, max_attempts=2
    )
    with pytest.raises(unyo.ConnectionFailed) as caught:
        unyo.OpenAI(settings=settings).responses.create(model="gpt-4o-mini", input="x")
    assert caught.value.attempts == 2 and caught.value.exit_code == 6


def test_max_attempts_one_means_no_retry(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, max_attempts=1))
    fault.script("503", "ok")
    with pytest.raises(unyo.ServerError):
        client.responses.create(input="x")
    assert len(fault.requests) == 1


def test_sdk_retries_are_off(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    assert client.raw.max_retries == 0


def test_every_openai_exception_is_mapped() -> None:
    """A new exception class in the SDK must not fall through to a generic error. Instances are
    built without their constructors so that signature changes cannot hide a class."""
    import httpx2

    request = httpx2.Request("POST", "http://127.0.0.1/v1/responses")
    for name, cls in inspect.getmembers(openai, inspect.isclass):
        if not issubclass(cls, openai.OpenAIError) or cls is openai.OpenAIError:
            continue
        exc = cls.__new__(cls)
        Exception.__init__(exc, "m")
        status = 401 if issubclass(cls, openai.AuthenticationError) else 500
        for attr, value in {
            "message": "m",
            "body": {"error": {"message": "m"}},
            "request": request,
            "request_id": None,
            "status_code": status,
            "response": httpx2.Response(status, request=request),
        }.items():
            try:
                object.__setattr__(exc, attr, value)
            except AttributeError:
                pass
        mapped = from_sdk(exc, ErrorContext())
        assert type(mapped) is not unyo.UnyoError, f"openai.{name} is not mapped"


SDK_CLASSES = {
    "400": openai.BadRequestError,
    "401": openai.AuthenticationError,
    "403": openai.PermissionDeniedError,
    "404": openai.NotFoundError,
    "409": openai.ConflictError,
    "422": openai.UnprocessableEntityError,
    "429": openai.RateLimitError,
    "quota": openai.RateLimitError,
    "context": openai.BadRequestError,
    "500": openai.InternalServerError,
    "408": openai.APIStatusError,
    "reset": openai.APIConnectionError,
}


@pytest.mark.parametrize("action,sdk_cls", sorted(SDK_CLASSES.items()))
def test_code_written_for_the_sdk_still_catches_unyos_errors(fault: FaultServer, action: str, sdk_cls: type) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, max_attempts=1))
    fault.script(action)
    try:
        client.responses.create(model="gpt-4o-mini", input="hi")
    except sdk_cls as exc:  # an `except openai.X:` clause in existing code
        assert isinstance(exc, unyo.UnyoError) and isinstance(exc, openai.OpenAIError)
        if isinstance(exc, openai.APIStatusError):
            assert exc.status_code == exc.status and exc.response is not None and exc.response.status_code == exc.status
    else:
        pytest.fail(f"{action} was not caught as {sdk_cls.__name__}")


def test_timeouts_and_refusals_are_the_sdks_classes_too(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, max_attempts=1, read_timeout_s=0.2))
    fault.script("hang")
    with pytest.raises(openai.APITimeoutError):
        client.responses.create(model="gpt-4o-mini", input="hi")
    with pytest.raises(openai.BadRequestError):  # refused before sending: no response object
        client.responses.create(model="gpt-4o-mini", input="hi", max_output_tokens=10**9)
    assert issubclass(unyo.BudgetExceeded, openai.OpenAIError) and issubclass(unyo.ConfigError, openai.OpenAIError)


def test_unyos_errors_do_not_load_the_sdk_until_a_client_does() -> None:
    """`unyo usage` / `unyo --help` must not pay the SDK's import (about a second here)."""
    import subprocess
    import sys

    code = (
        "import sys, unyo._types._errors, unyo._core._config; assert 'openai' not in sys.modules; "
        "import openai; unyo._types._errors.adopt_sdk_bases(); "
        "assert issubclass(unyo._types._errors.RateLimited, openai.RateLimitError)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
