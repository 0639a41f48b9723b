"""One batch job over many hosts (issue 13 section 3): real `unyo run` processes, the real
PostgreSQL journal, the fault server as the provider. Each worker has its own directory and its
own copy of the input, as on separate hosts."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from unyo.testing import FaultServer

from .conftest import run_cli

CONCURRENCY = 4


@pytest.fixture
def own_server() -> Any:
    with FaultServer() as srv:
        yield srv


def _input(path: Path, rows: int) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text"])
        writer.writerows([[f"inquiry {i}: 請求書の再発行をお願いします"] for i in range(rows)])
    return path


def _workers(tmp: Path, server: FaultServer, pg_url: str, rows: int, n: int, *extra: str) -> list[Any]:
    source = _input(tmp / "in.csv", rows)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "UNYO_"))}
    env.update(
        OPENAI_API_KEY=f"sk-test-{uuid.uuid4().hex}",
        OPENAI_BASE_URL=server.url,
        UNYO_MODEL="gpt-4o-mini",
        UNYO_DB_URL=pg_url,
        UNYO_LANG="en",
    )
    procs = []
    for i in range(n):
        host = tmp / f"host{i}"
        host.mkdir()
        shutil.copy(source, host / "in.csv")  # the same file, copied to each host
        procs.append(
            subprocess.Popen(
                [
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
                    str(CONCURRENCY),
                    "--lease",
                    "2",
                    *extra,
                ],
                cwd=host,
                env={**env, "UNYO_HOME": str(host / "home")},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
        )
    return procs


def _generations(server: FaultServer) -> int:
    return sum(1 for r in server.requests if r["path"] in ("/responses", "/chat/completions"))


def _outputs(tmp: Path, n: int) -> list[Path]:
    return [p for p in (tmp / f"host{i}" / "out.csv" for i in range(n)) if p.exists()]


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.timeout(400)  # 2000 rows in three processes on a shared 2-core machine
def test_three_workers_one_killed_every_row_exactly_once(own_server: FaultServer, pg_url: str, tmp_path: Path) -> None:
    rows = 2000
    own_server.provider(rpm=10_000_000, tpm=10_000_000_000, latency_s=0.03)  # headers, no binding limit
    procs = _workers(tmp_path, own_server, pg_url, rows, 3)
    deadline = time.monotonic() + 120
    while _generations(own_server) < rows // 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert procs[0].poll() is None, procs[0].communicate()
    os.kill(procs[0].pid, signal.SIGKILL)  # mid-run, holding claims (sent and queued)
    procs[0].wait(10)
    for p in procs[1:]:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    written = _outputs(tmp_path, 3)
    assert len(written) == 1  # written once, by whichever worker finished last
    table = _read(written[0])
    assert [r["text"] for r in table] == [
        f"inquiry {i}: 請求書の再発行をお願いします" for i in range(rows)
    ]  # input order
    assert all(r["unyo_status"] == "ok" for r in table)  # every row, exactly once, done
    bill = _generations(own_server)
    print(f"bill {bill} requests for {rows} rows")
    assert rows <= bill <= rows + 3 * CONCURRENCY  # the dead worker's unanswered rows are the only repeats
    with psycopg.connect(pg_url) as conn:
        by_worker = conn.execute("SELECT worker, COUNT(*) FROM unyo_batch_rows GROUP BY worker").fetchall()
        status = conn.execute("SELECT status, COUNT(*) FROM unyo_batch_rows GROUP BY status").fetchall()
    assert status == [("ok", rows)]
    assert len(by_worker) == 3 and all(n > 0 for _, n in by_worker)  # the killed one had done some too


@pytest.mark.timeout(300)
def test_max_cost_holds_across_workers(own_server: FaultServer, pg_url: str, tmp_path: Path) -> None:
    rows, cap = 400, Decimal("0.03")
    own_server.provider(rpm=10_000_000, tpm=10_000_000_000, latency_s=0.03)
    procs = _workers(tmp_path, own_server, pg_url, rows, 3, "--max-cost", str(cap))
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [4, 4, 4], [err[-2000:] for _, err in results]  # stopped by --max-cost
    with psycopg.connect(pg_url) as conn:
        (job,) = conn.execute("SELECT id FROM unyo_batch_jobs").fetchone()
        done = conn.execute("SELECT COUNT(*), SUM(cost) FROM unyo_batch_rows WHERE status = 'ok'").fetchone()
        billed = conn.execute("SELECT SUM(cost) FROM unyo_calls WHERE tag = %s", [f"job:{job}"]).fetchone()[0]
        counter = conn.execute(
            "SELECT spent, reserved FROM unyo_counters WHERE scope = %s AND period = 'total'", [f"tag:job:{job}"]
        ).fetchone()
    print(f"{done[0]} rows done, billed ${billed} of ${cap}, {_generations(own_server)} requests")
    assert 0 < done[0] < rows  # it ran, and stopped before the end
    assert Decimal(str(done[1])) <= Decimal(str(billed)) <= cap  # never passed, across the three workers
    assert Decimal(str(counter[0])) == Decimal(str(billed)) and Decimal(str(counter[1])) == 0
    assert _generations(own_server) <= done[0] + 3 * CONCURRENCY
    written = _outputs(tmp_path, 3)
    assert len(written) == 1
    table = _read(written[0])
    assert len(table) == rows and sum(r["unyo_status"] == "ok" for r in table) == done[0]
    assert {r["unyo_status"] for r in table} == {"ok", "pending"}


def test_a_worker_with_another_input_is_refused_and_collect_writes_the_output(
    own_server: FaultServer, pg_url: str, tmp_path: Path
) -> None:
    own_server.provider(rpm=10_000_000, tpm=10_000_000_000, latency_s=0.0)
    (p,) = _workers(tmp_path, own_server, pg_url, 30, 1, "--job", "nightly")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err[-2000:]
    host = tmp_path / "host0"
    (host / "out.csv").unlink()
    _input(host / "in.csv", 31)  # another file under the same --job
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "UNYO_"))}
    env.update(OPENAI_API_KEY="sk-test-x", OPENAI_BASE_URL=own_server.url, UNYO_MODEL="gpt-4o-mini",
               UNYO_DB_URL=pg_url, UNYO_LANG="en", UNYO_HOME=str(host / "home"))  # fmt: skip
    command = [sys.executable, "-m", "unyo", "run", "triage", "--input", "in.csv", "--output", "out.csv"]
    refused = subprocess.run([*command, "--job", "nightly"], cwd=host, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "job nightly has 30 rows of another input" in refused.stderr
    _input(host / "in.csv", 30)
    before = _generations(own_server)
    collected = subprocess.run(
        [*command, "--job", "nightly", "--collect"], cwd=host, env=env, capture_output=True, text=True
    )
    assert collected.returncode == 0, collected.stderr
    assert "collected: 30 ok, 0 failed, 0 pending of 30 rows" in collected.stderr
    assert _generations(own_server) == before  # nothing sent
    assert [r["unyo_status"] for r in _read(host / "out.csv")] == ["ok"] * 30


def test_collect_writes_a_local_journal_too(fault: FaultServer, clean_env: Path) -> None:
    _input(clean_env / "in.csv", 5)
    env = {"OPENAI_API_KEY": "sk-test-x", "OPENAI_BASE_URL": fault.url, "UNYO_MODEL": "gpt-4o-mini"}
    args = ("run", "triage", "--input", "in.csv", "--output", "out.csv")
    none_yet = run_cli(*args, "--collect", env=env)
    assert none_yet.returncode == 2 and "no journal for out.csv" in none_yet.stderr
    assert run_cli(*args, env=env).returncode == 0
    (clean_env / "out.csv").unlink()
    sent = len(fault.requests)
    collected = run_cli(*args, "--collect", env=env)
    assert collected.returncode == 0 and "collected: 5 ok, 0 failed, 0 pending of 5 rows" in collected.stderr
    assert len(fault.requests) == sent and [r["unyo_status"] for r in _read(clean_env / "out.csv")] == ["ok"] * 5


def _journal_pair(pg_url: str, rows: int, lease_s: float = 60.0) -> tuple[Any, Any]:
    """Two workers of one job in this process, on the real PostgreSQL journal."""
    from types import SimpleNamespace

    from unyo._jobs._batch._pg_journal import PgJournal
    from unyo._records._store import open_store

    store = open_store(pg_url)
    work = [SimpleNamespace(id=str(i), index=i, hash=f"h{i}") for i in range(rows)]
    meta = {"task": "triage", "column": "text", "id_column": ""}
    pair = PgJournal(store, "two", lease_s), PgJournal(store, "two", lease_s)
    for journal in pair:
        journal.join(meta, work)
        journal.enlist()
    return pair


def _finish(journal: Any, ids: list[str]) -> None:
    for row_id in ids:
        journal.record(row_id, f"h{row_id}", "ok", {"label": "x"}, None, Decimal("0.001"), 1, 1)


def _end(journal: Any) -> bool:
    """A worker's end as SharedRunner.run does it: did it write the output?"""
    journal.release()
    journal.leave()
    journal.wait_for_the_silent(poll_s=0.05)
    with journal.writer() as write:
        return write


