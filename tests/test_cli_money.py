"""`unyo usage / budget / logs / estimate` and `ask --json` cost, run as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from unyo.testing import FaultServer

from .conftest import FAKE_KEY, run_cli


def env_for(fault: FaultServer, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url, "UNYO_MODEL": "gpt-4o-mini", **extra}


def ask(fault: FaultServer, prompt: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "ask", "--json", "--no-stream", "--max-output-tokens", "30", *args, prompt, env=env_for(fault, **env)
    )


def test_ask_json_reports_cost_and_budget_decision(fault: FaultServer) -> None:
    result = ask(fault, "hello", "--user", "u1", "--tag", "triage", UNYO_BUDGET_DAILY_USD="1")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert Decimal(record["cost_usd"]) > 0 and record["budget"] == "reserved"
    assert Decimal(record["worst_case_usd"]) >= Decimal(record["cost_usd"])


def test_ask_refused_by_budget_exits_4_with_a_hint(fault: FaultServer) -> None:
    result = ask(fault, "hello", UNYO_MAX_REQUEST_USD="0.000001")
    assert result.returncode == 4
    assert "BudgetExceeded" in result.stderr and "not sent" in result.stderr and "hint:" in result.stderr
    assert fault.requests == []


def test_ask_unpriced_model_exits_3_with_how_to_price_it(fault: FaultServer) -> None:
    result = ask(fault, "hello", "-m", "mystery-model", UNYO_BUDGET_DAILY_USD="1")
    assert result.returncode == 3
    assert '[models."mystery-model"]' in result.stderr


def test_soft_threshold_warning_is_one_plain_line(fault: FaultServer) -> None:
    results = [ask(fault, "hello", UNYO_BUDGET_DAILY_USD="0.00005", UNYO_SOFT_THRESHOLD="0.3") for _ in range(3)]
    warnings = [line for r in results for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "day limit $0.00005" in warnings[0]


def _spend(fault: FaultServer) -> None:
    for user, tag in (("alice", "triage"), ("alice", "summary"), ("bob", "triage")):
        assert ask(fault, f"work for {user}", "--user", user, "--tag", tag, UNYO_BUDGET_DAILY_USD="1").returncode == 0
    fault.script("400")
    ask(fault, "a bad one", "--user", "bob", UNYO_BUDGET_DAILY_USD="1")


def test_usage_json_groups_and_budgets(fault: FaultServer) -> None:
    _spend(fault)
    result = run_cli("usage", "--json", env=env_for(fault, UNYO_BUDGET_DAILY_USD="1"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["total"]["calls"] == 4 and report["total"]["failed"] == 1
    users = {r["key"]: r for r in report["groups"]["user"]}
    assert users["alice"]["calls"] == 2 and users["bob"]["calls"] == 2
    tags = {r["key"]: r["calls"] for r in report["groups"]["tag"]}
    assert tags == {"triage": 2, "summary": 1, "-": 1}
    billed = (
        fault.billed["input_tokens"] * Decimal("0.15") + fault.billed["output_tokens"] * Decimal("0.60")
    ) / 1_000_000
    assert Decimal(report["total"]["cost_usd"]) == billed
    day = [b for b in report["budgets"] if b["period"] != "request"][0]
    assert Decimal(day["spent"]) == billed and Decimal(day["remaining"]) == Decimal(1) - billed


def test_usage_table_and_budget_table(fault: FaultServer) -> None:
    _spend(fault)
    result = run_cli("usage", "--by", "model", env=env_for(fault))
    assert result.returncode == 0 and "gpt-4o-mini" in result.stdout and "4 calls" in result.stdout
    result = run_cli("budget", env=env_for(fault, UNYO_BUDGET_DAILY_USD="1", UNYO_BUDGET_MONTHLY_USD="20"))
    assert result.returncode == 0, result.stderr
    assert "day limit $1" in result.stdout and "month limit $20" in result.stdout and "remaining" in result.stdout
    data = json.loads(run_cli("budget", "--json", env=env_for(fault, UNYO_BUDGET_DAILY_USD="1")).stdout)
    assert data["limits"][0]["reserved"] == "0" and Decimal(data["limits"][0]["spent"]) > 0


def test_logs_filters_and_json(fault: FaultServer) -> None:
    _spend(fault)
    rows = [json.loads(line) for line in run_cli("logs", "--json", env=env_for(fault)).stdout.splitlines()]
    assert len(rows) == 4 and all("cost" in r and "input_tokens" in r for r in rows)
    failed = [
        json.loads(line)
        for line in run_cli("logs", "--json", "--status", "failed", env=env_for(fault)).stdout.splitlines()
    ]
    assert len(failed) == 1 and failed[0]["error"] == "BadRequest"
    alice = run_cli("logs", "--json", "--user", "alice", "-n", "1", env=env_for(fault)).stdout.splitlines()
    assert len(alice) == 1 and json.loads(alice[0])["user_id"] == "alice"
    assert run_cli("logs", "--json", "--since", "2099-01-01", env=env_for(fault)).stdout == ""
    table = run_cli("logs", env=env_for(fault))
    assert table.returncode == 0 and "BadRequest" in table.stdout
    pruned = run_cli(
        "logs", "prune", "--days", "0", "--yes", env=env_for(fault)
    )  # today's records are what today's budget counts: kept
    assert (
        pruned.returncode == 0
        and "removed 0 " in pruned.stdout
        and len(run_cli("logs", "--json", env=env_for(fault)).stdout.splitlines()) == 4
    )
    assert run_cli("logs", "--since", "yesterday-ish", env=env_for(fault)).returncode == 2


def test_estimate_normal_and_worst_case_with_formula() -> None:
    result = run_cli(
        "estimate",
        "-m",
        "gpt-4o-mini",
        "--requests-per-day",
        "1000",
        "--input-tokens",
        "800",
        "--output-tokens",
        "200",
        "--max-output-tokens",
        "1000",
        "--retry-rate",
        "0.02",
        "--cache-hit-rate",
        "0.1",
        "--days",
        "30",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    per_normal = (800 * Decimal("0.15") + 200 * Decimal("0.60")) / 1_000_000
    per_worst = (800 * Decimal("0.15") + 1000 * Decimal("0.60")) / 1_000_000
    assert Decimal(data["monthly_normal"]) == (Decimal(30000) * Decimal("0.9") * Decimal("1.02") * per_normal).quantize(
        Decimal("0.01")
    )
    assert Decimal(data["monthly_worst"]) == (Decimal(30000) * Decimal("1.02") * per_worst).quantize(Decimal("0.01"))
    text = run_cli(
        "estimate", "-m", "gpt-4o-mini", "--requests-per-day", "1000", "--input-tokens", "800", "--output-tokens", "200"
    )
    assert "worst month" in text.stdout and "normal per request" in text.stdout
    bad = run_cli(
        "estimate",
        "-m",
        "mystery",
        "--requests-per-day",
        "1",
        "--input-tokens",
        "1",
        "--output-tokens",
        "1",
        env={"OPENAI_API_KEY": FAKE_KEY},
    )
    assert bad.returncode == 3 and "no price" in bad.stderr
    args = (
        "estimate",
        "-m",
        "gpt-4o-mini",
        "--requests-per-day",
        "1000",
        "--input-tokens",
        "800",
        "--output-tokens",
        "200",
        "--json",
    )
    batch = run_cli(*args, "--via", "batch-api", env={"OPENAI_API_KEY": FAKE_KEY})
    assert batch.returncode == 0, batch.stderr
    assert Decimal(json.loads(batch.stdout)["per_request_worst"]) * 2 == Decimal(
        json.loads(run_cli(*args).stdout)["per_request_worst"]
    )
    assert "Batch API at 50% of list prices" in json.loads(batch.stdout)["formula"][0]


@pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("UNYO_REQUIRE_CHROMIUM"),
    reason="chromium is installed by .ci/run",
)
def test_usage_html_report_renders_in_headless_chromium(fault: FaultServer, tmp_path: Path) -> None:
    _spend(fault)
    report = tmp_path / "report.html"
    result = run_cli("usage", "--html", str(report), env=env_for(fault, UNYO_BUDGET_DAILY_USD="1"))
    assert result.returncode == 0, result.stderr
    html = report.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html  # self-contained
    shot = tmp_path / "report.png"
    chromium = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run([*chromium, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'id="total-calls">4<' in dom.stdout and "By day" in dom.stdout and "<rect" in dom.stdout
    subprocess.run(
        [*chromium, f"--screenshot={shot}", "--window-size=1000,1400", report.as_uri()], capture_output=True, timeout=90
    )
    assert shot.exists() and shot.stat().st_size > 10_000  # a rendered page, not a blank one
