"""`unyo run TASK --input F --via batch-api`, as a user runs it, against the fault server's Files
and Batches endpoints: the uploaded requests are the ones the synchronous path sends, results land
in the same output file, the ledger charges the batch price exactly once (also after kill -9 and a
crash between creating the batch and journalling it), budgets hold before submitting, and rows a
batch could not answer are failed or left for the next run, never lost."""

from __future__ import annotations

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
from unyo.testing import FaultServer

from .conftest import ENV_PREFIXES, FAKE_KEY, run_cli
from .test_batch import env_for, read_csv, write_csv

TEXTS = [
    "請求書が二重に届きました",
    "The app crashes on login",
    "配送はいつですか",
    "Please cancel my plan",
    "パスワードを忘れました",
]
BATCH = ["--via", "batch-api", "--poll", "0.05"]


def run_batch(fault: FaultServer, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "run", "triage", "--input", "in.csv", "--output", "out.csv", *BATCH, *extra, env=env_for(fault, **(env or {}))
    )


def uploads(fault: FaultServer) -> list[list[dict]]:
    """The request lines of every JSONL file uploaded for a batch."""
    return [
        [json.loads(line) for line in f["_content"].decode().splitlines()]
        for f in fault.files.values()
        if f["purpose"] == "batch"
    ]


def posted(fault: FaultServer, path: str) -> int:
    return sum(1 for r in fault.requests if r["method"] == "POST" and r["path"] == path and "batch" not in r)


def ledger(home: Path) -> tuple[list[tuple], Decimal, Decimal]:
    """(calls, spent today, reserved) from the default SQLite ledger."""
    settings = unyo.load_settings(profile="openai", api_key=FAKE_KEY)
    from unyo._records._ledger import ledger_for

    led = ledger_for(settings)
    day = settings.budget.period_keys()["day"]
    spent, reserved = led.counters([day]).get(("all", day), (Decimal(0), Decimal(0)))
    with sqlite3.connect(home / "unyo.db") as db:
        calls = db.execute(
            "SELECT id, model, input_tokens, output_tokens, cost, budget, status FROM unyo_calls"
        ).fetchall()
    return calls, spent, reserved


def half_price_of_bill(fault: FaultServer, model: str) -> Decimal:
    from unyo._providers._catalog import model_info

    price = model_info(model).price.scaled(Decimal("0.5"))  # type: ignore[union-attr]
    return price.cost(unyo.Usage(fault.billed["input_tokens"], 0, fault.billed["output_tokens"]))


def test_the_batch_sends_the_synchronous_requests_and_charges_half(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", TEXTS)
    sync = run_cli("run", "triage", "--input", "in.csv", "--output", "sync.csv", env=env_for(fault))
    assert sync.returncode == 0, sync.stderr
    sync_bodies = sorted(json.dumps(r["body"], sort_keys=True, ensure_ascii=False) for r in fault.requests)
    fault.reset()
    home = Path(os.environ["UNYO_HOME"])
    calls_before, spent_before, _ = ledger(home)

    result = run_batch(fault)
    assert result.returncode == 0, result.stderr
    assert "submitted 5 rows as batch batch_" in result.stderr and "completed · 5/5 done" in result.stderr
    [lines] = uploads(fault)
    assert [line["custom_id"] for line in lines] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]  # custom_id is the row id (its position here)
    assert {line["method"] for line in lines} == {"POST"} and {line["url"] for line in lines} == {"/v1/responses"}
    # what the batch sends is exactly what the synchronous path sends
    assert sorted(json.dumps(line["body"], sort_keys=True, ensure_ascii=False) for line in lines) == sync_bodies
    assert posted(fault, "/responses") == 0  # nothing went out synchronously

    rows, sync_rows = read_csv(clean_env / "out.csv"), read_csv(clean_env / "sync.csv")
    assert [r["id"] for r in rows] == ["r1", "r2", "r3", "r4", "r5"]
    assert all(r["unyo_status"] == "ok" for r in rows)
    columns = [c for c in sync_rows[0] if c != "unyo_cost_usd"]
    assert [[r[c] for c in columns] for r in rows] == [
        [r[c] for c in columns] for r in sync_rows
    ]  # same results, same file layout
    for batch_row, sync_row in zip(rows, sync_rows):
        assert Decimal(batch_row["unyo_cost_usd"]) * 2 == Decimal(sync_row["unyo_cost_usd"])  # the batch price: 50 %

    calls, spent, reserved = ledger(home)
    new = calls[len(calls_before) :]
    assert len(new) == 5 and all(c[5].startswith("batch batch_") and c[6] == "completed" for c in new)
    assert reserved == 0  # the submission's hold was released at collection
    assert spent - spent_before == sum(Decimal(c[4]) for c in new) == half_price_of_bill(fault, new[0][1])


