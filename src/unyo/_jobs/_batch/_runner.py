"""Apply a task to every row of a file: concurrent, rate-adaptive, resumable, within a budget.

read file ──> rows (stable id + content hash) ──> journal says which are done
    └─> dispatcher: free slot ─> budget check ─> limiter slot ─> worker: run_task ─> journal the outcome
          429        -> the limiter slows and pauses everyone; the row goes back in the queue
pacing: the provider's announced limits (x-ratelimit-* headers, learned by the shared limiter
in unyo._core._limiter) when it sends them, else AIMD probing (_limiter.AdaptiveLimiter);
rows in flight follow rate x latency (x 1.5, + 2), up to `concurrency` (default 64)
          5xx, timeout, connection -> back in the queue with a backoff (bounded attempts)
          context too long, invalid output, bad request -> the row fails, the batch goes on
          quota, authentication, budget -> the batch stops cleanly; nothing is lost
output (written atomically from input + journal): every input row exactly once, with the
task's fields, `unyo_status` (ok | failed | pending), `unyo_error` and `unyo_cost_usd`.
journal: `OUTPUT.journal` (SQLite, _journal); with UNYO_DB_URL=postgresql://... one job in the
database that workers on many hosts share (_workers.SharedRunner over _pg_journal).
"""

from __future__ import annotations

import collections
import dataclasses
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from unyo._jobs._batch import _files
from unyo._jobs._batch._journal import Journal
from unyo._jobs._batch._limiter import AdaptiveLimiter
from unyo._types._call import total_cost
from unyo._types._errors import (
    AuthenticationError,
    BadInput,
    BudgetExceeded,
    ConfigError,
    NotFound,
    OutputInvalid,
    PermissionDenied,
    QuotaExhausted,
    RateLimited,
    UnyoError,
)
from unyo._types._messages import Message, msg

STATUS_COLUMNS = ("unyo_status", "unyo_error", "unyo_cost_usd")
DEFAULT_CONCURRENCY = 64  # the cap on rows in flight when `--concurrency` is not given
FATAL = (QuotaExhausted, AuthenticationError, PermissionDenied, NotFound, BudgetExceeded)


@dataclass
class BatchOptions:
    task: Any  # a Task
    input: Path
    output: Path
    column: str
    id_column: str | None = None
    encoding: str | None = None
    max_rows: int = _files.MAX_ROWS  # input bounds: more stops the batch before anything runs (BadInput)
    max_cell_chars: int = _files.MAX_CELL_CHARS
    concurrency: int | None = None  # an upper bound on rows in flight; None: DEFAULT_CONCURRENCY
    rpm: float | None = None  # an upper bound on requests per minute; None: the provider's limits decide
    max_cost: Decimal | None = None
    retry_failed: bool = False
    restart: bool = False
    max_row_attempts: int = 6
    backoff_s: float = 0.5  # first wait before re-running a row after a 5xx / timeout; doubles each time
    schema: Any = None
    call_options: dict[str, Any] = field(default_factory=dict)
    user: str | None = None
    # review queue: (row id, input text, result) -> (status, result to write): ("ok", the output or
    # the reviewer's approved edit), or ("in_review" | "rejected", None): kept out of the output file
    review: Callable[[str, str, dict[str, Any]], tuple[str, dict[str, Any] | None]] | None = None


@dataclass
class BatchSummary:
    rows: int = 0
    ok: int = 0
    failed: int = 0
    pending: int = 0
    ran: int = 0  # rows finished in this run
    spent_usd: Decimal = Decimal(0)  # this run
    remaining_estimate_usd: Decimal | None = None
    rate_limited: int = 0
    retries: int = 0
    elapsed_s: float = 0.0
    stopped: str | None = None  # why the run ended early (budget, quota, interrupted, ...)
    batches: list[dict[str, Any]] = field(default_factory=list)  # --via batch-api: each provider batch touched
    output: str = ""
    journal: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in dataclasses.asdict(self).items()}


@dataclass
class _Row:
    index: int
    id: str
    hash: str
    text: str
    attempts: int = 0
    not_before: float = 0.0


