"""Reports at scale (issue 21): rollups equal a brute-force sum over the calls, every `logs`
filter and every report query uses an index, prune and export work a page at a time."""

from __future__ import annotations

import random
import statistics
from decimal import Decimal
from typing import Any

import pytest

import unyo
from unyo._core._limits import counter_keys
from unyo._records import _rollup
from unyo._records._audit import COLUMNS, iter_query, prune, query, query_sql
from unyo._records._ledger import Ledger
from unyo._records._store import Store, open_store
from unyo.testing import FaultServer

from .conftest import fast_settings

HOUR = 3600.0
T0 = 1_764_000_000.0  # 2025-11-24, a whole hour: the ledger spans T0 .. T0 + 30 h


def _records(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ts = T0 + rng.random() * 30 * HOUR
        api = rng.choice(["responses", "chat", "chat", "models"] if i % 9 == 0 else ["responses", "chat"])
        status = rng.choice(["completed"] * 6 + ["failed", "incomplete", "interrupted", "cancelled"])
        hit = status == "completed" and rng.random() < 0.15
        cost = None if rng.random() < 0.05 else Decimal(rng.randint(0, 10**6)) / Decimal(10**9)
        out.append(
            {
                **dict.fromkeys(COLUMNS),
                "id": f"c{i:05d}",
                "ts": ts,
                "day": "2025-11-24" if ts < T0 + 20 * HOUR else "2025-11-25",
                "month": "2025-11",
                "api": api,
                "profile": "openai",
                "host": "h",
                "model": rng.choice(["gpt-5-mini", "gpt-5", "gpt-4o-mini", "o4-mini"])
                if api != "models"
                else "(models)",
                "role": rng.choice(["default", "fast", None]),
                "user_id": rng.choice(["alice", "bob", "carol", None]),
                "tag": rng.choice(["triage", "summary", None]),
                "status": status,
                "attempts": 1,
                "latency_s": None if rng.random() < 0.1 else round(rng.lognormvariate(0, 1.2), 4),
                "input_tokens": rng.randint(0, 5000),
                "cached_tokens": rng.randint(0, 100),
                "output_tokens": rng.randint(0, 900),
                "reasoning_tokens": rng.randint(0, 50),
                "usage_reported": True,
                "cost": cost,
                "cache_hit": hit,
                "stream": False,
                "content_policy": "masked",
                "prompt": "p",
                "output": "o",
                "detail": "{}",
            }
        )
    return out


def _write(store: Store, records: list[dict[str, Any]]) -> None:
    """Half through the bulk path, half one call at a time through settle: both keep the rollups."""
    ledger = Ledger(store)
    entries = [
        (r["cost"], counter_keys(r["user_id"], r["tag"], {"day": f"day:{r['day']}", "month": "month:2025-11"}), r)
        for r in records
    ]
    half = len(entries) // 2
    ledger.record_many(entries[:half])
    for i, (cost, keys, record) in enumerate(entries[half:]):
        ledger.settle(f"r{i}", cost, keys, record)


COLUMN = {"day": "day", "model": "model", "role": "role", "user": "user_id", "tag": "tag", "status": "status"}


def _brute(records: list[dict[str, Any]], since: float | None, by: str | None) -> dict[str, dict[str, Any]]:
    """The figures the in-memory report computed from every record (the code before rollups)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if (since is None or r["ts"] >= since) and r["api"] != "models":
            key = "total" if by is None else str(r[COLUMN[by]] if r[COLUMN[by]] is not None else "-")
            groups.setdefault(key, []).append(r)
    out = {}
    for key, rows in groups.items():
        lat = sorted(
            r["latency_s"]
            for r in rows
            if not r["cache_hit"] and r["latency_s"] is not None and r["status"] != "failed"
        )
        out[key] = {
            "calls": len(rows),
            "failed": sum(r["status"] in ("failed", "interrupted") for r in rows),
            "cache_hits": sum(bool(r["cache_hit"]) for r in rows),
            **{
                t: sum(r[t] for r in rows)
                for t in ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens")
            },
            "cost": sum((r["cost"] for r in rows if r["cost"] is not None), Decimal(0)),
            "unpriced_calls": sum(r["cost"] is None for r in rows),
            "p50": lat[(len(lat) - 1) // 2] if lat else None,  # the lower median
            "median": statistics.median(lat) if lat else None,
            "p95": lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None,
        }
    return out


def _check(report: _rollup.Report, records: list[dict[str, Any]], since: float | None) -> None:
    expected_total = _brute(records, since, None).get("total")
    got = {"total": report.total} if report.total.calls else {}
    for by in (None, *COLUMN):
        expected = _brute(records, since, by)
        actual = got if by is None else report.groups.get(by, {})
        assert sorted(actual) == sorted(expected), by
        for key, sums in actual.items():
            row, want = sums.to_dict(key), expected[key]
            for name in ("calls", "failed", "cache_hits", "input_tokens", "cached_tokens", "output_tokens"):
                assert row[name] == want[name], (by, key, name)
            assert (
                row["reasoning_tokens"] == want["reasoning_tokens"] and row["unpriced_calls"] == want["unpriced_calls"]
            )
            assert Decimal(row["cost_usd"]) == want["cost"], (by, key)  # exact, on SQLite's TEXT money too
            for mine, exact in (("latency_p50_s", "p50"), ("latency_p95_s", "p95")):
                if want[exact] is None:
                    assert row[mine] is None
                else:  # the reported value is the middle of the bucket that holds the exact one
                    assert _rollup.bucket(row[mine]) == _rollup.bucket(want[exact]), (by, key, mine)
                    assert abs(row[mine] / want[exact] - 1) < 0.095 or want[exact] < _rollup.LOW_S
    models = sum(r["api"] == "models" and (since is None or r["ts"] >= since) for r in records)
    assert report.not_billable.get("models", 0) == models
    assert (expected_total or {}).get("calls", 0) == report.total.calls


SINCES = [None, T0 - HOUR, T0 + 5 * HOUR, T0 + 7.25 * HOUR, T0 + 19.999 * HOUR, T0 + 29.5 * HOUR, T0 + 99 * HOUR]


def test_rollups_equal_a_brute_force_sum(db_url: str) -> None:
    store = open_store(db_url)
    records = _records(400)
    _write(store, records)
    for since in SINCES:  # whole days, then whole hours from the rollups, the part-hour from the calls
        _check(_rollup.read(store, since), records, since)
    # the rollups rebuilt from the calls (migration 4's backfill on an existing ledger) are the same
    for table in (_rollup.HOURLY, _rollup.DAILY):
        with store.tx() as tx:
            before = tx.execute(f"SELECT * FROM {table} ORDER BY slot, day, dim, value")
            tx.execute(f"DELETE FROM {table}")
        with store.tx() as tx:
            tx.execute(f"DELETE FROM {_rollup.HOURLY if table == _rollup.DAILY else _rollup.DAILY}")
            _rollup.backfill(tx, store)
            after = tx.execute(f"SELECT * FROM {table} ORDER BY slot, day, dim, value")
        assert [tuple(map(str, r)) for r in after] == [tuple(map(str, r)) for r in before] and len(before) > 30


def test_prune_in_batches_keeps_the_rollups_equal_to_the_calls(db_url: str) -> None:
    store = open_store(db_url)
    records = _records(300, seed=11)
    _write(store, records)
    now = T0 + 40 * 86400  # a later month: nothing is protected by the current budget month
    removed = prune(store, (now - (T0 + 12.5 * HOUR)) / 86400, now=now, batch=7)
    kept = [r for r in records if r["ts"] >= T0 + 12.5 * HOUR]
    assert removed == len(records) - len(kept) > 50
    assert sorted(r["id"] for r in query(store, limit=None)) == sorted(r["id"] for r in kept)
    for since in (None, T0 + 13.5 * HOUR):
        _check(_rollup.read(store, since), kept, since)
    with store.tx(write=False) as tx:  # emptied rollup rows are gone, not left at zero
        for table in (_rollup.HOURLY, _rollup.DAILY):
            assert tx.execute(f"SELECT COUNT(*) FROM {table} WHERE calls <= 0")[0][0] == 0
        assert tx.execute("SELECT MIN(slot) FROM unyo_rollups")[0][0] == int((T0 + 12 * HOUR) // HOUR)


def test_logs_filters_match_a_brute_force_filter(db_url: str) -> None:
    store = open_store(db_url)
    records = _records(300, seed=5)
    _write(store, records)
    newest = sorted(records, key=lambda r: (-r["ts"], r["id"]))
    cases: list[tuple[dict[str, Any], Any]] = [
        ({}, lambda r: True),
        ({"user": "bob"}, lambda r: r["user_id"] == "bob"),
        ({"tag": "triage"}, lambda r: r["tag"] == "triage"),
        ({"status": "failed"}, lambda r: r["status"] == "failed"),
        ({"model": "o4-mini"}, lambda r: r["model"] == "o4-mini"),
        ({"model": "gpt-5"}, lambda r: r["model"].startswith("gpt-5")),  # a prefix of two models
        ({"model": "gpt"}, lambda r: r["model"].startswith("gpt")),
        ({"model": "nothing"}, lambda r: False),
        ({"since": T0 + 20 * HOUR, "user": "alice"}, lambda r: r["ts"] >= T0 + 20 * HOUR and r["user_id"] == "alice"),
    ]
    for filters, keep in cases:
        want = [r["id"] for r in newest if keep(r)]
        for limit in (5, 50, None):
            got = [r["id"] for r in iter_query(store, limit=limit, **filters)]
            assert got == want[:limit], (filters, limit)
        oldest = [r["id"] for r in iter_query(store, limit=None, oldest_first=True, **filters)]
        assert oldest == sorted(want, key=lambda i: (next(r["ts"] for r in records if r["id"] == i), i))


def _plan(store: Store, sql: str, args: list[Any]) -> str:
    with store.tx(write=False) as tx:
        if store.dialect == "sqlite":
            return "\n".join(str(r[-1]) for r in tx.execute(f"EXPLAIN QUERY PLAN {sql}", args))
        tx.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask whether an index CAN serve the query
        return "\n".join(str(r[0]) for r in tx.execute(f"EXPLAIN {sql}", args))


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, "unyo_calls_ts"),
        ({"since": T0}, "unyo_calls_ts"),
        ({"user": "bob"}, "unyo_calls_user_ts"),
        ({"tag": "triage"}, "unyo_calls_tag_ts"),
        ({"model": "o4-mini"}, "unyo_calls_model_ts"),
        ({"model": "gpt-5"}, "unyo_calls_model_ts"),
        ({"status": "failed"}, "unyo_calls_status_ts"),
        ({"user": "bob", "since": T0}, "unyo_calls_user_ts"),
    ],
)
def test_each_logs_filter_uses_its_index(db_url: str, filters: dict[str, Any], index: str) -> None:
    store = open_store(db_url)
    _write(store, _records(60))
    with store.tx(write=False) as tx:
        found = query_sql(tx, 50, **filters)
    assert found is not None
    plan = _plan(store, *found)
    assert index in plan, plan
    assert "SCAN unyo_calls\n" not in plan + "\n" and "Seq Scan on unyo_calls" not in plan, plan


def test_report_queries_use_indexes(db_url: str) -> None:
    store = open_store(db_url)
    _write(store, _records(60))
    for table in (_rollup.HOURLY, _rollup.DAILY):
        sql = f"SELECT dim, value, SUM(calls) FROM {table} WHERE slot >= ? AND dim <> 'all' GROUP BY dim, value"
        plan = _plan(store, sql, [1])
        assert f"sqlite_autoindex_{table}" in plan or f"{table}_pkey" in plan, plan
    raw_plan = _plan(
        store, f"SELECT {', '.join(_rollup.FIELDS)} FROM unyo_calls WHERE ts >= ? AND ts < ?", [T0, T0 + 1]
    )
    assert "unyo_calls_ts" in raw_plan, raw_plan
    prune_plan = _plan(store, "SELECT id FROM unyo_calls WHERE ts >= ? AND ts < ? ORDER BY ts LIMIT 10", [0, T0])
    assert "unyo_calls_ts" in prune_plan, prune_plan


def test_listing_models_is_not_a_billable_call(fault: FaultServer, db_url: str) -> None:
    """Issue 18: `unyo usage` counts only billable calls; listing models is shown apart."""
    settings = fast_settings(fault, db_url=db_url)
    client = unyo.OpenAI(settings=settings)
    client.responses.create(input="hello", max_output_tokens=20)
    list(client.models.list())
    from unyo._money._usage import usage_report

    report = usage_report(settings, None, ["model"])
    assert report["total"]["calls"] == 1
    assert [r["key"] for r in report["groups"]["model"]] == ["gpt-4o-mini"]
    assert report["not_billable"] == {"models": 1}
    assert len(query(open_store(db_url), limit=None)) == 2  # the audit log still has both


def test_budgets_reserve_and_settle_while_prune_runs(db_url: str) -> None:
    """Prune commits a batch at a time: reservations and settlements made meanwhile succeed,
    and afterwards the rollups still equal the calls that are left."""
    import threading

    from unyo._core._limits import Check, Limit

    store = open_store(db_url)
    old = _records(250, seed=3)
    _write(store, old)
    now = T0 + 40 * 86400
    ledger = Ledger(store)
    limit = Limit("all", "day", Decimal("100"))
    fresh = []
    result: list[int] = []
    pruner = threading.Thread(target=lambda: result.append(prune(store, 1, now=now, batch=5)))
    pruner.start()
    for i in range(20):
        record = {**_records(1, seed=100 + i)[0], "id": f"new{i}", "ts": now - 60 + i, "api": "chat"}
        keys = counter_keys(record["user_id"], record["tag"], {"day": "day:2026-01-03", "month": "month:2026-01"})
        outcome = ledger.reserve(f"n{i}", Decimal("0.01"), [Check("all", "day:2026-01-03", limit)], keys, 0.8, 60)
        assert outcome.refused is None
        ledger.settle(f"n{i}", record["cost"], keys, record)
        fresh.append(record)
    pruner.join(timeout=120)
    assert result == [250]
    assert sorted(r["id"] for r in query(store, limit=None)) == sorted(r["id"] for r in fresh)
    _check(_rollup.read(store, None), fresh, None)
    assert ledger.reservations() == []