def test_chat_api_batches_go_to_the_chat_endpoint(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", TEXTS[:2])
    result = run_batch(fault, "--api", "chat")
    assert result.returncode == 0, result.stderr
    [lines] = uploads(fault)
    assert {line["url"] for line in lines} == {"/v1/chat/completions"} and all(
        "messages" in line["body"] for line in lines
    )
    assert all(r["unyo_status"] == "ok" for r in read_csv(clean_env / "out.csv"))


def test_no_wait_submits_and_the_same_command_collects(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", TEXTS)
    fault.batch_seconds = 1.0
    first = run_batch(fault, "--no-wait")
    assert first.returncode == 0, first.stderr
    assert "is in_progress at the provider (5 rows); run the same command to collect it" in first.stderr
    assert all(r["unyo_status"] == "pending" for r in read_csv(clean_env / "out.csv"))  # every row is there already
    time.sleep(1.0)
    second = run_batch(fault)
    assert second.returncode == 0, second.stderr
    assert posted(fault, "/batches") == 1 and posted(fault, "/files") == 1  # collected, not submitted again
    assert all(r["unyo_status"] == "ok" for r in read_csv(clean_env / "out.csv"))


def test_kill_9_while_waiting_then_resume_collects_once(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", TEXTS)
    fault.batch_seconds = 2.0
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(env_for(fault, UNYO_BUDGET_DAILY_USD="10"), UNYO_HOME=os.environ["UNYO_HOME"])
    command = [sys.executable, "-m", "unyo", "run", "triage", "--input", "in.csv", "--output", "out.csv", *BATCH]
    proc = subprocess.Popen(command, env=env, cwd=clean_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(r["path"].startswith("/batches/") for r in fault.requests):
        time.sleep(0.02)  # the batch exists and is being polled
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    home = Path(os.environ["UNYO_HOME"])
    _, _, reserved = ledger(home)
    assert reserved > 0  # the hold outlives the killed process: the batch still runs at the provider
    time.sleep(2.0)
    resumed = run_batch(fault, env={"UNYO_BUDGET_DAILY_USD": "10"})
    assert resumed.returncode == 0, resumed.stderr
    assert posted(fault, "/batches") == 1 and len(uploads(fault)) == 1  # adopted, not submitted again
    assert all(r["unyo_status"] == "ok" for r in read_csv(clean_env / "out.csv"))
    calls, spent, reserved = ledger(home)
    assert len(calls) == 5 and reserved == 0
    assert spent == half_price_of_bill(fault, calls[0][1])


def test_a_crash_between_creating_and_journalling_the_batch_is_adopted(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", TEXTS)
    fault.batch_seconds = 0.5
    assert run_batch(fault, "--no-wait").returncode == 0
    with sqlite3.connect(clean_env / "out.csv.journal") as db:  # as if killed right after batches.create returned
        db.execute("UPDATE submissions SET batch_id = NULL, input_file_id = NULL")
    time.sleep(0.5)
    result = run_batch(fault)
    assert result.returncode == 0, result.stderr
    assert posted(fault, "/batches") == 1  # found by its unyo_submission metadata, not created twice
    assert all(r["unyo_status"] == "ok" for r in read_csv(clean_env / "out.csv"))


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_collecting_again_never_charges_twice(
    fault: FaultServer, clean_env: Path, store: str, request: pytest.FixtureRequest
) -> None:
    extra = {"UNYO_DB_URL": request.getfixturevalue("pg_url")} if store == "postgres" else {}
    write_csv(clean_env / "in.csv", TEXTS)
    assert run_batch(fault, env=extra).returncode == 0
    settings = unyo.load_settings(profile="openai", api_key=FAKE_KEY, db_url=extra.get("UNYO_DB_URL"))
    from unyo._records._ledger import ledger_for

    day = settings.budget.period_keys()["day"]
    spent = ledger_for(settings).counters([day])[("all", day)][0]
    with sqlite3.connect(clean_env / "out.csv.journal") as db:  # as if killed after the ledger, before the journal
        db.execute("DELETE FROM rows")
        db.execute("UPDATE submissions SET state = 'open'")
    again = run_batch(fault, env=extra)
    assert again.returncode == 0, again.stderr
    assert posted(fault, "/batches") == 1
    assert all(r["unyo_status"] == "ok" for r in read_csv(clean_env / "out.csv"))
    assert ledger_for(settings).counters([day])[("all", day)][0] == spent  # replayed, not charged again


def test_row_errors_fail_their_row_and_transient_ones_are_resubmitted(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", TEXTS)
    # r1 context too long, r2 answers invalid JSON (needs a repair), r3 a 500, r4 ok, r5 expires
    fault.script_batch("context", {"action": "ok", "text": "not json at all"}, "500", "ok")
    fault.batch_expire_after = 4
    first = run_batch(fault)
    assert first.returncode == 6, first.stderr
    assert "2 row(s) were not answered by their batch" in first.stderr
    rows = {r["id"]: r for r in read_csv(clean_env / "out.csv")}
    assert rows["r1"]["unyo_status"] == "failed" and "ContextTooLong" in rows["r1"]["unyo_error"]
    assert rows["r2"]["unyo_status"] == "failed" and "NotBatchable" in rows["r2"]["unyo_error"]
    assert rows["r2"]["unyo_cost_usd"]  # its answer was billed, and is on the row
    assert rows["r4"]["unyo_status"] == "ok"
    assert rows["r3"]["unyo_status"] == rows["r5"]["unyo_status"] == "pending"

    fault.batch_expire_after = None
    second = run_batch(fault)
    assert second.returncode == 8, second.stderr  # two rows failed for good (exit 8 tells cron)
    assert [line["custom_id"] for line in uploads(fault)[1]] == ["3", "5"]  # only the unanswered rows went again
    rows = {r["id"]: r for r in read_csv(clean_env / "out.csv")}
    assert [rows[i]["unyo_status"] for i in ("r1", "r2", "r3", "r4", "r5")] == ["failed", "failed", "ok", "ok", "ok"]

    fixed = run_cli(
        "run", "triage", "--input", "in.csv", "--output", "out.csv", "--retry-failed", env=env_for(fault)
    )  # synchronously
    assert fixed.returncode == 0, fixed.stderr
    assert all(r["unyo_status"] == "ok" for r in read_csv(clean_env / "out.csv"))


def test_the_budget_is_held_before_submitting(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", TEXTS)
    dry = run_batch(fault, "--dry-run", "--json")
    worst = Decimal(json.loads(dry.stdout)["worst_usd"])
    sync_dry = run_cli(
        "run", "triage", "--input", "in.csv", "--output", "out.csv", "--dry-run", "--json", env=env_for(fault)
    )
    assert Decimal(json.loads(sync_dry.stdout)["worst_usd"]) == worst * 2  # estimates at the batch price
    cap = worst * Decimal("0.5")  # room for about half of the rows' worst cases
    result = run_batch(fault, "--max-cost", str(cap))
    assert result.returncode == 4, result.stderr
    assert "budget reached before submitting" in result.stderr and "rows left, about $" in result.stderr
    [lines] = uploads(fault)
    assert 1 <= len(lines) < 5  # only what fits was submitted
    rows = read_csv(clean_env / "out.csv")
    assert sum(r["unyo_status"] == "ok" for r in rows) == len(lines)
    assert sum(Decimal(r["unyo_cost_usd"] or 0) for r in rows) <= cap


def test_a_failed_batch_releases_its_hold_and_says_why(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", TEXTS)
    fault.batch_fail = "the model gpt-5-mini is not available for batch"
    result = run_batch(fault, env={"UNYO_BUDGET_DAILY_USD": "10"})
    assert result.returncode == 7
    assert "failed at the provider: the model gpt-5-mini is not available for batch" in result.stderr
    _, _, reserved = ledger(Path(os.environ["UNYO_HOME"]))
    assert reserved == 0
    fault.batch_fail = None
    assert run_batch(fault, env={"UNYO_BUDGET_DAILY_USD": "10"}).returncode == 0  # its rows are simply to do again
    assert all(r["unyo_status"] == "ok" for r in read_csv(clean_env / "out.csv"))


def test_a_dead_upstream_stops_cleanly_and_loses_nothing(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", TEXTS)
    fault.script("503", "503", "503")  # every attempt at the upload
    result = run_batch(fault, env={"UNYO_BUDGET_DAILY_USD": "10"})
    assert result.returncode == 6 and "could not submit the batch: ServerError: upload the batch file" in result.stderr
    assert FAKE_KEY not in result.stderr
    assert all(r["unyo_status"] == "pending" for r in read_csv(clean_env / "out.csv"))
    _, _, reserved = ledger(Path(os.environ["UNYO_HOME"]))
    assert reserved == 0
    assert run_batch(fault).returncode == 0


def test_profiles_without_a_batch_api_are_refused(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", TEXTS[:1])
    local = run_cli("run", "triage", "--input", "in.csv", "--output", "out.csv", *BATCH, env={"UNYO_PROFILE": "local"})
    assert local.returncode == 3 and "has no Batch API" in local.stderr
    other = run_cli("run", "triage", "--input", "in.csv", "--output", "out.csv", *BATCH, env={"UNYO_PROFILE": "vllm"})
    assert other.returncode == 3 and "batch_price" in other.stderr


def test_ctrl_c_while_waiting_leaves_the_batch_running(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", TEXTS)
    fault.batch_seconds = 1.5
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(env_for(fault), UNYO_HOME=os.environ["UNYO_HOME"])
    command = [sys.executable, "-m", "unyo", "run", "triage", "--input", "in.csv", "--output", "out.csv", *BATCH]
    proc = subprocess.Popen(command, env=env, cwd=clean_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(r["path"].startswith("/batches/") for r in fault.requests):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "submitted batches keep running at the provider" in stderr and "Run the same command to continue" in stderr
    assert all(r["unyo_status"] == "pending" for r in read_csv(clean_env / "out.csv"))
    time.sleep(1.5)
    assert run_batch(fault).returncode == 0
    assert posted(fault, "/batches") == 1
    assert all(r["unyo_status"] == "ok" for r in read_csv(clean_env / "out.csv"))


def test_rows_needing_map_reduce_fail_at_planning_with_a_way_out(fault: FaultServer, clean_env: Path) -> None:
    long = "\n\n".join(f"## 第{i}章\n" + "この章では請求の手順と確認事項を詳しく説明します。" * 8 for i in range(1, 6))
    write_csv(clean_env / "in.csv", ["短い文書です。", long])
    args = ("run", "summarize", "--input", "in.csv", "--output", "out.csv", "--set", "part_tokens=120")
    result = run_cli(*args, *BATCH, "--allow-failures", env=env_for(fault))
    assert result.returncode == 0, result.stderr
    rows = read_csv(clean_env / "out.csv")
    assert rows[0]["unyo_status"] == "ok"
    assert (
        rows[1]["unyo_status"] == "failed"
        and "NotBatchable" in rows[1]["unyo_error"]
        and "map over" in rows[1]["unyo_error"]
    )
    assert [line["custom_id"] for line in uploads(fault)[0]] == ["1"]  # the long row was never uploaded
    fixed = run_cli(*args, "--retry-failed", env=env_for(fault))  # synchronously: map -> reduce
    assert fixed.returncode == 0, fixed.stderr
    rows = read_csv(clean_env / "out.csv")
    assert rows[1]["unyo_status"] == "ok" and int(rows[1]["parts"]) > 1


def test_a_draft_with_problems_is_kept_and_flagged_instead_of_rewritten(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", ["返金は3営業日以内に処理します。", "配送は明日です。"])
    bad = json.dumps(
        {"subject": "返金について", "body": "返金は必ず3営業日以内、手数料500円で処理します。"}, ensure_ascii=False
    )
    fault.script_batch({"action": "ok", "text": bad}, "ok")
    result = run_cli("run", "draft", "--input", "in.csv", "--output", "out.csv", *BATCH, env=env_for(fault))
    assert result.returncode == 0, result.stderr
    rows = read_csv(clean_env / "out.csv")
    assert [r["unyo_status"] for r in rows] == ["ok", "ok"]
    assert rows[0]["needs_human"] == "true" and "必ず" in rows[0]["violations"] and "500" in rows[0]["violations"]
    assert rows[1]["needs_human"] == "false"