def _row_ids(table: _files.Table, id_column: str | None) -> list[str]:
    if id_column is None:
        return [str(i + 1) for i in range(len(table.rows))]
    if id_column not in table.columns:
        raise BadInput(Message("batch.id_column_missing", column=id_column, columns=table.columns))
    ids = [str(r.get(id_column, "")).strip() for r in table.rows]
    dupes = [i for i, n in collections.Counter(ids).items() if n > 1 or not i]
    if dupes:
        raise BadInput(Message("batch.id_column_not_unique", column=id_column, problems=dupes[:5]))
    return ids


def read_rows(options: BatchOptions) -> tuple[_files.Table, list[_Row]]:
    """The input file and its rows (stable id, content hash, the text to run on)."""
    table = _files.read(options.input, options.encoding, options.max_rows, options.max_cell_chars)
    if options.column not in table.columns:
        raise BadInput(Message("batch.no_column", input=options.input, column=options.column, columns=table.columns))
    ids = _row_ids(table, options.id_column)
    rows = []
    for i, (row, row_id) in enumerate(zip(table.rows, ids)):
        value = row.get(options.column)
        rows.append(_Row(i, row_id, _files.row_hash(row), "" if value is None else str(value)))
    return table, rows


def journal_meta(options: BatchOptions) -> dict[str, str]:
    return {
        "task": options.task.name,
        "column": options.column,
        "id_column": options.id_column or "",
        "input": str(options.input.resolve()),
    }


def load(options: BatchOptions) -> tuple[_files.Table, list[_Row], Journal, dict[str, dict[str, Any]]]:
    """The input's rows, the journal, and what the journal already holds (id -> outcome)."""
    table, rows = read_rows(options)
    journal_path = options.output.with_name(options.output.name + ".journal")
    if options.restart and journal_path.exists():
        journal_path.unlink()
    journal = Journal(journal_path, journal_meta(options))
    done = journal.done()
    for r in rows:
        seen = done.get(r.id)
        if seen is not None and seen["hash"] != r.hash:
            raise BadInput(Message("batch.row_changed", row=r.id, input=options.input, journal=journal_path))
    return table, rows, journal, done


def to_do(rows: list[_Row], done: dict[str, dict[str, Any]], retry_failed: bool) -> list[_Row]:
    return [r for r in rows if r.id not in done or (retry_failed and done[r.id]["status"] == "failed")]


