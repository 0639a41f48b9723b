"""Fallbacks per role through a real `unyo serve`: on 5xx the next model, never on 4xx, quota or
budget; the circuit breaker skips a failing upstream, then lets one trial through."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.gateway_helpers import Served, gateway_env
from unyo._gateway._fallback import Breaker, Fallbacks, parse_fallbacks
from unyo._types._errors import ConfigError, ErrorContext, RateLimited, ServerError
from unyo.testing import FaultServer

BODY = {"model": "gpt-4o-mini", "input": "hi"}


@pytest.fixture
def served(fault: FaultServer, tmp_path: Path) -> Iterator[Served]:
    env = gateway_env(
        fault.url,
        f"sqlite:///{tmp_path / 'gw' / 'unyo.db'}",
        UNYO_MAX_ATTEMPTS="1",
        UNYO_GATEWAY_FALLBACKS=json.dumps({"gpt-4o-mini": ["gpt-4.1-mini"]}),
    )
    server = Served(env, tmp_path / "serve.log")
    yield server
    server.stop()


def call(served: Served, key: str, body: dict[str, Any] = BODY) -> httpx.Response:
    return httpx.post(f"{served.url}/v1/responses", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)


def models_sent(fault: FaultServer) -> list[str]:
    return [r["body"]["model"] for r in fault.requests if r["method"] == "POST"]


def test_a_server_error_falls_back_to_the_next_model(served: Served, fault: FaultServer) -> None:
    key = served.new_key()
    fault.script("500")
    answer = call(served, key)
    assert answer.status_code == 200 and answer.json()["model"] == "gpt-4.1-mini"
    assert answer.headers["x-unyo-fallback-from"] == "gpt-4o-mini"
    assert models_sent(fault) == ["gpt-4o-mini", "gpt-4.1-mini"]


@pytest.mark.parametrize(("action", "status"), [("400", 400), ("quota", 429), ("429", 429), ("404", 404)])
def test_client_errors_quota_and_rate_limits_never_fall_back(
    served: Served, fault: FaultServer, action: str, status: int
) -> None:
    key = served.new_key()
    fault.script(action)
    assert call(served, key).status_code == status
    assert models_sent(fault) == ["gpt-4o-mini"]


def test_a_budget_refusal_never_falls_back(served: Served, fault: FaultServer) -> None:
    key = served.new_key(budget_request="0.0000001")
    refused = call(served, key)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
    assert models_sent(fault) == []


def test_the_breaker_opens_after_three_failures(served: Served, fault: FaultServer) -> None:
    key = served.new_key()
    for _ in range(3):
        fault.script("500")
        assert call(served, key).status_code == 200
    fault.reset()
    answer = call(served, key)  # the breaker is open for gpt-4o-mini: straight to the fallback
    assert answer.status_code == 200 and models_sent(fault) == ["gpt-4.1-mini"]
    assert answer.headers["x-unyo-fallback-from"] == "gpt-4o-mini"


def test_breaker_half_open_and_chain_rules() -> None:
    breaker = Breaker(threshold=2, cooldown_s=0.05)
    fallbacks = Fallbacks({"main": ("b",)}, "h", breaker)
    calls: list[str] = []

    async def flaky(model: str) -> str:
        calls.append(model)
        if model == "main":
            raise ServerError("boom", ErrorContext(status=500))
        return model

    for _ in range(2):
        assert asyncio.run(fallbacks.run("main", flaky)) == ("b", ["main"])
    assert breaker.state("h|main") == "open"
    calls.clear()
    assert asyncio.run(fallbacks.run("main", flaky)) == ("b", ["main"]) and calls == ["b"]  # skipped
    time.sleep(0.06)
    calls.clear()
    asyncio.run(fallbacks.run("main", flaky))
    assert calls == ["main", "b"]  # half-open: one trial of main

    async def limited(model: str) -> str:
        raise RateLimited("slow down", ErrorContext(status=429))

    with pytest.raises(RateLimited):
        asyncio.run(fallbacks.run("main", limited))
    assert fallbacks.chain("other") == ["other"]
    with pytest.raises(ConfigError):
        parse_fallbacks('{"main": "not a list"}')
