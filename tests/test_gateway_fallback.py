"""Fallbacks per role through a real `unyo serve`: on 5xx the next model, never on 4xx, quota or
budget; the circuit breaker skips a failing upstream, then lets one trial through."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import run_cli
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
    server.env, server.db = env, tmp_path / "gw" / "unyo.db"  # type: ignore[attr-defined]
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

    async def flaky(model: str, breaker: str) -> str:
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
    assert breaker.state("h|main") == "half-open"
    calls.clear()
    asyncio.run(fallbacks.run("main", flaky))
    assert calls == ["main", "b"]  # half-open: one trial of main

    async def limited(model: str, breaker: str) -> str:
        raise RateLimited("slow down", ErrorContext(status=429))

    with pytest.raises(RateLimited):
        asyncio.run(fallbacks.run("main", limited))
    assert fallbacks.chain("other") == ["other"]
    with pytest.raises(ConfigError):
        parse_fallbacks('{"main": "not a list"}')


def rows(served: Served) -> list[dict[str, Any]]:
    """The ledger's call records (`unyo logs --json`: one line per row of unyo_calls)."""
    out = run_cli("logs", "--json", "-n", "50", env=served.env)  # type: ignore[attr-defined]
    assert out.returncode == 0, out.stderr
    return [r for r in map(json.loads, filter(str.strip, out.stdout.splitlines())) if r["api"] == "responses"]


def counters(served: Served, user: str) -> list[tuple[str, str, str]]:
    """(period, spent, reserved) of the key's counters, read from the real database."""
    with sqlite3.connect(served.db) as db:  # type: ignore[attr-defined]
        found = db.execute(
            "SELECT period, spent, reserved FROM unyo_counters WHERE scope = ? ORDER BY period", [f"user:{user}"]
        ).fetchall()
    return [(str(p), str(s), str(r)) for p, s, r in found]


def check_one_call(served: Served, user: str) -> dict[str, Any]:
    """A request that fell back once is one ledger row whose attempts are both hops, its cost
    spent once and nothing left reserved."""
    (row,) = rows(served)
    assert row["model"] == "gpt-4.1-mini" and row["status"] == "completed" and row["attempts"] == 2
    first, second = row["detail"]["attempts"]
    assert (first["model"], first["profile"], first["outcome"], first["status"]) == (
        "gpt-4o-mini",
        "openai",
        "ServerError",
        500,
    )
    assert (first["hop"], first["breaker"], first["cost_usd"]) == (0, "closed", "0.0000000000")
    assert (second["model"], second["profile"], second["outcome"], second["hop"]) == ("gpt-4.1-mini", "openai", "ok", 1)
    assert second["breaker"] == "closed" and first["duration_s"] > 0 and second["duration_s"] > 0
    cost = Decimal(str(row["cost"]))
    assert cost > 0 and Decimal(second["cost_usd"]) == cost
    assert row["latency_s"] >= first["duration_s"] + second["duration_s"]
    spent = {period: (s, r) for period, s, r in counters(served, user)}
    assert spent and all(Decimal(s) == cost and Decimal(r) == 0 for s, r in spent.values()), spent
    return row


def test_a_fallback_is_one_call_with_every_hop_in_its_attempts(served: Served, fault: FaultServer) -> None:
    key = served.new_key(name="hops", budget_monthly="5")  # a budget: each hop reserves its own model
    fault.script("500")
    answer = call(served, key)
    assert answer.status_code == 200 and answer.json()["model"] == "gpt-4.1-mini"
    row = check_one_call(served, "key:hops")
    assert row["id"] and row["budget"] == "reserved"


def test_a_streamed_fallback_is_one_call_too(served: Served, fault: FaultServer) -> None:
    key = served.new_key(name="streamhops", budget_monthly="5")
    fault.script("500")
    with httpx.stream(
        "POST",
        f"{served.url}/v1/responses",
        json={**BODY, "stream": True},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    ) as answer:
        assert answer.status_code == 200 and answer.headers["x-unyo-fallback-from"] == "gpt-4o-mini"
        text = "".join(answer.iter_text())
    assert "response.completed" in text
    deadline = time.monotonic() + 5  # the stream settles as it ends, just after the last byte
    while not rows(served) and time.monotonic() < deadline:
        time.sleep(0.1)
    row = check_one_call(served, "key:streamhops")
    assert row["stream"] is True


def test_a_chain_that_runs_out_is_one_failed_call(served: Served, fault: FaultServer) -> None:
    key = served.new_key(name="allfail", budget_monthly="5")
    fault.script("500", "500")
    answer = call(served, key)
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "upstream_server_error"
    (row,) = rows(served)
    assert row["status"] == "failed" and row["error"] == "ServerError" and row["model"] == "gpt-4.1-mini"
    assert [(a["model"], a["outcome"]) for a in row["detail"]["attempts"]] == [
        ("gpt-4o-mini", "ServerError"),
        ("gpt-4.1-mini", "ServerError"),
    ]
    assert all(Decimal(s) == 0 and Decimal(r) == 0 for _, s, r in counters(served, "key:allfail"))


def test_a_hop_the_breaker_skips_is_an_attempt(served: Served, fault: FaultServer) -> None:
    key = served.new_key(name="skips")
    for _ in range(3):
        fault.script("500")
        assert call(served, key).status_code == 200
    assert call(served, key).status_code == 200  # gpt-4o-mini's breaker is open now
    last = rows(served)[0]  # newest first
    assert [(a["model"], a["outcome"], a["breaker"]) for a in last["detail"]["attempts"]] == [
        ("gpt-4o-mini", "BreakerOpen", "open"),
        ("gpt-4.1-mini", "ok", "closed"),
    ]
    assert len(rows(served)) == 4  # one row per request, however many hops


def test_a_dropped_connection_is_a_broken_connection_not_a_timeout(served: Served, fault: FaultServer) -> None:
    key = served.new_key(name="resets")
    fault.script("reset", "reset")  # the upstream resets the connection on both hops
    answer = call(served, key)
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "upstream_unavailable"
    (row,) = rows(served)
    assert [a["outcome"] for a in row["detail"]["attempts"]] == ["ConnectionFailed", "ConnectionFailed"]


def test_a_proxy_in_the_environment_keeps_the_upstream_on_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    """The aiohttp transport would skip HTTPS_PROXY: with a proxy set, the upstream stays on httpx2."""
    from unyo._gateway._upstream import _behind_proxy

    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    assert not _behind_proxy("api.openai.com")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert _behind_proxy("api.openai.com") and _behind_proxy("api.openai.com:443")
    monkeypatch.setenv("NO_PROXY", "api.openai.com")
    assert not _behind_proxy("api.openai.com")
