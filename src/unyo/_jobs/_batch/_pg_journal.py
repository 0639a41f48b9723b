"""The batch journal in PostgreSQL: one job worked by many `unyo run` processes on many hosts.

Used instead of the SQLite journal beside the output when `UNYO_DB_URL` names a PostgreSQL
database (see `_workers.SharedRunner`). Every worker reads the same input file and names the same
job:

    job id     `--job NAME`, else derived from what makes the work the same: the task (name,
               prompts, schema, options), the column, the id column, the model, and the input's
               rows (each row's id and content hash, in order): the same command on a copy of the
               same file names the same job on every host
    seed       the first worker inserts every row as `todo` (under a per-job advisory lock); the
               others check that their input is the same (row count and digest) or refuse
    claim      WITH picked AS MATERIALIZED (SELECT ... WHERE status = 'todo' OR (status = 'claimed'
               AND lease_until < now()) ORDER BY idx LIMIT n FOR UPDATE SKIP LOCKED) UPDATE ... FROM
               picked: no two workers claim a row, none waits for another's locks, rows go out in
               input order, at most n at a time
    lease      a claim holds `lease_s` seconds on the database's clock; a heartbeat renews the
               worker's claims every lease/3 while it works. A worker killed with `kill -9` stops
               renewing; once its lease expires its rows are claimed by another worker
    record     a row's outcome ends its claim, in its own transaction
    workers    every running worker is listed in `unyo_batch_workers` with an `alive_until` the
               heartbeat renews like its leases; a clean exit removes it, a kill -9ed worker's
               entry expires after one lease
    output     written from the journal, in input order, under the job's advisory lock, by the
               last worker (or by `--collect`): when every row is finished, the first worker to end
               writes it; when rows are left (the job was stopped: --max-cost, a budget, Ctrl-C),
               the worker that ends when no other worker is alive does, after waiting out (at most
               one lease) the entries of workers that stopped renewing. `written_rows` makes each
               state of the journal written once
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from unyo._types._errors import BadInput

SCHEMA_LOCK = 7_311_975_113  # pg_advisory_xact_lock key: one worker creates the tables
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS unyo_batch_jobs (
        id TEXT PRIMARY KEY,
        task TEXT NOT NULL,
        column_name TEXT NOT NULL,
        id_column TEXT NOT NULL,
        rows INTEGER NOT NULL,
        digest TEXT NOT NULL,          -- sha256 over every row's id and content hash, in order
        created DOUBLE PRECISION NOT NULL,
        written_rows INTEGER,          -- rows done when the output was last written
        written_by TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS unyo_batch_rows (
        job TEXT NOT NULL,
        id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        hash TEXT NOT NULL,
        status TEXT NOT NULL,          -- todo | claimed | ok | failed
        worker TEXT,                   -- the claim's holder; once done, who finished it
        lease_until TIMESTAMPTZ,
        result TEXT,
        error TEXT,
        cost NUMERIC,
        calls INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        updated DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (job, id)
    )""",
    "CREATE INDEX IF NOT EXISTS unyo_batch_rows_claim ON unyo_batch_rows (job, status, idx)",
    """CREATE TABLE IF NOT EXISTS unyo_batch_workers (
        job TEXT NOT NULL,
        worker TEXT NOT NULL,
        alive_until TIMESTAMPTZ NOT NULL,  -- renewed by the heartbeat; a kill -9ed worker's expires
        started DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (job, worker)
    )""",
)
SEED_CHUNK = 5_000


def digest_of(rows: Sequence[Any]) -> str:
    """The input's identity: every row's id and content hash, in order."""
    h = hashlib.sha256()
    for r in rows:
        h.update(f"{r.id}\x1f{r.hash}\x1e".encode())
    return h.hexdigest()


def job_id_for(task: Any, column: str, id_column: str | None, model: str | None, digest: str) -> str:
    """The job a worker joins when no `--job NAME` is given (see the module docstring)."""
    what = {
        "task": task.name,
        "system": task.system,
        "user": task.user,
        "schema": task.schema,
        "options": task.options,
        "max_output_tokens": task.max_output_tokens,
        "column": column,
        "id_column": id_column or "",
        "model": model or "",
        "input": digest,
    }
    blob = json.dumps(what, sort_keys=True, ensure_ascii=False, default=str)
    return f"{task.name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _lock_key(job: str) -> int:
    return int.from_bytes(hashlib.sha256(f"unyo-batch:{job}".encode()).digest()[:8], "big", signed=True)