class Runner:
    def __init__(
        self,
        options: BatchOptions,
        client: Any,
        on_progress: Callable[[BatchSummary, AdaptiveLimiter], None] | None = None,
    ) -> None:
        self.o, self.client, self.on_progress = options, client, on_progress
        self.limiter = AdaptiveLimiter(options.rpm)
        self.max_concurrency = max(1, options.concurrency or DEFAULT_CONCURRENCY)
        self.latency_s = 1.0  # seconds a row takes once sent (moving average; limiter waits excluded)
        self.peak_inflight = 0
        self._model: str | None = None  # the model rows run on, once known (the shared limiter's key)
        self.summary = BatchSummary()
        self.stop = threading.Event()
        self.exit_code = 0  # why the run stopped early, as the CLI's exit code
        self._lock = threading.Lock()
        self._queue: collections.deque[_Row] = collections.deque()
        self._inflight = 0
        self._slot_free = threading.Condition(self._lock)
        self.price_factor: Decimal | None = None  # list prices scaled for estimates (the Batch API's discount)

    # --- one row ------------------------------------------------------------------------------

    def run_row(self, row: _Row) -> Any:
        """One row's work: an object with `output` (a JSON-ready dict), `calls` and `cost_usd`
        (a subclass runs something else than the task, e.g. an eval cell)."""
        from unyo._jobs._tasks import run_task

        return run_task(
            self.o.task, row.text, client=self.client, schema=self.o.schema, user=self.o.user, **self.o.call_options
        )

    def paced(self, row: _Row) -> bool:
        """Does the row wait for the request-rate limiter? (A subclass whose row is answered
        from a cache says no: no request goes out. A retried row is always paced.) A model that runs
        in this process (the bundled one, embeddings) has no provider rate to respect."""
        return not self.client.settings.profile.in_process

    def row_worst(self, row: _Row) -> Decimal | None:
        """The most one row can cost (None: unpriced), for the `--max-cost` check before it is sent."""
        from unyo._jobs._batch._estimate import row_estimate

        return row_estimate(
            self.o.task, self.client, row.text, self.o.schema, self.o.call_options.get("model")
        ).worst_usd

    def _work(self, row: _Row, journal: Journal) -> None:
        row.attempts += 1
        try:
            result = self.run_row(row)
        except RateLimited as exc:
            self.limiter.limited(exc.retry_after)
            self._learn(getattr(exc, "model", None))
            self._again(row, journal, exc, 0.0)
        except FATAL as exc:
            with self._lock:
                if self.summary.stopped is None:
                    self.summary.stopped, self.exit_code = f"{type(exc).__name__}: {exc}", exc.exit_code
            self.stop.set()
        except UnyoError as exc:
            if getattr(exc, "retryable", False):
                self._again(row, journal, exc, min(30.0, self.o.backoff_s * 2 ** (row.attempts - 1)))
            else:
                calls = (
                    (getattr(exc, "calls", None) or []) if isinstance(exc, OutputInvalid) else []
                )  # billed calls that failed validation
                self._fail(row, journal, exc, total_cost(calls) if calls else None, len(calls))
        except Exception as exc:  # noqa: BLE001 - one row's bug must not end the batch
            self._fail(row, journal, f"internal error: {type(exc).__name__}: {exc}")
        else:
            self.limiter.success()
            self._observed(result.calls)
            self._finish(row, journal, "ok", result.output, None, result.cost_usd, len(result.calls))
        finally:
            self._give_slot()

    # --- pacing -------------------------------------------------------------------------------

    def _observed(self, calls: list[Any]) -> None:
        """A row's calls: their latency and model teach the pacing."""
        sent = [c for c in calls if not getattr(c, "cache_hit", False) and c.latency_s is not None]
        if sent:
            service = sum(max(0.0, c.latency_s - (c.limiter_wait_s or 0.0)) for c in sent)
            with self._lock:
                self.latency_s = 0.8 * self.latency_s + 0.2 * service
            self._learn(sent[-1].model)

    def _learn(self, model: str | None) -> None:
        """Follow the provider's announced limits when the shared limiter has learned them."""
        from unyo._core._limiter import shared_limiter

        self._model = model or self._model
        settings = getattr(self.client, "settings", None)
        if self._model is None or settings is None:
            return
        shared = shared_limiter(settings, self._model)
        self.limiter.follow(shared.request_rate() if shared.known else None)

    def _announced(self, limiter: Any) -> None:
        """A shared limiter learned its first limits: if they are this batch's (same endpoint
        and key), follow them now, while the first row is still being finished."""
        from unyo._core._limiter import endpoint_of, key_fingerprint

        settings = getattr(self.client, "settings", None)
        if settings is not None and limiter.ident[:2] == (endpoint_of(settings), key_fingerprint(settings)):
            self._learn(limiter.ident[2])

    def _warm_tokenizer(self) -> None:
        """Start loading the rows' tokenizer now, in the background: where a TPM limit binds,
        input is counted exactly, and the first second of the batch should not wait for it."""
        from unyo._core._steps import warm_counter
        from unyo._providers._catalog import model_info

        settings = getattr(self.client, "settings", None)
        try:
            if settings is None or settings.profile.in_process:
                return
            model_id, _ = settings.profile.resolve_model(self.o.call_options.get("model") or self.o.task.role)
            warm_counter(settings, model_info(model_id, settings.models))
        except Exception:  # noqa: BLE001 - only a head start: the first call that needs it loads it
            pass

    def target_concurrency(self) -> int:
        """Rows in flight: what rate x latency requires, with headroom, up to the cap."""
        rate = self.limiter.rate
        if not math.isfinite(rate):
            return self.max_concurrency
        return max(1, min(self.max_concurrency, math.ceil(rate * self.latency_s * 1.5) + 2))

    def _take_slot(self) -> bool:
        with self._lock:
            while self._inflight >= self.target_concurrency():
                if self.stop.is_set():
                    return False
                self._slot_free.wait(0.05)
            self._inflight += 1
            self.peak_inflight = max(self.peak_inflight, self._inflight)
            return True

    def _give_slot(self) -> None:
        with self._lock:
            self._inflight -= 1
            self._slot_free.notify()

    def _again(self, row: _Row, journal: Journal, exc: Exception, backoff: float) -> None:
        if row.attempts >= self.o.max_row_attempts:
            self._fail(row, journal, f"{type(exc).__name__} after {row.attempts} attempts: {exc}")
            return
        row.not_before = time.monotonic() + backoff
        with self._lock:
            self.summary.retries += 1
            self._queue.appendleft(row)

    def _fail(
        self, row: _Row, journal: Journal, error: str | Exception, cost: Decimal | None = None, calls: int = 0
    ) -> None:
        message = f"{type(error).__name__}: {error}" if isinstance(error, Exception) else error
        self._finish(row, journal, "failed", None, message, cost, calls)

    def _finish(
        self, row: _Row, journal: Journal, status: str, output: Any, error: str | None, cost: Decimal | None, calls: int
    ) -> None:
        journal.record(row.id, row.hash, status, output, error, cost, calls, row.attempts)
        with self._lock:
            self.summary.ran += 1
            self.summary.ok += status == "ok"
            self.summary.failed += status == "failed"
            self.summary.pending -= 1
            self.summary.spent_usd += cost or Decimal(0)

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> BatchSummary:
        from unyo._core._limiter import on_first_announcement

        table, rows, journal, done = load(self.o)
        started = time.monotonic()
        unlisten = on_first_announcement(self._announced)
        self._warm_tokenizer()
        try:
            todo = to_do(rows, done, self.o.retry_failed)
            self.summary.rows = len(rows)
            again = {r.id for r in todo}
            self.summary.ok = sum(1 for e in done.values() if e["status"] == "ok")
            self.summary.failed = sum(1 for i, e in done.items() if e["status"] == "failed" and i not in again)
            self.summary.pending = len(todo)
            for r in todo:
                if not r.text.strip():  # nothing to send: the row fails, the batch goes on
                    self._fail(r, journal, "empty input")
                else:
                    self._queue.append(r)
            self._dispatch(journal)
        except KeyboardInterrupt:
            self.stop.set()
            self.summary.stopped, self.exit_code = msg("batch.interrupted"), 130
            self._drain()
        finally:
            unlisten()
            self.summary.elapsed_s = time.monotonic() - started
            self.summary.rate_limited = self.limiter.rate_limited
            self._write(table, rows, journal)
            journal.close()
        return self.summary

    def _dispatch(self, journal: Journal) -> None:
        last_report = 0.0
        while not self.stop.is_set():
            with self._lock:
                row = self._queue.popleft() if self._queue else None
                busy = self._inflight
            if row is None:
                more = self._refill(busy)
                if more == "rows":
                    continue
                if busy == 0 and more == "done":
                    break
                self.stop.wait(0.02)
                last_report = self._report(last_report)
                continue
            wait = row.not_before - time.monotonic()
            if wait > 0:
                with self._lock:
                    self._queue.append(row)
                self.stop.wait(min(wait, 0.05))
                continue
            if not self._take_slot():
                with self._lock:
                    self._queue.appendleft(row)
                break
            if self.o.max_cost is not None and not self._affordable(row):
                self._give_slot()
                with self._lock:
                    self._queue.appendleft(row)
                break
            if self.paced(row) and not self.limiter.acquire(self.stop):
                self._give_slot()
                with self._lock:
                    self._queue.appendleft(row)
                break
            threading.Thread(target=self._work, args=(row, journal), daemon=True, name=f"unyo-batch-{row.id}").start()
            last_report = self._report(last_report)
        self._drain()

    def _refill(self, busy: int) -> str:
        """The queue ran dry: "rows" (more were queued), "wait" (more may come), or "done".
        Here every row was queued at the start; a shared job claims more (see _workers)."""
        return "done"

    def _drain(self) -> None:
        while True:
            with self._lock:
                if self._inflight == 0:
                    break
            time.sleep(0.02)
        self._report(0.0)

    def _report(self, last: float) -> float:
        now = time.monotonic()
        if self.on_progress is not None and now - last >= 0.1:
            self.on_progress(self.summary, self.limiter)
            return now
        return last

    def _affordable(self, row: _Row) -> bool:
        """Stop before a row whose worst case no longer fits `--max-cost` (the budget layer also
        enforces it exactly, per call, as a `total` limit on the batch's tag)."""
        from unyo._records._ledger import ledger_for

        tag = self.o.call_options.get("tag")
        spent, reserved = (
            ledger_for(self.client.settings).counters(["total"]).get((f"tag:{tag}", "total"), (Decimal(0), Decimal(0)))
        )
        worst = self.row_worst(row) or Decimal(0)  # unpriced: the budget layer refuses it
        if spent + reserved + worst <= self.o.max_cost:  # type: ignore[operator]
            return True
        with self._lock:
            if self.summary.stopped is None:
                self.summary.stopped, self.exit_code = (
                    msg("batch.max_cost_reached", max_cost=self.o.max_cost, spent=spent, reserved=reserved),
                    4,
                )
        self.stop.set()
        return False

    def _write(self, table: _files.Table, rows: list[_Row], journal: Journal) -> None:
        done = journal.done()
        fields: list[str] = []
        for r in rows:
            result = (done.get(r.id) or {}).get("result")
            if isinstance(result, dict):
                fields += [k for k in result if k not in fields]
        names = {f: (f"unyo_{f}" if f in table.columns else f) for f in fields}
        out_rows = []
        pending = 0
        for r, original in zip(rows, table.rows):
            entry = done.get(r.id)
            status = entry["status"] if entry else "pending"
            pending += status == "pending"
            if status == "ok" and self.o.review and isinstance(entry.get("result"), dict):
                status, reviewed = self.o.review(r.id, r.text, entry["result"])
                entry = {**entry, "result": reviewed}
            merged = dict(original)
            for f in fields:
                merged[names[f]] = (entry.get("result") or {}).get(f) if entry and entry.get("result") else None
            merged.update(
                unyo_status=status,
                unyo_error=entry["error"] if entry else None,
                unyo_cost_usd=str(entry["cost"]) if entry and entry["cost"] is not None else None,
            )
            out_rows.append(merged)
        columns = [*table.columns, *[names[f] for f in fields], *STATUS_COLUMNS]
        _files.write(
            self.o.output,
            columns,
            out_rows,
            "utf-8-sig" if table.encoding in ("utf-8-sig", "cp932") else None,
            sheet=table.sheet,
        )
        self.summary.pending = pending
        self.summary.ok = sum(1 for e in done.values() if e["status"] == "ok")
        self.summary.failed = sum(1 for e in done.values() if e["status"] == "failed")
        self.summary.output, self.summary.journal = str(self.o.output), str(journal.path)
        if pending and self.summary.stopped:
            self.summary.remaining_estimate_usd = self.rows_expected([r for r in rows if r.id not in done])

    def rows_expected(self, rows: list[_Row]) -> Decimal | None:
        """What the rows left would cost as expected (None: unpriced), for the message of an early stop."""
        from unyo._jobs._batch._estimate import estimate_rows

        return estimate_rows(
            self.o.task,
            self.client,
            [r.text for r in rows],
            self.o.schema,
            self.o.call_options.get("model"),
            self.price_factor,
        ).expected_usd


def batch_settings(settings: Any, tag: str, max_cost: Decimal | None) -> Any:
    """The client settings for a batch: one attempt per call (the runner retries, with the
    limiter), and `--max-cost` as a never-rolling `total` limit on the batch's tag."""
    from unyo._core._limits import Limit

    budget = settings.budget
    if max_cost is not None:
        if settings.db_url == "off":
            raise ConfigError(Message("batch.max_cost_needs_ledger"))
        budget = dataclasses.replace(budget, limits=(*budget.limits, Limit(f"tag:{tag}", "total", max_cost)))
    return dataclasses.replace(settings, max_attempts=1, budget=budget)
