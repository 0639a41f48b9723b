"""The batch runner, as a user runs it and as a library: resume after kill -9 (every row exactly
once, ledger equal to the server's bill), a 429 storm, 5xx bursts and hangs, bad files, the
budget, XLSX round trips — against the fault server; and the sample file on the local model."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

import unyo
from unyo._jobs._batch import BatchOptions, Runner, batch_settings
from unyo._jobs._tasks import find
from unyo.testing import FaultServer

from .conftest import ENV_PREFIXES, FAKE_KEY, fast_settings, run_cli

REPO = Path(__file__).resolve().parents[1]


def env_for(fault: FaultServer, **extra: str) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": FAKE_KEY,
        "OPENAI_BASE_URL": fault.url,
        "UNYO_MODEL": "gpt-4o-mini",
        "UNYO_BACKOFF_BASE_S": "0.01",
        **extra,
    }


def write_csv(path: Path, texts: list[str], encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "text"])
        for i, text in enumerate(texts, 1):
            writer.writerow([f"r{i}", text])
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def runner(fault: FaultServer, tmp: Path, texts: list[str], **kw: object) -> Runner:
    settings = fast_settings(fault, read_timeout_s=0.5)
    task = find("triage")
    kw = {"concurrency": 4, **kw}
    options = BatchOptions(
        task=task,
        input=write_csv(tmp / "in.csv", texts),
        output=tmp / "out.csv",
        column="text",
        rpm=6000,
        backoff_s=0.01,
        call_options={"tag": "t"},
        **kw,  # type: ignore[arg-type]
    )
    return Runner(options, unyo.OpenAI(settings=batch_settings(settings, "t", options.max_cost)))


def test_cli_batch_writes_every_row_with_results_and_errors(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", ["請求書が二重です", "", "app crashes", "弁護士に相談しています"])
    result = run_cli("run", "triage", "--input", "in.csv", "--output", "out.csv", env=env_for(fault))
    assert result.returncode == 8, result.stderr  # the empty row failed: cron notices
    again = run_cli("run", "triage", "--input", "in.csv", "--output", "out.csv", "--allow-failures", env=env_for(fault))
    assert again.returncode == 0 and "nothing to do: 3 rows already done, 1 failed" in again.stderr
    rows = read_csv(clean_env / "out.csv")
    assert [r["id"] for r in rows] == ["r1", "r2", "r3", "r4"]
    assert [r["unyo_status"] for r in rows] == ["ok", "failed", "ok", "ok"]
    assert rows[1]["unyo_error"] == "empty input"
    assert rows[0]["category"] == "billing" and rows[0]["urgency"] == "1"
    assert rows[3]["needs_human"] == "true" and "弁護士" in rows[3]["needs_human_reason"]
    assert "3 ok, 1 failed, 0 pending of 4 rows" in result.stderr
    assert len(fault.requests) == 3  # the empty row was never sent


def test_kill_9_mid_batch_then_resume_runs_each_row_once(fault: FaultServer, clean_env: Path) -> None:
    texts = [f"inquiry number {i}" for i in range(1, 21)]
    write_csv(clean_env / "in.csv", texts)
    fault.default_action = {"action": "ok", "delay": 0.15}
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(env_for(fault, UNYO_BUDGET_DAILY_USD="10"), UNYO_HOME=os.environ["UNYO_HOME"])
    command = [
        sys.executable,
        "-m",
        "unyo",
        "run",
        "triage",
        "--input",
        "in.csv",
        "--output",
        "out.csv",
        "--concurrency",
        "3",
        "--rpm",
        "6000",
    ]
    proc = subprocess.Popen(command, env=env, cwd=clean_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = clean_env / "out.csv.journal"
    deadline = time.monotonic() + 60
    done_at_kill = 0
    while time.monotonic() < deadline:
        if journal.exists():
            try:
                with sqlite3.connect(journal) as db:
                    done_at_kill = db.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
            except sqlite3.OperationalError:  # the file exists before its table does
                continue
            if done_at_kill >= 6:
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 6 <= done_at_kill < 20
    sent_before = len(fault.requests)
    fault.default_action = {"action": "ok"}
    resumed = run_cli(
        "run",
        "triage",
        "--input",
        "in.csv",
        "--output",
        "out.csv",
        "--json",
        env=env_for(fault, UNYO_BUDGET_DAILY_USD="10"),
        cwd=clean_env,
    )
    assert resumed.returncode == 0, resumed.stderr
    rows = read_csv(clean_env / "out.csv")
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(1, 21)]  # every row, once, in input order
    assert all(r["unyo_status"] == "ok" for r in rows)
    with sqlite3.connect(journal) as db:
        journaled = db.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    assert journaled == 20
    resent = len(fault.requests) - sent_before
    assert resent <= 20 - done_at_kill + 3  # only unfinished rows (plus what was in flight at the kill) went again
    settings = unyo.load_settings(
        profile="openai", api_key=FAKE_KEY, base_url=fault.url, model="gpt-4o-mini", budget_daily_usd="10"
    )
    from unyo._providers._catalog import model_info
    from unyo._records._ledger import ledger_for

    ledger = ledger_for(settings)
    price = model_info(settings.profile.resolve_model(settings.model)[0]).price  # the default model
    billed = price.cost(unyo.Usage(fault.billed["input_tokens"], 0, fault.billed["output_tokens"]))  # type: ignore[union-attr]
    day = settings.budget.period_keys()["day"]
    spent, reserved = ledger.counters([day])[("all", day)]
    assert reserved == 0 and ledger.reservations() == []  # the killed process's holds were released
    one_call = max(Decimal(r["unyo_cost_usd"]) for r in rows)
    # Nothing is charged twice: the ledger holds each settled call once. What it cannot hold is
    # what the server billed for the calls in flight when the process died (at most --concurrency).
    assert spent <= billed <= spent + 3 * one_call * Decimal("1.2")


def test_a_429_storm_slows_down_and_loses_nothing(fault: FaultServer, tmp_path: Path) -> None:
    fault.limit(4, per_s=0.5)  # 8 requests/s at most
    r = runner(fault, tmp_path, [f"row {i}" for i in range(30)])
    summary = r.run()
    assert summary.ok == 30 and summary.failed == 0 and summary.pending == 0
    assert summary.rate_limited > 0 and fault.rate_limited == summary.rate_limited
    assert r.limiter.rpm < 6000  # it backed off
    assert sorted(x["id"] for x in read_csv(tmp_path / "out.csv")) == sorted(f"r{i}" for i in range(1, 31))


def test_5xx_bursts_hangs_and_cut_connections_are_retried(fault: FaultServer, tmp_path: Path) -> None:
    fault.script("500", "503", "hang", "reset", "502", "malformed")
    summary = runner(fault, tmp_path, [f"row {i}" for i in range(8)]).run()
    assert summary.ok == 8 and summary.failed == 0 and summary.retries >= 6


def test_row_errors_do_not_stop_the_batch(fault: FaultServer, tmp_path: Path) -> None:
    huge = "word " * 200_000  # beyond the context window: refused before sending
    summary = runner(fault, tmp_path, ["fine", huge, "also fine"]).run()
    rows = read_csv(tmp_path / "out.csv")
    assert [r["unyo_status"] for r in rows] == ["ok", "failed", "ok"]
    assert "ContextTooLong" in rows[1]["unyo_error"] and summary.ok == 2
    assert len(fault.requests) == 2


def test_retry_failed_reruns_only_failed_rows(fault: FaultServer, tmp_path: Path) -> None:
    fault.script(*[{"action": "ok", "text": "not json"}] * 3)  # one row: the call and both repairs invalid
    r = runner(fault, tmp_path, ["first"], concurrency=1)
    assert r.run().failed == 1
    assert "OutputInvalid" in read_csv(tmp_path / "out.csv")[0]["unyo_error"]
    again = runner(fault, tmp_path, ["first"])
    assert again.run().failed == 1 and len(fault.requests) == 3  # not retried without --retry-failed
    retried = runner(fault, tmp_path, ["first"], retry_failed=True).run()
    assert retried.ok == 1 and read_csv(tmp_path / "out.csv")[0]["unyo_status"] == "ok"


def test_max_cost_stops_cleanly_then_resumes(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", [f"inquiry {i}" for i in range(30)])
    args = ("run", "triage", "--input", "in.csv", "--output", "out.csv", "--concurrency", "2")
    stopped = run_cli(*args, "--max-cost", "0.0015", env=env_for(fault))  # gpt-4o-mini: ~$0.00007 a row
    assert stopped.returncode == 4, stopped.stderr
    assert "--max-cost $0.0015 reached" in stopped.stderr and "rows left, about $" in stopped.stderr
    rows = read_csv(clean_env / "out.csv")
    statuses = [r["unyo_status"] for r in rows]
    assert len(rows) == 30 and "pending" in statuses and statuses.count("ok") >= 3
    spent = sum(Decimal(r["unyo_cost_usd"]) for r in rows if r["unyo_cost_usd"])
    assert spent <= Decimal("0.0015")
    finished = run_cli(*args, "--max-cost", "1", env=env_for(fault))
    assert finished.returncode == 0, finished.stderr
    assert [r["unyo_status"] for r in read_csv(clean_env / "out.csv")] == ["ok"] * 30, [
        r["unyo_error"] for r in read_csv(clean_env / "out.csv")
    ]


def test_dry_run_estimates_and_sends_nothing(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", ["請求書について", "app crash"])
    result = run_cli("run", "triage", "--input", "in.csv", "--dry-run", "--json", env=env_for(fault))
    assert result.returncode == 0, result.stderr
    estimate = json.loads(result.stdout)
    assert (
        estimate["rows"] == 2
        and estimate["input_tokens"] > 100
        and Decimal(estimate["worst_usd"]) > Decimal(estimate["expected_usd"]) > 0
    )
    assert fault.requests == []


def test_bad_files_get_clear_errors(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", ["a"])
    missing = run_cli("run", "triage", "--input", "in.csv", "--column", "body", env=env_for(fault))
    assert missing.returncode == 2 and "no column 'body'" in missing.stderr and "['id', 'text']" in missing.stderr
    (clean_env / "bad.csv").write_bytes(b"id,text\n1,\x81\x7f\x81\x7f broken\n")
    wrong = run_cli("run", "triage", "--input", "bad.csv", env=env_for(fault))
    assert wrong.returncode == 2 and "--encoding" in wrong.stderr
    (clean_env / "bad.jsonl").write_text('{"text": "ok"}\n{"text": broken\n', encoding="utf-8")
    broken = run_cli("run", "triage", "--input", "bad.jsonl", env=env_for(fault))
    assert broken.returncode == 2 and "bad.jsonl:2" in broken.stderr
    (clean_env / "fake.xlsx").write_text("not a workbook")
    assert run_cli("run", "triage", "--input", "fake.xlsx", env=env_for(fault)).returncode == 2
    assert fault.requests == []
    write_csv(
        clean_env / "sjis.csv", ["請求書が届きません", "ログインできない"], encoding="cp932"
    )  # as Japanese Excel saves it
    ok = run_cli("run", "triage", "--input", "sjis.csv", "--output", "sjis.out.csv", env=env_for(fault))
    assert ok.returncode == 0, ok.stderr
    assert [r["text"] for r in read_csv(clean_env / "sjis.out.csv")] == ["請求書が届きません", "ログインできない"]
    sent = [json.dumps(r["body"], ensure_ascii=False) for r in fault.requests]  # rows run concurrently: any order
    assert any("請求書が届きません" in body for body in sent) and any("ログインできない" in body for body in sent)


def test_changed_input_is_refused_on_resume(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", ["one", "two"])
    assert run_cli("run", "triage", "--input", "in.csv", env=env_for(fault)).returncode == 0
    write_csv(clean_env / "in.csv", ["one", "CHANGED"])
    changed = run_cli("run", "triage", "--input", "in.csv", env=env_for(fault))
    assert changed.returncode == 2 and "changed since" in changed.stderr and "--restart" in changed.stderr
    assert run_cli("run", "triage", "--input", "in.csv", "--restart", env=env_for(fault)).returncode == 0


def test_xlsx_and_jsonl_round_trip(fault: FaultServer, clean_env: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["番号", "問い合わせ"])
    sheet.append([1, "請求書の再発行をお願いします"])
    sheet.append([2, "+81 3 1234 5678 から電話しました"])
    book.save(clean_env / "in.xlsx")
    fault.script(
        {
            "action": "ok",
            "text": json.dumps(
                {
                    "category": "billing",
                    "urgency": 2,
                    "summary": "=cmd|' /C calc'!A0 summary",
                    "reply_draft": "確認いたします。少々お待ちください。",
                    "confidence": 0.9,
                }
            ),
        }
    )
    result = run_cli(
        "run",
        "triage",
        "--input",
        "in.xlsx",
        "--column",
        "問い合わせ",
        "--output",
        "out.xlsx",
        "--concurrency",
        "1",
        env=env_for(fault),
    )
    assert result.returncode == 0, result.stderr
    out = openpyxl.load_workbook(clean_env / "out.xlsx").active
    values = list(out.iter_rows(values_only=True))
    header = list(values[0])
    assert header[:2] == ["番号", "問い合わせ"] and "category" in header and "unyo_status" in header
    assert [v[header.index("unyo_status")] for v in values[1:]] == ["ok", "ok"]
    assert all(
        not str(v).startswith(("=", "+", "@")) for row in values[1:] for v in row if isinstance(v, str)
    )  # nothing becomes a formula
    (clean_env / "in.jsonl").write_text('{"text": "hello", "meta": {"k": 1}}\n{"text": "world"}\n', encoding="utf-8")
    assert run_cli("run", "triage", "--input", "in.jsonl", env=env_for(fault)).returncode == 0
    lines = [json.loads(x) for x in (clean_env / "in.out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert lines[0]["meta"] == {"k": 1} and lines[0]["unyo_status"] == "ok" and "category" in lines[0]


@pytest.mark.local_model
def test_the_sample_file_on_the_local_model(clean_env: Path) -> None:
    sample = REPO / "samples" / "inquiries.csv"
    result = run_cli("run", "triage", "--input", str(sample), "--output", "out.csv", "--profile", "local", timeout=600)
    assert result.returncode == 0, result.stderr
    rows = read_csv(clean_env / "out.csv")
    assert len(rows) == 8 and all(r["unyo_status"] == "ok" for r in rows)
    assert all(r["category"] in ("billing", "bug", "account", "feature_request", "other") for r in rows)
    assert rows[4]["needs_human"] == "true"  # the lawyer / personal-data inquiry is always escalated
