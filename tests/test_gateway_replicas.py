"""Two `unyo serve` replicas on two ports sharing the real PostgreSQL and Redis: one key's monthly
budget holds across both under 64 concurrent streams, a revocation on one is refused by the other
within a second, and the key's rpm is counted across both."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx2 as httpx
import psycopg
import pytest

from tests.gateway_helpers import Served, gateway_env
from unyo._providers._catalog import model_info
from unyo._types._call import Usage
from unyo.testing import FaultServer

BUDGET = Decimal("0.004")


@pytest.fixture
def replicas(fault: FaultServer, pg_url: str, tmp_path: Path) -> Iterator[tuple[Served, Served]]:
    env = gateway_env(fault.url, pg_url, UNYO_REDIS_URL="redis://127.0.0.1:6379/0")
    first = Served(env, tmp_path / "a.log")
    try:
        second = Served(env, tmp_path / "b.log")
    except Exception:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()


async def _stream(url: str, key: str, i: int) -> tuple[int, str]:
    body = {"model": "gpt-4o-mini", "input": f"stream {i}", "stream": True, "max_output_tokens": 1000}
    async with (
        httpx.AsyncClient(timeout=60) as client,
        client.stream("POST", f"{url}/v1/responses", json=body, headers={"authorization": f"Bearer {key}"}) as r,
    ):
        text = (await r.aread()).decode()
        return r.status_code, text


def test_one_budget_across_two_replicas_is_never_passed(
    replicas: tuple[Served, Served], fault: FaultServer, pg_url: str
) -> None:
    first, second = replicas
    name = f"shared-{uuid.uuid4().hex[:6]}"
    key = first.new_key(name=name, budget_monthly=str(BUDGET))
    fault.default_action = {"action": "ok", "delay": 0.03}

    async def main() -> list[tuple[int, str]]:
        return await asyncio.gather(*(_stream((first, second)[i % 2].url, key, i) for i in range(64)))

    results = asyncio.run(main())
    ok = [text for status, text in results if status == 200]
    refused = [text for status, text in results if status == 429]
    assert len(ok) + len(refused) == 64, [s for s, _ in results]
    assert ok and refused and all("budget_exceeded" in t for t in refused)
    assert all("response.completed" in t for t in ok)
    price = model_info("gpt-4o-mini").price
    billed = price.cost(Usage(fault.billed["input_tokens"], 0, fault.billed["output_tokens"], 0))
    with psycopg.connect(pg_url) as conn:
        spent = conn.execute(
            "SELECT COALESCE(SUM(cost), 0), COUNT(*) FROM unyo_calls WHERE user_id = %s AND status = 'completed'",
            [f"key:{name}"],
        ).fetchone()
    assert spent is not None and spent[1] == len(ok)
    assert Decimal(spent[0]) <= BUDGET and billed <= BUDGET  # the ledger and the provider's bill
    assert Decimal(spent[0]) == billed


def test_revoked_on_one_replica_is_refused_by_the_other_within_a_second(replicas: tuple[Served, Served]) -> None:
    first, second = replicas
    key = first.new_key(name=f"revoke-{uuid.uuid4().hex[:6]}")
    body = {"model": "gpt-4o-mini", "input": "hi"}
    headers = {"authorization": f"Bearer {key}"}
    assert httpx.post(f"{second.url}/v1/responses", json=body, headers=headers, timeout=30).status_code == 200
    records = first.admin("GET", "/admin/keys").json()["data"]
    target = next(r["id"] for r in records if r["state"] == "active" and r["name"].startswith("revoke-"))
    assert first.admin("POST", f"/admin/keys/{target}/revoke").status_code == 200
    revoked_at = time.monotonic()
    while True:
        status = httpx.post(f"{second.url}/v1/responses", json=body, headers=headers, timeout=30).status_code
        if status == 401 or time.monotonic() - revoked_at > 1:
            break
    assert status == 401 and time.monotonic() - revoked_at <= 1


def test_a_keys_rpm_is_shared_by_the_replicas(replicas: tuple[Served, Served]) -> None:
    first, second = replicas
    key = first.new_key(name=f"rpm-{uuid.uuid4().hex[:6]}", rpm=3)
    body = {"model": "gpt-4o-mini", "input": "hi"}
    headers = {"authorization": f"Bearer {key}"}
    if time.time() % 60 > 55:  # the fixed window must not roll over mid-test
        time.sleep(6)
    codes = [
        httpx.post(f"{server.url}/v1/responses", json=body, headers=headers, timeout=30).status_code
        for server in (first, second, first, second)
    ]
    assert codes == [200, 200, 200, 429]


def test_killing_a_replica_mid_stream_loses_no_row_of_a_completed_call(
    replicas: tuple[Served, Served], fault: FaultServer, pg_url: str
) -> None:
    first, second = replicas
    key = first.new_key(name=f"kill-{uuid.uuid4().hex[:6]}")
    fault.default_action = {"action": "ok", "delay": 0.05}

    async def one(i: int) -> tuple[int, str]:
        await asyncio.sleep(i * 0.05)
        try:
            return await _stream((first, second)[i % 2].url, key, i)
        except httpx.HTTPError:
            return -1, ""

    async def main() -> list[tuple[int, str]]:
        runs = asyncio.gather(*(one(i) for i in range(40)))
        await asyncio.sleep(1.2)
        first.proc.kill()  # SIGKILL: no shutdown, no flushing
        return await runs

    results = asyncio.run(main())
    completed = [t for status, t in results if status == 200 and "response.completed" in t]
    assert completed and any(status != 200 or "response.completed" not in t for status, t in results)
    ids = []
    for text in completed:
        data = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
        ids.append(json.loads(data[-1])["response"]["id"])
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT response_id FROM unyo_calls WHERE status = 'completed' AND response_id = ANY(%s)", [ids]
        ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(ids)
