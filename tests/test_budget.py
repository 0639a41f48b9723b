"""Budgets: reserved before sending, settled after, never overshot — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from datetime import UTC
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import unyo
from unyo._records._ledger import ledger_for
from unyo._records._store import store_for
from unyo.testing import FaultServer

from .conftest import FAKE_KEY, fast_settings

PRICE_4O_MINI = (Decimal("0.15"), Decimal("0.60"))  # input, output per 1M (the shipped table)


def client(fault: FaultServer, db_url: str, **kw: Any) -> unyo.OpenAI:
    user = kw.pop("user", None)
    tag = kw.pop("tag", None)
    return unyo.OpenAI(settings=fast_settings(fault, db_url=db_url, **kw), user=user, tag=tag)


def spent_today(settings: Any, scope: str = "all") -> tuple[Decimal, Decimal]:
    periods = settings.budget.period_keys()
    return ledger_for(settings).counters([periods["day"]]).get((scope, periods["day"]), (Decimal(0), Decimal(0)))


def ledger_totals(settings: Any) -> dict[str, int]:
    with store_for(settings).tx(write=False) as tx:
        row = tx.execute("SELECT COUNT(*), SUM(input_tokens), SUM(output_tokens) FROM unyo_calls")[0]
    return {"calls": int(row[0]), "input_tokens": int(row[1] or 0), "output_tokens": int(row[2] or 0)}


def test_per_request_limit_refuses_before_sending(fault: FaultServer, db_url: str) -> None:
    c = client(fault, db_url, max_request_usd="0.0001")
    with pytest.raises(unyo.BudgetExceeded) as err:
        c.responses.create(input="hello", max_output_tokens=1000)  # worst case 1000 × $0.60/1M = $0.0006
    assert fault.requests == []  # never sent
    e = err.value
    assert e.limit == Decimal("0.0001") and e.asked > e.limit and e.period == "request"
    assert "not sent" in str(e) and e.exit_code == 4
    c.responses.create(input="hello", max_output_tokens=100)  # fits: sent
    assert len(fault.requests) == 1


def test_daily_limit_stops_and_reports_limit_spent_reserved_asked(fault: FaultServer, db_url: str) -> None:
    c = client(fault, db_url, budget_daily_usd="0.0001")
    done = 0
    with pytest.raises(unyo.BudgetExceeded) as err:
        for _ in range(50):
            c.responses.create(input="hello", max_output_tokens=20)
            done += 1
    e = err.value
    assert 0 < done < 50 and len(fault.requests) == done
    assert e.spent + e.reserved + e.asked > e.limit == Decimal("0.0001")
    assert e.spent <= e.limit and e.reserved == 0
    spent, reserved = spent_today(c.settings)
    assert spent == e.spent and reserved == 0
    assert spent <= Decimal("0.0001")


def test_cost_is_exact_and_matches_tokens(fault: FaultServer, db_url: str) -> None:
    c = client(fault, db_url, budget_daily_usd="1")
    r = c.responses.create(input="price me", max_output_tokens=50)
    info = unyo.call_info(r)
    expected = (info.usage.input_tokens * PRICE_4O_MINI[0] + info.usage.output_tokens * PRICE_4O_MINI[1]) / 1_000_000
    assert info.cost_usd == expected and isinstance(info.cost_usd, Decimal)
    assert info.budget == "reserved" and info.worst_case_usd >= info.cost_usd
    assert spent_today(c.settings) == (expected, Decimal(0))


def test_unpriced_model_is_refused_while_a_budget_is_set(fault: FaultServer, db_url: str, clean_env: Path) -> None:
    c = client(fault, db_url, budget_daily_usd="1", model="my-finetune-7b")
    with pytest.raises(unyo.UnpricedModel) as err:
        c.responses.create(input="hi")
    assert '[models."my-finetune-7b"]' in str(err.value) and "allow_unpriced" in str(err.value)
    assert fault.requests == []
    # knowingly opted out: runs, recorded as unpriced (cost None, not $0)
    c = client(fault, db_url, budget_daily_usd="1", model="my-finetune-7b", allow_unpriced=True)
    info = unyo.call_info(c.responses.create(input="hi"))
    assert info.budget == "unpriced, allowed" and info.cost_usd is None
    # a price in unyo.toml makes it budgetable
    (clean_env / "unyo.toml").write_text('[models."my-finetune-7b"]\ninput = "0.30"\noutput = "1.20"\n')
    c = client(fault, db_url, budget_daily_usd="1", model="my-finetune-7b")
    info = unyo.call_info(c.responses.create(input="hi"))
    assert (
        info.budget == "reserved"
        and info.cost_usd
        == (info.usage.input_tokens * Decimal("0.30") + info.usage.output_tokens * Decimal("1.20")) / 1_000_000
    )


def test_downgrade_to_a_cheaper_role(fault: FaultServer, db_url: str) -> None:
    # premium = gpt-5 ($10/1M out), bulk = gpt-5-nano ($0.40/1M out)
    c = client(fault, db_url, max_request_usd="0.001", on_budget_exceeded="downgrade", model="premium")
    r = c.responses.create(input="classify this", max_output_tokens=1000)  # gpt-5 worst case $0.01 > $0.001
    info = unyo.call_info(r)
    assert info.model == "gpt-5-nano" and info.role == "bulk"
    assert info.budget == "downgraded from gpt-5"
    assert fault.requests[0]["body"]["model"] == "gpt-5-nano"
    with pytest.raises(unyo.BudgetExceeded):  # even the cheaper role does not fit: stop
        c.responses.create(input="classify this", max_output_tokens=100_000)


def test_soft_threshold_warns_once_per_period(fault: FaultServer, db_url: str) -> None:
    c = client(fault, db_url, budget_daily_usd="0.0002", soft_threshold=0.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(40):
            try:
                c.responses.create(input="hello", max_output_tokens=20)
            except unyo.BudgetExceeded:
                break
    budget_warnings = [w for w in caught if issubclass(w.category, unyo.BudgetWarning)]
    assert len(budget_warnings) == 1
    assert "day limit $0.0002" in str(budget_warnings[0].message)


def test_per_user_and_per_tag_limits(fault: FaultServer, db_url: str, clean_env: Path) -> None:
    (clean_env / "unyo.toml").write_text('[budget.tags.triage]\ndaily_usd = "0.00005"\n')
    alice = client(fault, db_url, budget_user_daily_usd="0.00004", user="alice")
    bob = client(fault, db_url, budget_user_daily_usd="0.00004", user="bob")
    with pytest.raises(unyo.BudgetExceeded) as err:
        for _ in range(20):
            alice.responses.create(input="hi", max_output_tokens=10)
    assert err.value.scope == "user"
    bob.responses.create(input="hi", max_output_tokens=10)  # bob has his own allowance
    tagged = client(fault, db_url, user="carol")
    with pytest.raises(unyo.BudgetExceeded) as err:
        for _ in range(20):
            tagged.responses.create(input="hi", max_output_tokens=10, unyo_tag="triage")
    assert err.value.scope == "tag:triage"
    tagged.responses.create(input="hi", max_output_tokens=10, unyo_tag="other")  # other tags unaffected


def test_failed_call_releases_its_hold_and_costs_nothing(fault: FaultServer, db_url: str) -> None:
    c = client(fault, db_url, budget_daily_usd="1", max_attempts=1)
    fault.script("500")
    with pytest.raises(unyo.ServerError):
        c.responses.create(input="hello", max_output_tokens=20)
    assert spent_today(c.settings) == (Decimal(0), Decimal(0))
    records = unyo._records._audit.query(store_for(c.settings))
    assert records[0]["status"] == "failed" and records[0]["error"] == "ServerError" and records[0]["cost"] == 0


def test_budget_refusal_is_audited(fault: FaultServer, db_url: str) -> None:
    c = client(fault, db_url, max_request_usd="0.00001")
    with pytest.raises(unyo.BudgetExceeded):
        c.responses.create(input="hello", max_output_tokens=500)
    record = unyo._records._audit.query(store_for(c.settings))[0]
    assert record["status"] == "failed" and record["error"] == "BudgetExceeded" and record["budget"] == "refused"


def test_hold_of_a_killed_process_is_released(fault: FaultServer, db_url: str) -> None:
    c = client(fault, db_url, budget_daily_usd="0.001")
    settings = c.settings
    # a process that reserves and is killed before it settles
    dead = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead.kill()
    dead.wait()
    ledger = ledger_for(settings)
    periods = settings.budget.period_keys()
    from unyo._core._limits import checks_for, counter_keys
    from unyo._records import _ledger

    real_owner = _ledger.OWNER
    _ledger.OWNER = f"{real_owner.rsplit(':', 1)[0]}:{dead.pid}"
    try:
        ledger.reserve(
            "orphan",
            Decimal("0.0009"),
            checks_for(settings.budget, None, None, periods),
            counter_keys(None, None, periods),
            0.8,
            60,
        )
    finally:
        _ledger.OWNER = real_owner
    assert spent_today(settings)[1] == Decimal("0.0009")
    with pytest.raises(unyo.BudgetExceeded):  # the orphan's hold blocks the budget ...
        c.responses.create(input="hello", max_output_tokens=1000)
    assert ledger.release_orphans() == 1  # ... until its dead owner is noticed
    assert spent_today(settings)[1] == 0
    c.responses.create(input="hello", max_output_tokens=1000)


def test_calendar_periods_follow_the_configured_time_zone(fault: FaultServer, db_url: str) -> None:
    from datetime import datetime

    from unyo._core._limits import BudgetConfig

    config = BudgetConfig(tz="Asia/Tokyo")
    utc_evening = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)  # 2026-12-01 05:00 in Tokyo
    assert config.period_keys(utc_evening.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))) == {
        "day": "day:2026-12-01",
        "month": "month:2026-12",
    }
    c = client(fault, db_url, budget_tz="Asia/Tokyo", budget_monthly_usd="1")
    c.responses.create(input="hello", max_output_tokens=20)
    tokyo_month = datetime.now(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")).strftime("%Y-%m")
    assert ledger_for(c.settings).counters([f"month:{tokyo_month}"])[("all", f"month:{tokyo_month}")][0] > 0


# --- the proof tests -------------------------------------------------------------------------


def _race(fault: FaultServer, db_url: str, limit: str, processes: int = 4, threads: int = 16) -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "UNYO_"))}
    env.update(
        {
            "UNYO_HOME": os.environ["UNYO_HOME"],
            "UNYO_DB_URL": db_url,
            "UNYO_BUDGET_DAILY_USD": limit,
            "SPENDER_URL": fault.url,
            "SPENDER_KEY": FAKE_KEY,
            "SPENDER_THREADS": str(threads),
            "SPENDER_START": str(time.time() + 4.0),
            "UNYO_BACKOFF_BASE_S": "0.01",
            "PYTHONPATH": str(Path(__file__).parent.parent),
        }
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests._spender"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results += [json.loads(line) for line in out.splitlines()]
    return results


def test_64_concurrent_calls_across_processes_never_overshoot(fault: FaultServer, db_url: str) -> None:
    limit = Decimal("0.0004")
    c = client(fault, db_url, budget_daily_usd=str(limit))
    for _ in range(20):  # nearly spend it first
        c.responses.create(input="Summarise: the invoice was paid late.", max_output_tokens=40)
    before, _ = spent_today(c.settings)
    assert limit - before < Decimal("0.0002")

    results = _race(fault, db_url, str(limit))
    assert len(results) == 64
    ok = [r for r in results if r["outcome"] == "ok"]
    refused = [r for r in results if r["outcome"] == "refused"]
    assert ok and refused and len(ok) + len(refused) == 64

    spent, reserved = spent_today(c.settings)
    billed_cost = (
        fault.billed["input_tokens"] * PRICE_4O_MINI[0] + fault.billed["output_tokens"] * PRICE_4O_MINI[1]
    ) / 1_000_000
    overshoot = max(Decimal(0), spent - limit)
    print(f"\n64 concurrent: {len(ok)} ok, {len(refused)} refused; spent ${spent} of ${limit}; overshoot ${overshoot}")
    assert overshoot == 0 and reserved == 0
    assert billed_cost == spent  # what the server billed is exactly what the ledger spent
    assert fault.billed["requests"] == 20 + len(ok)


def test_ledger_tokens_equal_what_the_server_billed(fault: FaultServer, db_url: str) -> None:
    """A scripted mix of retries, 5xx, 429, resets, hangs, malformed bodies, cut streams and
    cancels: the ledger's tokens equal the fault server's billed tokens, exactly."""
    c = client(fault, db_url, budget_daily_usd="5", read_timeout_s=0.5, max_attempts=3)
    fault.script("500", "ok")
    c.responses.create(input="one", max_output_tokens=30)
    fault.script({"action": "429", "retry_after": 0.01}, "ok")
    c.chat.completions.create(messages=[{"role": "user", "content": "two"}], max_tokens=30)
    fault.script("reset", "malformed", "ok")
    c.responses.create(input="three", max_output_tokens=30)
    fault.script("hang", "ok")
    c.responses.create(input="four: a hung attempt, then a good one", max_output_tokens=30)
    fault.script("400")
    with pytest.raises(unyo.BadRequest):
        c.responses.create(input="five", max_output_tokens=30)
    fault.script("503", "502", "503")
    with pytest.raises(unyo.ServerError):
        c.responses.create(input="six", max_output_tokens=30)
    # streams: complete, cut mid-way (Responses and Chat), cancelled by the caller
    for _ in c.responses.create(input="seven", stream=True, max_output_tokens=30):
        pass
    fault.script({"action": "cut", "after": 3})
    with pytest.raises(unyo.StreamInterrupted):
        for _ in c.responses.create(input="eight", stream=True, max_output_tokens=30):
            pass
    fault.script({"action": "cut", "after": 4})
    with pytest.raises(unyo.StreamInterrupted):
        for _ in c.chat.completions.create(messages=[{"role": "user", "content": "nine"}], stream=True, max_tokens=30):
            pass
    fault.script({"action": "ok", "delay": 0.2})
    s = unyo.stream("ten", client=c, max_chars=12, max_output_tokens=30)
    text = "".join(s)
    assert s.result.status == "cancelled" and 0 < len(text) < len(unyo.testing._fault_server.DEFAULT_TEXT)
    deadline = time.time() + 5
    while not fault.disconnects and time.time() < deadline:  # the server notices the client left
        time.sleep(0.05)

    totals = ledger_totals(c.settings)
    print(f"\nledger {totals} vs server billed {fault.billed}")
    assert totals["calls"] == 10
    assert (totals["input_tokens"], totals["output_tokens"]) == (
        fault.billed["input_tokens"],
        fault.billed["output_tokens"],
    )
    assert spent_today(c.settings)[1] == 0  # every hold released
    spent = spent_today(c.settings)[0]
    assert (
        spent
        == (fault.billed["input_tokens"] * PRICE_4O_MINI[0] + fault.billed["output_tokens"] * PRICE_4O_MINI[1])
        / 1_000_000
    )


def test_asyncio_tasks_share_the_budget_without_overshoot(fault: FaultServer, db_url: str) -> None:
    import asyncio

    limit = Decimal("0.0001")

    async def main() -> list[str]:
        c = unyo.AsyncOpenAI(settings=fast_settings(fault, db_url=db_url, budget_daily_usd=str(limit)))

        async def one() -> str:
            try:
                await c.responses.create(input="hello", max_output_tokens=20)
                return "ok"
            except unyo.BudgetExceeded:
                return "refused"

        return await asyncio.gather(*(one() for _ in range(32)))

    outcomes = asyncio.run(main())
    settings = fast_settings(fault, db_url=db_url, budget_daily_usd=str(limit))
    spent, reserved = spent_today(settings)
    assert "ok" in outcomes and "refused" in outcomes
    assert spent <= limit and reserved == 0
    assert outcomes.count("ok") == fault.billed["requests"]


def test_mixed_scopes_under_concurrency_do_not_deadlock_or_overshoot(
    fault: FaultServer, db_url: str, clean_env: Path
) -> None:
    """Threads with different users and tags, each checked against different limits, reserve at
    once: every lock is taken in one global order, so PostgreSQL never aborts one as a deadlock."""
    from concurrent.futures import ThreadPoolExecutor

    (clean_env / "unyo.toml").write_text('[budget.tags.t1]\ndaily_usd = "0.00006"\n')
    settings = fast_settings(fault, db_url=db_url, budget_daily_usd="0.0002", budget_user_daily_usd="0.00005")

    def one(i: int) -> str:
        c = unyo.OpenAI(settings=settings, user=f"u{i % 3}", tag=f"t{i % 2}")
        try:
            c.responses.create(input="hello", max_output_tokens=20)
            return "ok"
        except unyo.BudgetExceeded as exc:
            return f"refused {exc.scope}"

    with ThreadPoolExecutor(24) as pool:
        outcomes = list(pool.map(one, range(48)))
    assert all(o == "ok" or o.startswith("refused") for o in outcomes)
    periods = settings.budget.period_keys()
    counters = ledger_for(settings).counters([periods["day"]])
    assert counters[("all", periods["day"])][0] <= Decimal("0.0002")
    assert all(spent <= Decimal("0.00005") for (scope, _), (spent, _r) in counters.items() if scope.startswith("user:"))
    assert counters[("tag:t1", periods["day"])][0] <= Decimal("0.00006")
    assert all(reserved == 0 for (_s, _p), (_sp, reserved) in counters.items())