@contextmanager
def _beating(journal: Any) -> Iterator[None]:
    """A live worker: its heartbeat renews its entry (as SharedRunner's does, every lease/3)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(journal.lease_s / 3):
            journal.renew()

    thread = threading.Thread(target=beat)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_a_worker_that_ends_while_another_still_has_rows_to_claim_does_not_write(pg_url: str) -> None:
    a, b = _journal_pair(pg_url, 10, lease_s=0.6)
    with _beating(b):
        _finish(a, a.claim(4))
        _finish(b, b.claim(2))  # b is alive and holds no claim at this instant
        writes = [_end(a)]  # a stops (--max-cost for it alone, a budget, Ctrl-C): b still has rows to claim
        _finish(b, b.claim(10))
        assert b.claim(10) == []
    writes.append(_end(b))
    assert writes == [False, True]  # exactly one write: the complete one
    with a.store.tx(write=False) as tx:
        assert tx.execute("SELECT written_rows, written_by FROM unyo_batch_jobs WHERE id = 'two'")[0] == (10, b.worker)


def test_the_last_stopped_worker_writes_once_a_killed_workers_entry_expires(pg_url: str) -> None:
    dead, alive = _journal_pair(pg_url, 10, lease_s=1.0)
    assert len(dead.claim(3)) == 3  # then kill -9: it never renews, never leaves
    _finish(alive, alive.claim(2))
    started = time.monotonic()
    assert _end(alive) is True  # stopped with rows left: it waits out the dead entry, then writes
    assert 0.3 < time.monotonic() - started < 10  # it waited for the dead worker's lease, not forever


def test_a_stopped_worker_leaves_the_output_to_a_live_one(pg_url: str) -> None:
    a, b = _journal_pair(pg_url, 10, lease_s=1.0)
    _finish(a, a.claim(2))
    with _beating(b):
        assert _end(a) is False  # it sees b renew: b decides when it ends
        _finish(b, b.claim(3))
    assert _end(b) is True  # b stops with rows left and no one else alive: it writes
