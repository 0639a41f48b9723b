"""One batch job worked by many processes on many hosts: the runner on the PostgreSQL journal.

    unyo run TASK --input same.csv --output out.csv      (on each host, UNYO_DB_URL=postgresql://...)
        └─> join the job (_pg_journal: seed or check the input) ─> loop:
              queue ran dry ─> claim up to 2 x the rows in flight (SKIP LOCKED, a lease each)
              nothing to claim, others still working ─> wait; their expired leases become claimable
              nothing left anywhere ─> the run ends
            heartbeat thread: renew this worker's entry and leases every lease/3
        └─> clean stop (budget, quota, Ctrl-C): give unfinished claims back
        └─> leave the list of workers; rows left (stopped) and others listed: wait until each has
            left, expired (killed), or shown it is alive (renewed: it decides when it ends)
        └─> every row finished, or no other worker alive: write the output (once per state of the
            journal)

Everything else (pacing, retries, budgets, the output's shape) is the single-host Runner's: the
workers share the provider's limits through the shared limiter (Redis with UNYO_REDIS_URL) and
the money through the ledger in the same database.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from unyo._jobs._batch._files import Table
from unyo._jobs._batch._pg_journal import PgJournal, digest_of, job_id_for
from unyo._jobs._batch._runner import BatchOptions, BatchSummary, Runner, _Row, journal_meta, read_rows

DEFAULT_LEASE_S = 60.0
IDLE_POLL_S = 0.25  # how often a worker with nothing to claim asks again


def uses_shared_journal(settings: Any) -> bool:
    """Does this batch keep its journal in PostgreSQL (UNYO_DB_URL=postgresql://...)?"""
    return str(getattr(settings, "db_url", None) or "").startswith(("postgresql://", "postgres://"))


def job_of(options: BatchOptions, job: str | None = None) -> tuple[Table, list[_Row], str]:
    """The input, its rows, and the job they belong to (`job`, else derived from the work)."""
    table, rows = read_rows(options)
    if job is None:
        job = job_id_for(
            options.task, options.column, options.id_column, options.call_options.get("model"), digest_of(rows)
        )
    return table, rows, job


class SharedRunner(Runner):
    def __init__(
        self,
        options: BatchOptions,
        client: Any,
        on_progress: Any = None,
        *,
        job: str,
        loaded: tuple[Table, list[_Row]] | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        super().__init__(options, client, on_progress)
        self.job, self.lease_s, self._loaded = job, lease_s, loaded
        self.journal: PgJournal | None = None
        self._rows: dict[str, _Row] = {}
        self._next_poll = 0.0
        self._ended = threading.Event()

    def open(self) -> tuple[Table, list[_Row], PgJournal]:
        from unyo._records._store import store_for

        table, rows = self._loaded or read_rows(self.o)
        store = store_for(self.client.settings)
        journal = PgJournal(store, self.job, self.lease_s)
        if self.o.restart:
            journal.discard()
        journal.join(journal_meta(self.o), rows)
        return table, rows, journal

    def collect(self) -> BatchSummary:
        """--collect: write the output from the journal now, running nothing."""
        table, rows, journal = self.open()
        with journal.writer(force=True):
            self._write(table, rows, journal)
        self.summary.rows = len(rows)
        return self.summary

    def run(self) -> BatchSummary:
        from unyo._core._limiter import on_first_announcement

        table, rows, journal = self.open()
        unlisten = on_first_announcement(self._announced)
        self._warm_tokenizer()
        self.journal, self._rows = journal, {r.id: r for r in rows}
        journal.enlist()
        started = time.monotonic()
        if self.o.retry_failed:
            journal.retry_failed()
        counts = journal.counts()
        self.summary.rows = len(rows)
        self.summary.ok, self.summary.failed = counts["ok"], counts["failed"]
        self.summary.pending = len(rows) - counts["ok"] - counts["failed"]
        beat = threading.Thread(target=self._heartbeat, daemon=True, name="unyo-batch-lease")
        beat.start()
        try:
            self._dispatch(journal)  # type: ignore[arg-type]
        except KeyboardInterrupt:
            self.stop.set()
            self.summary.stopped, self.exit_code = "interrupted (Ctrl-C)", 130
            self._drain()
        finally:
            unlisten()
            self._ended.set()
            journal.release()
            journal.leave()
            journal.wait_for_the_silent()  # a killed worker's entry expires; a live one decides itself
            self.summary.elapsed_s = time.monotonic() - started
            self.summary.rate_limited = self.limiter.rate_limited
            with journal.writer() as last:
                if last:
                    self._write(table, rows, journal)  # type: ignore[arg-type]
            self._after(journal, rows, last)
        return self.summary

    def _after(self, journal: PgJournal, rows: list[_Row], wrote: bool) -> None:
        counts = journal.counts()
        self.summary.ok, self.summary.failed = counts["ok"], counts["failed"]
        self.summary.pending = len(rows) - counts["ok"] - counts["failed"]
        self.summary.journal = journal.path
        self.summary.output = str(self.o.output) if wrote else ""

    def _heartbeat(self) -> None:
        assert self.journal is not None
        while not self._ended.wait(max(0.05, self.lease_s / 3)):
            try:
                self.journal.renew()
            except Exception:  # noqa: BLE001 - a database blip: the next beat tries again
                pass

    def _refill(self, busy: int) -> str:
        assert self.journal is not None
        now = time.monotonic()
        if now < self._next_poll:
            return "wait"
        want = 2 * self.target_concurrency() - busy
        ids = self.journal.claim(want) if want > 0 else []
        if ids:
            claimed = [self._rows[i] for i in ids]
            for r in claimed:
                if not r.text.strip():  # nothing to send: the row fails, the job goes on
                    self._fail(r, self.journal, "empty input")
            with self._lock:
                self._queue.extend(_Row(r.index, r.id, r.hash, r.text) for r in claimed if r.text.strip())
            return "rows"
        self._next_poll = now + IDLE_POLL_S
        counts = self.journal.counts()
        if counts["todo"] or counts["claimed"] or counts["expired"]:
            return "wait"  # others are working; a dead worker's rows come back when its lease expires
        return "done"
