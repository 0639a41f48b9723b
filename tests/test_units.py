"""Unit tests for the small pieces: limiter, retry policy, usage, redaction, catalogue."""

from __future__ import annotations

import pytest

import unyo
from unyo._core._limiter import RateLimiter
from unyo._core._retry import RetryPolicy
from unyo._providers._catalog import model_info
from unyo._types._call import Usage
from unyo._types._errors import ErrorContext, parse_retry_after
from unyo._types._redact import redact, register_secret


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_limiter_rpm_burst_then_spacing() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=60, tpm=None, clock=clock)
    assert [limiter.reserve(0) for _ in range(60)] == [0.0] * 60  # a minute's burst
    assert limiter.reserve(0) == pytest.approx(1.0)  # then one per second, queued
    assert limiter.reserve(0) == pytest.approx(2.0)
    clock.now = 10.0
    assert limiter.reserve(0) == 0.0  # refilled while idle


def test_limiter_tpm_counts_tokens() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=None, tpm=600, clock=clock)  # 10 tokens/s
    assert limiter.reserve(500) == 0.0
    assert limiter.reserve(200) == pytest.approx(10.0)  # 100 short: 10 s
    assert limiter.reserve(10_000) > 0  # larger than a minute's budget waits, capped


def test_retry_policy_decisions() -> None:
    policy = RetryPolicy(max_attempts=3, deadline_s=10, backoff_base_s=1, backoff_max_s=4, retry_after_cap_s=30)
    server = unyo.ServerError("x", ErrorContext())
    assert 0.5 <= policy.next_wait(server, 1, 0) <= 1.0
    assert 1.0 <= policy.next_wait(server, 2, 0) <= 2.0
    assert policy.next_wait(server, 3, 0) is None  # attempts used up
    assert policy.next_wait(unyo.BadRequest("x", ErrorContext()), 1, 0) is None
    assert policy.next_wait(unyo.QuotaExhausted("x", ErrorContext(retry_after=1)), 1, 0) is None
    assert policy.next_wait(unyo.RateLimited("x", ErrorContext(retry_after=3)), 1, 0) == 3
    assert policy.next_wait(unyo.RateLimited("x", ErrorContext(retry_after=31)), 1, 0) is None
    assert policy.next_wait(unyo.RateLimited("x", ErrorContext(retry_after=3)), 1, 8) is None  # past the deadline
    assert policy.next_wait(unyo.StreamInterrupted("x", ErrorContext()), 1, 0) is None  # never replay a stream


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "2"}) == 2
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0  # in the past
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_usage_from_both_apis() -> None:
    responses = {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 40},
        "output_tokens": 30,
        "output_tokens_details": {"reasoning_tokens": 12},
    }
    chat = {
        "prompt_tokens": 100,
        "prompt_tokens_details": {"cached_tokens": 40},
        "completion_tokens": 30,
        "completion_tokens_details": {"reasoning_tokens": 12},
    }
    assert Usage.from_api(responses) == Usage.from_api(chat) == Usage(100, 40, 30, 12)
    assert Usage.from_api({"prompt_tokens": 5, "completion_tokens": 1}) == Usage(5, 0, 1, 0)
    assert Usage.from_api(None) is None


def test_redaction_of_registered_and_shaped_secrets() -> None:
    register_secret("my-custom-token-value-123")
    text = (
        "key my-custom-token-value-123 and sk-proj-abcdefghijklmnop and Authorization: "
        "Bearer abc.def.ghijkl and AIzaSyA1234567890abcdefghijklmno"
    )
    cleaned = redact(text)
    for secret in (
        "my-custom-token-value-123",
        "sk-proj-abcdefghijklmnop",
        "abc.def.ghijkl",
        "AIzaSyA1234567890abcdefghijklmno",
    ):
        assert secret not in cleaned
    assert redact("ordinary text, no secrets") == "ordinary text, no secrets"


def test_catalogue_prefix_match_and_overrides() -> None:
    assert model_info("gpt-4o-mini-2024-07-18").context_window == 128000
    assert model_info("gpt-4.1-nano").max_output == 32768
    assert model_info("gemini-2.5-flash").exact_count is False
    assert model_info("unknown-model").context_window is None
    assert model_info("my-model", {"my-model": {"context_window": 1000}}).context_window == 1000


def test_error_hints_follow_unyo_lang(monkeypatch: pytest.MonkeyPatch) -> None:
    err = unyo.AuthenticationError("bad key", ErrorContext())
    monkeypatch.setenv("UNYO_LANG", "ja")
    assert "API キー" in err.hint()
    monkeypatch.setenv("UNYO_LANG", "en")
    assert "OPENAI_API_KEY" in err.hint()