def finished_in(store: Any, job: str) -> dict[str, dict[str, Any]]:
    """What a job has finished (id -> {"status"}), read only: {} when there is no such job yet."""
    with store.tx(write=False) as tx:
        exists = tx.execute("SELECT to_regclass('unyo_batch_rows') IS NOT NULL")[0][0]
        if not exists:
            return {}
        found = tx.execute("SELECT id, status FROM unyo_batch_rows WHERE job = ? AND status IN ('ok', 'failed')", [job])
    return {row_id: {"status": status} for row_id, status in found}


class PgJournal:
    """The journal of one job, as one worker sees it (`worker` names this process)."""

    def __init__(self, store: Any, job: str, lease_s: float = 60.0) -> None:
        self.store, self.job, self.lease_s = store, job, float(lease_s)
        self.worker = f"{uuid.uuid4().hex[:12]}"
        self.path = f"{store.location} job {job}"  # where it lives, for messages (never a password)
        with store.tx() as tx:
            tx.execute("SELECT pg_advisory_xact_lock(?)", [SCHEMA_LOCK])
            for statement in SCHEMA:
                tx.execute(statement)

    @contextmanager
    def _job_locked(self) -> Iterator[Any]:
        with self.store.tx() as tx:
            tx.execute("SELECT pg_advisory_xact_lock(?)", [_lock_key(self.job)])
            yield tx

    def join(self, meta: dict[str, str], rows: Sequence[Any]) -> None:
        """Seed the job with `rows`, or check that they are the job's rows."""
        digest = digest_of(rows)
        with self._job_locked() as tx:
            found = tx.execute(
                "SELECT task, column_name, id_column, rows, digest FROM unyo_batch_jobs WHERE id = ?", [self.job]
            )
            if found:
                task, column, id_column, count, stored = found[0]
                mine = (meta["task"], meta["column"], meta["id_column"])
                if (task, column, id_column) != mine:
                    raise BadInput(
                        f"job {self.job} runs task {task!r} on column {column!r} (id column {id_column!r}); "
                        f"this worker has {mine[0]!r}, {mine[1]!r}, {mine[2]!r}: use another --job"
                    )
                if (count, stored) != (len(rows), digest):
                    raise BadInput(
                        f"job {self.job} has {count} rows of another input (digest {stored[:12]}); this input has "
                        f"{len(rows)} rows (digest {digest[:12]}): give every worker the same file, or use another "
                        "--job (or --restart to discard the job)"
                    )
                return
            tx.execute(
                "INSERT INTO unyo_batch_jobs (id, task, column_name, id_column, rows, digest, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [self.job, meta["task"], meta["column"], meta["id_column"], len(rows), digest, time.time()],
            )
            now = time.time()
            for start in range(0, len(rows), SEED_CHUNK):
                chunk = rows[start : start + SEED_CHUNK]
                tx.execute(
                    "INSERT INTO unyo_batch_rows (job, id, idx, hash, status, updated) "
                    "SELECT ?, u.id, u.idx, u.hash, 'todo', ? FROM unnest(?::text[], ?::int[], ?::text[]) "
                    "AS u(id, idx, hash)",
                    [self.job, now, [r.id for r in chunk], [r.index for r in chunk], [r.hash for r in chunk]],
                )

    def discard(self) -> None:
        """--restart: forget the job (its rows and outcomes)."""
        with self._job_locked() as tx:
            tx.execute("DELETE FROM unyo_batch_rows WHERE job = ?", [self.job])
            tx.execute("DELETE FROM unyo_batch_jobs WHERE id = ?", [self.job])

    # --- claims -------------------------------------------------------------------------------

    def claim(self, n: int) -> list[str]:
        """Up to `n` row ids for this worker, in input order: rows never claimed, and rows whose
        claim's lease expired (a worker that died)."""
        if n <= 0:
            return []
        with self.store.tx() as tx:
            got = tx.execute(
                # the pick is materialized once: as `id IN (subquery)` PostgreSQL may run the
                # subquery again per row, each run skipping the rows just taken: every row claimed
                "WITH picked AS MATERIALIZED (SELECT id FROM unyo_batch_rows WHERE job = ? AND "
                "(status = 'todo' OR (status = 'claimed' AND lease_until < now())) "
                "ORDER BY idx LIMIT ? FOR UPDATE SKIP LOCKED) "
                "UPDATE unyo_batch_rows r SET status = 'claimed', worker = ?, "
                "lease_until = now() + make_interval(secs => ?), updated = ? "
                "FROM picked WHERE r.job = ? AND r.id = picked.id RETURNING r.id, r.idx",
                [self.job, n, self.worker, self.lease_s, time.time(), self.job],
            )
        return [row_id for row_id, _ in sorted(got, key=lambda r: r[1])]

    # --- the workers ------------------------------------------------------------------------

    def enlist(self) -> None:
        """List this worker as alive for one lease (the heartbeat renews it, `leave` ends it)."""
        with self.store.tx() as tx:
            tx.execute(
                "INSERT INTO unyo_batch_workers (job, worker, alive_until, started) "
                "VALUES (?, ?, now() + make_interval(secs => ?), ?) "
                "ON CONFLICT (job, worker) DO UPDATE SET alive_until = EXCLUDED.alive_until",
                [self.job, self.worker, self.lease_s, time.time()],
            )

    def others_alive(self) -> dict[str, float]:
        """Other workers whose entry has not expired: worker -> alive_until (epoch seconds)."""
        with self.store.tx(write=False) as tx:
            found = tx.execute(
                "SELECT worker, EXTRACT(EPOCH FROM alive_until) FROM unyo_batch_workers "
                "WHERE job = ? AND worker <> ? AND alive_until >= now()",
                [self.job, self.worker],
            )
        return {worker: float(until) for worker, until in found}

    def renew(self) -> int:
        """Extend this worker's entry and claims by a lease; how many claims it holds."""
        with self.store.tx() as tx:
            tx.execute(
                "UPDATE unyo_batch_workers SET alive_until = now() + make_interval(secs => ?) "
                "WHERE job = ? AND worker = ?",
                [self.lease_s, self.job, self.worker],
            )
            return len(
                tx.execute(
                    "UPDATE unyo_batch_rows SET lease_until = now() + make_interval(secs => ?) "
                    "WHERE job = ? AND worker = ? AND status = 'claimed' RETURNING id",
                    [self.lease_s, self.job, self.worker],
                )
            )

    def release(self) -> None:
        """Give back the rows this worker claimed and did not finish (a clean stop)."""
        with self.store.tx() as tx:
            tx.execute(
                "UPDATE unyo_batch_rows SET status = 'todo', worker = NULL, lease_until = NULL "
                "WHERE job = ? AND worker = ? AND status = 'claimed'",
                [self.job, self.worker],
            )

    def retry_failed(self) -> int:
        with self.store.tx() as tx:
            return len(
                tx.execute(
                    "UPDATE unyo_batch_rows SET status = 'todo' WHERE job = ? AND status = 'failed' RETURNING id",
                    [self.job],
                )
            )

    def counts(self) -> dict[str, int]:
        """Rows by state: todo, claimed (live lease), expired (a dead worker's), ok, failed; and
        `others`: live claims held by other workers."""
        with self.store.tx(write=False) as tx:
            found = tx.execute(
                "SELECT CASE WHEN status = 'claimed' AND lease_until < now() THEN 'expired' ELSE status END, "
                "COUNT(*), SUM(CASE WHEN status = 'claimed' AND lease_until >= now() AND worker <> ? "
                "THEN 1 ELSE 0 END) FROM unyo_batch_rows WHERE job = ? GROUP BY 1",
                [self.worker, self.job],
            )
        out = dict.fromkeys(("todo", "claimed", "expired", "ok", "failed", "others"), 0)
        for state, n, others in found:
            out[state] = int(n)
            out["others"] += int(others or 0)
        return out

    # --- outcomes -----------------------------------------------------------------------------

    def record(
        self,
        row_id: str,
        row_hash: str,
        status: str,
        result: Any,
        error: str | None,
        cost: Decimal | None,
        calls: int,
        attempts: int,
    ) -> None:
        with self.store.tx() as tx:
            tx.execute(
                "UPDATE unyo_batch_rows SET status = ?, result = ?, error = ?, cost = ?, calls = calls + ?, "
                "attempts = attempts + ?, worker = ?, lease_until = NULL, updated = ? WHERE job = ? AND id = ?",
                [
                    status,
                    None if result is None else json.dumps(result, ensure_ascii=False, default=str),
                    error,
                    cost,
                    calls,
                    attempts,
                    self.worker,  # who finished it, for the record
                    time.time(),
                    self.job,
                    row_id,
                ],
            )

    def done(self) -> dict[str, dict[str, Any]]:
        """id -> outcome of every finished row (the shape of the SQLite journal's `done`)."""
        with self.store.tx(write=False) as tx:
            rows = tx.execute(
                "SELECT id, hash, status, result, error, cost, calls, attempts FROM unyo_batch_rows "
                "WHERE job = ? AND status IN ('ok', 'failed')",
                [self.job],
            )
        return {
            r[0]: {
                "hash": r[1],
                "status": r[2],
                "result": json.loads(r[3]) if r[3] else None,
                "error": r[4],
                "cost": Decimal(str(r[5])) if r[5] is not None else None,
                "calls": r[6],
                "attempts": r[7],
            }
            for r in rows
        }

    @contextmanager
    def writer(self, force: bool = False) -> Iterator[bool]:
        """Under the job's lock: should this worker write the output now? The caller writes
        inside the block; it is then recorded. Call `leave` (and `wait_for_the_silent`) first.

        Yes when the rows done changed since the output was last written, and either every row
        is finished (no row is left to claim or held by anyone), or no other worker is alive (the
        job was stopped for every worker); or `force`, for --collect."""
        with self._job_locked() as tx:
            left, finished = tx.execute(
                "SELECT COALESCE(SUM(CASE WHEN status IN ('todo', 'claimed') THEN 1 ELSE 0 END), 0), "
                "COALESCE(SUM(CASE WHEN status IN ('ok', 'failed') THEN 1 ELSE 0 END), 0) "
                "FROM unyo_batch_rows WHERE job = ?",
                [self.job],
            )[0]
            others = tx.execute(
                "SELECT COUNT(*) FROM unyo_batch_workers WHERE job = ? AND worker <> ? AND alive_until >= now()",
                [self.job, self.worker],
            )[0][0]
            written = tx.execute("SELECT written_rows FROM unyo_batch_jobs WHERE id = ?", [self.job])[0][0]
            write = force or (written != finished and (left == 0 or others == 0))
            yield write
            if write:
                tx.execute(
                    "UPDATE unyo_batch_jobs SET written_rows = ?, written_by = ? WHERE id = ?",
                    [finished, self.worker, self.job],
                )

    def leave(self) -> None:
        """This worker ends: take it off the list of workers (before deciding who writes)."""
        with self.store.tx() as tx:
            tx.execute("DELETE FROM unyo_batch_workers WHERE job = ? AND worker = ?", [self.job, self.worker])

    def unfinished(self) -> int:
        """Rows left to claim or held by a worker."""
        with self.store.tx(write=False) as tx:
            return int(
                tx.execute(
                    "SELECT COUNT(*) FROM unyo_batch_rows WHERE job = ? AND status IN ('todo', 'claimed')", [self.job]
                )[0][0]
            )

    def wait_for_the_silent(self, poll_s: float = 0.25) -> None:
        """After `leave`, when rows are left (the job was stopped): wait until every other listed
        worker has left or let its entry expire (killed: at most one lease), or one of them shows
        it is alive (renews its entry, or a new one joins): that one ends later and decides.
        Returns at once when every row is finished or there is no other worker."""
        seen = self.others_alive()
        while seen and self.unfinished():
            time.sleep(poll_s)
            now = self.others_alive()
            if any(worker not in seen or until > seen[worker] for worker, until in now.items()):
                return
            seen = now

    def close(self) -> None:
        pass
