"""Reports at a million calls (issue 21): every report command, timed as a whole process.

    .venv/bin/python bench/reports.py                     # 1,000,000 calls, SQLite and PostgreSQL
    .venv/bin/python bench/reports.py --calls 100000 --stores sqlite

The ledger is written through unyo's own bulk write path (`Ledger.record_many`: executemany of
the call records, counters and rollups added once per key per batch), spread over 30 days
(busier in Tokyo working hours), 8 models, 50 users and 20 tags with skewed popularity, a few
failures, cache hits and model listings. The built ledger is cached between runs, keyed by its
parameters and the day: a SQLite file under /tmp/unyo-bench-reports/, a PostgreSQL schema
`bench_reports_<key>` in the test database (`--drop` removes it afterwards).

Each command runs as `python -m unyo ...` in its own process; time is wall time of the whole
process, memory its peak RSS (wait4). Baseline: the same command on an EMPTY ledger, in the same
run, so the ratio shows what a million calls add. Goals are the issue's.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PG_BASE = os.environ.get("UNYO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
CACHE = Path(tempfile.gettempdir()) / "unyo-bench-reports"
MODELS = [  # (model, role, $ per 1M input, cached input, output)
    ("gpt-5-mini", "default", "0.25", "0.025", "2.00"),
    ("gpt-5-nano", "fast", "0.05", "0.005", "0.40"),
    ("gpt-5", "smart", "1.25", "0.125", "10.00"),
    ("gpt-4.1-mini", "default", "0.40", "0.10", "1.60"),
    ("gpt-4.1", "smart", "2.00", "0.50", "8.00"),
    ("gpt-4o-mini", "fast", "0.15", "0.075", "0.60"),
    ("o4-mini", "reasoning", "1.10", "0.275", "4.40"),
    ("text-embedding-3-small", "embed", "0.02", "0.02", "0"),
]
STATUSES = [
    ("completed", 0.965),
    ("failed", 0.012),
    ("incomplete", 0.012),
    ("cancelled", 0.008),
    ("interrupted", 0.003),
]
PROMPT = "[instructions] 次の問い合わせを分類してください。\n[user] 請求書の再発行をお願いします。担当: <PERSON>"
OUTPUT = '{"category": "billing", "priority": "normal", "reply": "承知しました。再発行の手続きを進めます。"}'
GOAL_S, GOAL_MB, LOGS_GOAL_S = 1.0, 150, 0.3


def _weights(n: int, skew: float) -> list[float]:
    return [1 / (i + 1) ** skew for i in range(n)]


def build_records(calls: int, days: int, users: int, tags: int, now: float, seed: int = 21) -> Any:
    """Yield (cost, counter keys, record) for `calls` calls over the last `days` days."""
    from unyo._core._limits import counter_keys

    rng = random.Random(seed)
    hour_weight = [0.2 if h < 7 or h > 21 else (1.0 if 9 <= h <= 18 else 0.5) for h in range(24)]  # JST
    model_w, user_w, tag_w = _weights(len(MODELS), 1.0), _weights(users, 0.8), _weights(tags, 0.9)
    prices = [(m, r, Decimal(i), Decimal(c), Decimal(o)) for m, r, i, c, o in MODELS]
    status_names, status_w = zip(*STATUSES, strict=True)
    start = now - days * 86400
    million = Decimal(1_000_000)
    times = []
    while len(times) < calls:  # times in the window, weighted by the hour of day in Tokyo
        ts = start + rng.random() * (now - start)
        if rng.random() < hour_weight[int((ts + 9 * 3600) // 3600) % 24]:
            times.append(ts)
    times.sort()  # calls are written as they settle, in time order
    for n, ts in enumerate(times):
        local = datetime.fromtimestamp(ts).astimezone()
        day, month = local.strftime("%Y-%m-%d"), local.strftime("%Y-%m")
        user = f"user{rng.choices(range(users), user_w)[0]:02d}"
        tag = f"tag{rng.choices(range(tags), tag_w)[0]:02d}" if rng.random() < 0.9 else None
        api = "models" if rng.random() < 0.002 else "responses" if rng.random() < 0.7 else "chat"
        model, role, p_in, p_cached, p_out = prices[rng.choices(range(len(prices)), model_w)[0]]
        status = rng.choices(status_names, status_w)[0]
        hit = status == "completed" and rng.random() < 0.05
        inp = 0 if hit or api == "models" else int(rng.lognormvariate(6.5, 0.8))
        cached = min(inp, int(inp * rng.random() * 0.5)) if rng.random() < 0.3 else 0
        out = 0 if hit or api == "models" or status == "failed" else int(rng.lognormvariate(5, 0.7))
        reasoning = int(out * 0.6) if model == "o4-mini" else 0
        cost = Decimal(0) if hit else ((inp - cached) * p_in + cached * p_cached + out * p_out) / million
        latency = None if status == "failed" and rng.random() < 0.5 else round(rng.lognormvariate(0.2, 0.6), 4)
        record = {
            "id": f"call_{n:08d}",
            "ts": ts,
            "day": day,
            "month": month,
            "api": api,
            "profile": "openai",
            "host": "api.openai.com",
            "model": model if api != "models" else "(models)",
            "role": role if api != "models" else None,
            "user_id": user,
            "tag": tag,
            "status": status,
            "error": "rate_limit" if status == "failed" else None,
            "attempts": 1 + (status == "failed") * 2,
            "latency_s": latency,
            "ttft_s": round(latency / 3, 4) if latency else None,
            "input_tokens": inp,
            "cached_tokens": cached,
            "output_tokens": out,
            "reasoning_tokens": reasoning,
            "usage_reported": True,
            "cost": cost,
            "worst_case": cost * 3,
            "cache_hit": hit,
            "budget": "reserved",
            "request_id": f"req_{n:08x}",
            "response_id": f"resp_{n:08x}",
            "stream": n % 3 == 0,
            "content_policy": "masked",
            "prompt": PROMPT,
            "output": OUTPUT if out else None,
            "detail": '{"attempts": [], "max_output_tokens": 1024, "limiter_wait_s": 0.0}',
        }
        yield cost, counter_keys(user, tag, {"day": f"day:{day}", "month": f"month:{month}"}), record


def build(url: str, calls: int, days: int, users: int, tags: int, now: float, batch: int = 20_000) -> float:
    """Write the ledger through Ledger.record_many; seconds taken."""
    from unyo._records._ledger import Ledger
    from unyo._records._store import open_store

    ledger = Ledger(open_store(url))
    began = time.perf_counter()
    pending: list[Any] = []
    for i, entry in enumerate(build_records(calls, days, users, tags, now), 1):
        pending.append(entry)
        if len(pending) == batch:
            ledger.record_many(pending)
            pending = []
            print(f"\r  writing {i:,}/{calls:,} calls", end="", file=sys.stderr, flush=True)
    ledger.record_many(pending)
    print(file=sys.stderr)
    return time.perf_counter() - began


def _key(calls: int, days: int, users: int, tags: int) -> str:
    params = f"v1:{calls}:{days}:{users}:{tags}:{datetime.now().date()}"
    return hashlib.sha256(params.encode()).hexdigest()[:10]


def sqlite_url(calls: int, days: int, users: int, tags: int, now: float) -> str:
    folder = CACHE / _key(calls, days, users, tags)
    done = folder / "built"
    url = f"sqlite:///{folder / 'unyo.db'}"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, mode=0o700)
        print(f"building the SQLite ledger in {folder} ...", file=sys.stderr)
        took = build(url, calls, days, users, tags, now)
        done.write_text(f"{took:.1f}\n")
    print(f"SQLite ledger: {folder} (built in {float(done.read_text()):.0f} s)", file=sys.stderr)
    return url


def postgres_url(calls: int, days: int, users: int, tags: int, now: float) -> str:
    import psycopg

    schema = f"bench_reports_{_key(calls, days, users, tags)}"
    url = f"{PG_BASE}?options=-csearch_path%3D{schema}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        built = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'bench_built'", [schema]
        ).fetchone()
        if not built:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"CREATE SCHEMA {schema}")
    if not built:
        print(f"building the PostgreSQL ledger in schema {schema} ...", file=sys.stderr)
        took = build(url, calls, days, users, tags, now)
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f"ANALYZE {schema}.unyo_calls")
            conn.execute(f"ANALYZE {schema}.unyo_rollups")
            conn.execute(f"CREATE TABLE {schema}.bench_built (seconds DOUBLE PRECISION)")
            conn.execute(f"INSERT INTO {schema}.bench_built VALUES (%s)", [took])
    print(f"PostgreSQL ledger: schema {schema}", file=sys.stderr)
    return url


def empty_url(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'empty.db'}"
    import psycopg

    schema = f"bench_reports_empty_{os.getpid()}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{PG_BASE}?options=-csearch_path%3D{schema}"


def drop_empty(url: str) -> None:
    if url.startswith("postgresql"):
        import psycopg

        schema = url.rsplit("%3D", 1)[1]
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# A small process starts each command and reads its rusage: a child's peak RSS counts the memory of
# the process that spawned it, so the benchmark itself (which built the ledger) must not be that.
LAUNCH = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "code = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL).returncode\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(json.dumps([time.perf_counter() - t, u.ru_maxrss / 1024, u.ru_utime + u.ru_stime, code]))\n"
)


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, float, int]:
    """(wall seconds, peak MB, CPU seconds, exit code) of `python -m unyo ARGS` as one process."""
    import json

    out = subprocess.run(
        [sys.executable, "-c", LAUNCH, sys.executable, "-m", "unyo", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    took, peak, cpu, code = json.loads(out)
    return took, peak, cpu, code


def commands(out: Path) -> list[tuple[str, list[str], float | None, float | None]]:
    """(label, arguments, time goal, memory goal)."""
    usage = [
        ("usage (this month)", ["usage"]),
        ("usage --since 30d", ["usage", "--since", "30d"]),
        ("usage --by model --since 7d", ["usage", "--by", "model", "--since", "7d"]),
        ("usage --by user --since 30d", ["usage", "--by", "user", "--since", "30d"]),
        ("usage --by tag --since 14d", ["usage", "--by", "tag", "--since", "14d"]),
        ("usage --by day --since 30d", ["usage", "--by", "day", "--since", "30d"]),
        ("usage --by status --since 2d", ["usage", "--by", "status", "--since", "2d"]),
        ("usage --by role --since 90m", ["usage", "--by", "role", "--since", "90m"]),
        ("usage --json --since 30d", ["usage", "--json", "--since", "30d"]),
        ("usage --html --since 30d", ["usage", "--html", str(out / "report.html"), "--since", "30d"]),
        ("budget", ["budget"]),
    ]
    logs = [
        ("logs -n 50", ["logs", "-n", "50"]),
        ("logs -n 50 --user user37", ["logs", "-n", "50", "--user", "user37"]),
        ("logs -n 50 --tag tag15", ["logs", "-n", "50", "--tag", "tag15"]),
        ("logs -n 50 --model o4-mini", ["logs", "-n", "50", "--model", "o4-mini"]),
        ("logs -n 50 --model gpt-4 (prefix)", ["logs", "-n", "50", "--model", "gpt-4"]),
        ("logs -n 50 --status interrupted", ["logs", "-n", "50", "--status", "interrupted"]),
        ("logs -n 50 --since 1h", ["logs", "-n", "50", "--since", "1h"]),
        ("logs -n 50 --user nobody", ["logs", "-n", "50", "--user", "nobody"]),
    ]
    return [
        *((label, a, GOAL_S, GOAL_MB) for label, a in usage),
        *((label, a, LOGS_GOAL_S, None) for label, a in logs),
        ("logs export (whole ledger)", ["logs", "export", str(out / "all.jsonl")], None, GOAL_MB),
    ]


def settle_cost(url: str, calls: int = 1000, rounds: int = 10) -> tuple[float, float]:
    """Per-call ms of Ledger.settle (one call record with its counters), with the rollups kept
    and with them switched off (the baseline: what settle cost before them), same store, same
    run, alternating in rounds so both see the same machine load."""
    from unyo._records import _rollup
    from unyo._records._ledger import Ledger
    from unyo._records._store import open_store

    ledger = Ledger(open_store(url))
    entries = iter(list(build_records(2 * calls, 1, 50, 20, time.time(), seed=5)))
    keep = _rollup.record
    spent = {True: 0.0, False: 0.0}
    try:
        for _ in range(rounds):
            for on in (True, False):
                _rollup.record = keep if on else (lambda tx, store, records: None)  # type: ignore[assignment]
                began = time.perf_counter()
                for _ in range(calls // rounds):
                    cost, keys, record = next(entries)
                    ledger.settle(f"settle-bench-{record['id']}", cost, keys, record)
                spent[on] += time.perf_counter() - began
    finally:
        _rollup.record = keep  # type: ignore[assignment]
    return spent[True] / calls * 1000, spent[False] / calls * 1000


def prune_while_reserving(url: str, folder: Path, days: float, env: dict[str, str]) -> None:
    """`unyo logs prune` (its own process) on a copy of the SQLite ledger while this process makes
    budget reservations: how long prune takes, and what a reservation waits meanwhile against
    the same reservations before it started (prune commits every PRUNE_BATCH calls)."""
    import sqlite3

    from unyo._core._limits import BudgetConfig, Check, Limit, counter_keys
    from unyo._records._audit import PRUNE_BATCH
    from unyo._records._ledger import Ledger
    from unyo._records._store import open_store

    copy = folder / "prune-copy.db"
    for stale in (copy, Path(f"{copy}-wal"), Path(f"{copy}-shm")):
        stale.unlink(missing_ok=True)
    with sqlite3.connect(url.removeprefix("sqlite:///")) as source, sqlite3.connect(copy) as target:
        source.backup(target)  # a consistent copy, WAL included
    store = open_store(f"sqlite:///{copy}")
    ledger = Ledger(store)
    with store.tx(write=False) as tx:
        before = tx.execute("SELECT COUNT(*) FROM unyo_calls")[0][0]
    periods = BudgetConfig().period_keys()
    keys = counter_keys("user01", None, periods)
    check = Check("all", periods["day"], Limit("all", "day", Decimal(10**6)))
    i = 0

    def reserve() -> float:
        nonlocal i
        began = time.perf_counter()
        ledger.reserve(f"prune-bench-{i}", Decimal("0.01"), [check], keys, 0.8, 60)
        ledger.settle(f"prune-bench-{i}", None, keys, None)
        i += 1
        time.sleep(0.02)
        return (time.perf_counter() - began - 0.02) * 1000

    idle = sorted(reserve() for _ in range(50))
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "unyo", "logs", "prune", "--days", f"{days:g}", "--yes"],
        env=env | {"UNYO_DB_URL": f"sqlite:///{copy}"},
        stdout=subprocess.PIPE,
        text=True,
    )
    waits = []
    while proc.poll() is None:
        waits.append(reserve())
    took = time.perf_counter() - began
    with store.tx(write=False) as tx:
        after = tx.execute("SELECT COUNT(*) FROM unyo_calls")[0][0]
    waits.sort()

    def stats(ms: list[float]) -> str:
        return f"median {ms[len(ms) // 2]:.1f} ms, p95 {ms[int(len(ms) * 0.95)]:.1f} ms, max {ms[-1]:.1f} ms"

    print(
        f"\nlogs prune --days {days:g} (own process) on a copy of the SQLite ledger: {before - after:,} of "
        f"{before:,} calls deleted in {took:.1f} s ({PRUNE_BATCH:,} per transaction, exit {proc.returncode}). "
        f"A budget reservation + settle meanwhile ({len(waits)}): {stats(waits)}; before prune: {stats(idle)}"
    )
    for done in (copy, Path(f"{copy}-wal"), Path(f"{copy}-shm")):
        done.unlink(missing_ok=True)


LOGS_FILTERS = [
    ("none", {}),
    ("--user user37", {"user": "user37"}),
    ("--tag tag15", {"tag": "tag15"}),
    ("--model o4-mini", {"model": "o4-mini"}),
    ("--model gpt-4 (prefix of 3)", {"model": "gpt-4"}),
    ("--status interrupted", {"status": "interrupted"}),
    ("--since 1h", {"since": -3600}),
    ("--user nobody", {"user": "nobody"}),
]


def logs_in_process(url: str) -> str:
    """The database part of `logs -n 50` with each filter (best of 5), without process start-up."""
    from unyo._records._audit import query
    from unyo._records._store import open_store

    store = open_store(url)
    cells = []
    for label, filters in LOGS_FILTERS:
        if "since" in filters:
            filters = {"since": time.time() + filters["since"]}
        best = float("inf")
        for _ in range(5):
            began = time.perf_counter()
            rows = query(store, limit=50, **filters)
            best = min(best, time.perf_counter() - began)
        cells.append(f"{label}: {best * 1000:.1f} ms ({len(rows)} rows)")
    return "; ".join(cells)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--tags", type=int, default=20)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--drop", action="store_true", help="drop the cached PostgreSQL schema afterwards")
    parser.add_argument(
        "--prune", type=float, default=20, help="also time `logs prune --days N` on a copy (SQLite; 0: skip)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per command, the best one counts (default 3)")
    opts = parser.parse_args()
    now = time.time()
    failures = 0
    out = Path(tempfile.mkdtemp(prefix="unyo-bench-reports-"))
    print(
        f"bench/reports.py: {opts.calls:,} calls over {opts.days} days, {len(MODELS)} models, "
        f"{opts.users} users, {opts.tags} tags; baseline = the same command on an empty ledger\n"
    )
    for kind in opts.stores.split(","):
        url = (sqlite_url if kind == "sqlite" else postgres_url)(opts.calls, opts.days, opts.users, opts.tags, now)
        empty = empty_url(kind, out)
        env_base = {k: v for k, v in os.environ.items() if not k.startswith(("UNYO_", "OPENAI_"))} | {
            "UNYO_HOME": str(out / "home"),
            "UNYO_BUDGET_DAILY_USD": "500",
            "UNYO_BUDGET_MONTHLY_USD": "5000",
            "UNYO_BUDGET_USER_DAILY_USD": "20",
            "PYTHONPATH": str(ROOT / "src"),
        }
        print(f"## {kind} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)\n")
        print(
            "| command | time (s) | CPU (s) | peak MB | empty ledger: time / CPU / MB | added by the ledger (s) "
            "| goal | met (time) | met (CPU) |"
        )
        print("|---|---:|---:|---:|---:|---:|---|---|---|")
        for label, args, goal_s, goal_mb in commands(out):
            runs = 1 if "export" in label else opts.repeat  # the best of N: the machine is shared
            base_s, base_mb, base_cpu, _ = min(timed(args, env_base | {"UNYO_DB_URL": empty}) for _ in range(runs))
            took, peak, cpu, code = min(timed(args, env_base | {"UNYO_DB_URL": url}) for _ in range(runs))
            memory_ok = code == 0 and (goal_mb is None or peak <= goal_mb)
            met = memory_ok and (goal_s is None or took <= goal_s)
            met_cpu = memory_ok and (goal_s is None or cpu <= goal_s)
            failures += not met
            goal = " ".join(
                g for g in (f"<= {goal_s:g} s" if goal_s else "", f"<= {goal_mb} MB" if goal_mb else "") if g
            )
            print(
                f"| {label} | {took:.2f} | {cpu:.2f} | {peak:.0f} | {base_s:.2f} / {base_cpu:.2f} / {base_mb:.0f} | "
                f"{took - base_s:+.2f} | {goal} | "
                f"{'yes' if met else f'NO (exit {code})' if code else 'NO'} | {'yes' if met_cpu else 'NO'} |",
                flush=True,
            )
        print(
            f"\nload average after: {os.getloadavg()[0]:.1f}. CPU is the command's own (user + sys); "
            + (
                "PostgreSQL's server work is in the time only."
                if kind == "postgresql"
                else "it includes SQLite's work."
            )
        )
        print(f"\nlogs -n 50, the query alone (in-process, best of 5): {logs_in_process(url)}")
        if kind == "sqlite" and opts.prune:
            prune_while_reserving(url, out, opts.prune, env_base)
        with_rollups, without = settle_cost(empty)
        print(
            f"\nsettling one call (in-process, empty ledger): {with_rollups:.2f} ms with rollups, "
            f"{without:.2f} ms without (x{with_rollups / without:.2f})"
        )
        drop_empty(empty)
        if kind == "postgresql" and opts.drop:
            import psycopg

            with psycopg.connect(PG_BASE, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {url.rsplit('%3D', 1)[1]} CASCADE")
        print()
    lines = sum(1 for _ in open(out / "all.jsonl", encoding="utf-8")) if (out / "all.jsonl").exists() else 0
    print(f"last export wrote {lines:,} records; {'all goals met' if not failures else f'{failures} goal(s) missed'}")
    shutil.rmtree(out, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
