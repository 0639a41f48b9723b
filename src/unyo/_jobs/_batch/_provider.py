"""`unyo run TASK --input F --via batch-api`: the same rows and the same output file, through the
provider's Batch API at its discount (OpenAI: 50 % of list prices).

    plan     each row's request is built by the task itself, on a pipeline that stops just before
             sending: the exact body the synchronous path would send, and its worst case at the
             batch price. A row that cannot be one request (too long, map-reduce) fails here.
    budget   one ledger hold per submission for the sum of its rows' worst cases, checked against
             the limits every call meets (--max-cost, daily, monthly). Rows that do not fit stay
             pending, and the run says what they would cost. The hold outlives this process.
    submit   JSONL (custom_id = row id) -> files.create(purpose="batch") -> batches.create. The
             journal records the submission before the batch exists and its id right after, so a
             crash in between is adopted on resume (metadata unyo_submission), never sent twice.
    wait     batches.retrieve every --poll seconds. Ctrl-C (or --no-wait) leaves the batch
             running: the same command later collects it.
    collect  each answer is replayed through the task (schema validation, triage's needs_human,
             the draft checks, classify's logprobs) on a client whose transport serves that
             answer, so a row's result is what the synchronous path would have made of it. Each
             replayed call is settled and audited once (its id derives from batch and row), at the
             batch price; then the hold is released. Rows the batch did not run (expired,
             cancelled, 5xx, rate limited) stay pending for the next run; other errors fail the row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx2

from unyo._core._call import Call
from unyo._core._pipeline import Pipeline
from unyo._core._steps import SHAPING_STEPS
from unyo._jobs._batch._journal import Journal
from unyo._jobs._batch._runner import Runner, _Row, load, to_do
from unyo._types._errors import ConfigError, ErrorContext, NotBatchable, UnpricedModel, UnyoError
from unyo._types._messages import Message

ENDPOINTS = {"responses": "/v1/responses", "chat": "/v1/chat/completions"}
MAX_LINES = 50_000  # OpenAI's limits per batch input file
MAX_BYTES = 190 * 1024 * 1024
TERMINAL = ("completed", "failed", "expired", "cancelled")
HOLD_S = 26 * 3600.0  # the 24 h completion window, and time to collect


def price_factor(settings: Any) -> Decimal:
    """The profile's Batch API price as a fraction of list prices; refuses profiles without one."""
    profile = settings.profile
    if profile.batch_price is None and profile.free:
        raise ConfigError(f"profile {profile.name!r} runs in-process and has no Batch API: run without --via batch-api")
    if profile.batch_price is None:
        raise ConfigError(
            f"profile {profile.name!r} has no known Batch API. If its endpoint offers OpenAI's /v1/batches, set "
            f'batch_price = "0.5" (its price as a fraction of list prices) under [profiles.{profile.name}] in unyo.toml'
        )
    return Decimal(str(profile.batch_price))


def body_hash(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _discount(call: Call, factor: Decimal) -> None:
    if call.model.price is not None:
        call.model = dataclasses.replace(call.model, price=call.model.price.scaled(factor))


# --- plan: build each row's request without sending it -------------------------------------------


class _Planned(BaseException):
    """Raised by the plan pipeline's last step: the request is built, nothing is sent. A
    BaseException, so no retry loop or error mapping on the way out mistakes it for a failure."""

    def __init__(self, call: Call) -> None:
        self.call = call


@dataclass
class Planned:
    row: _Row
    endpoint: str
    line: bytes  # the JSONL line uploaded for the row
    hash: str
    worst_usd: Decimal | None  # None: unpriced


def _plan_pipeline(factor: Decimal) -> Pipeline:
    """The request as the synchronous path shapes it, then a stop: nothing sent, nothing settled."""

    def stop_before_sending(call: Call) -> None:
        _discount(call, factor)
        raise _Planned(call)

    return Pipeline((*SHAPING_STEPS, stop_before_sending), ())


def _planned(row: _Row, call: Call) -> Planned:
    from unyo._money._budget import worst_case

    endpoint = ENDPOINTS.get(call.api)
    if endpoint is None or call.stream:
        raise NotBatchable(f"a {call.api} {'stream ' if call.stream else ''}call cannot go through the Batch API")
    body = json.loads(json.dumps(call.params, ensure_ascii=False))
    line = (
        json.dumps({"custom_id": row.id, "method": "POST", "url": endpoint, "body": body}, ensure_ascii=False).encode()
        + b"\n"
    )
    price = call.model.price
    return Planned(row, endpoint, line, body_hash(call.params), worst_case(call, price) if price is not None else None)


def control(s: Any, what: str, fn: Callable[[], Any]) -> Any:
    """A management call (Files, Batches, fine-tuning jobs), retried on transient errors with the
    client's backoff; SDK errors become unyo's, prefixed with `what`."""
    import openai

    from unyo._core._retry import RetryPolicy
    from unyo._types._errors import from_sdk

    policy = RetryPolicy(
        max(3, s.max_attempts), max(s.deadline_s, 60.0), s.backoff_base_s, s.backoff_max_s, s.retry_after_cap_s
    )
    started, attempt = time.monotonic(), 0
    while True:
        attempt += 1
        try:
            return fn()
        except UnyoError:
            raise
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            err = from_sdk(exc, ErrorContext(provider=s.profile.name, host=s.host, attempts=attempt))
            wait = policy.next_wait(err, attempt, time.monotonic() - started)
            if wait is None:
                err.message = f"{what}: {err.message}"
                raise err from None
            time.sleep(wait)


# --- collect: replay each answer through the task -------------------------------------------------


class _Replay(httpx2.BaseTransport):
    """Serves one row's batch answer to the first call the task makes for that row; any further
    call is refused before sending (NotBatchable), and a request that differs from the one
    submitted is refused too (the templates or options changed since)."""

    def __init__(self, factor: Decimal) -> None:
        self.factor = factor
        self.answer: tuple[int, Any, str | None] = (500, None, None)
        self.expected, self.call_id, self.batch_id, self.used = "", "", "", True
        self.info: Any = None  # the replayed call's CallInfo (its cost once settled)

    def load(self, batch_id: str, row_id: str, expected: str, answer: tuple[int, Any, str | None]) -> None:
        self.batch_id, self.expected, self.answer, self.used, self.info = batch_id, expected, answer, False, None
        self.call_id = uuid.uuid5(uuid.NAMESPACE_URL, f"unyo-batch:{batch_id}:{row_id}").hex

    def step(self, call: Call) -> None:
        if self.used:
            raise NotBatchable(
                "the task needed another call after its batch answer (a structured-output repair, a draft rewrite, "
                "a map-reduce step); a batch answers one request per row"
            )
        if body_hash(call.params) != self.expected:
            raise NotBatchable(
                "the request rebuilt for this row differs from the one submitted (the task's templates, schema or "
                "options changed since); its answer is not used"
            )
        self.used, self.info = True, call.info
        call.info.call_id, call.settle_once = self.call_id, True
        call.info.budget = f"batch {self.batch_id}"
        _discount(call, self.factor)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        status, body, request_id = self.answer
        return httpx2.Response(status, json=body, headers={"x-request-id": request_id or ""})


def _transient(code: str | None, status: int | None) -> bool:
    """A line the batch did not really run: submit it again rather than fail the row."""
    if code in ("batch_expired", "batch_cancelled"):
        return True
    return status is not None and (
        status >= 500 or status in (408, 409) or (status == 429 and code != "insufficient_quota")
    )


class BatchApiRunner(Runner):
    """The provider-batch flavour of the runner: same journal, same output file, same summary."""

    def __init__(
        self,
        options: Any,
        client: Any,
        say: Callable[[str], None] | None = None,
        poll_s: float = 30.0,
        wait: bool = True,
    ) -> None:
        super().__init__(options, client)
        self.price_factor: Decimal = price_factor(client.settings)
        self.say = say or (lambda text: None)
        self.poll_s, self.wait = poll_s, wait
        self.pending_rows = 0  # rows the batches left unanswered (expired, 5xx): the next run submits them
        self.over_budget: str | None = None  # why some rows were not submitted

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> Any:
        table, rows, journal, _ = load(self.o)
        started = time.monotonic()
        by_id = {r.id: r for r in rows}
        try:
            self.summary.rows = len(rows)
            for sub in journal.open_submissions():  # a batch an earlier run left at the provider
                self._settle_submission(journal, by_id, sub)
            if not self.stop.is_set():
                busy = journal.in_open_submissions()
                todo = [r for r in to_do(rows, journal.done(), self.o.retry_failed) if r.id not in busy]
                self.summary.pending = len(todo)
                subs = [
                    s
                    for chunk in self._chunks(self._plan(journal, todo))
                    if (s := self._submit(journal, chunk)) is not None
                ]
                for sub in subs:
                    if self.stop.is_set():
                        break
                    self._settle_submission(journal, by_id, sub)
            if self.over_budget and self.summary.stopped is None:
                self.summary.stopped, self.exit_code = self.over_budget, 4
            if self.pending_rows and self.summary.stopped is None and self.wait:
                self.summary.stopped = (
                    f"{self.pending_rows} row(s) were not answered by their batch "
                    "(expired, cancelled or a transient error)"
                )
                self.exit_code = 6
        except KeyboardInterrupt:
            self.stop.set()
            self.summary.stopped, self.exit_code = (
                "interrupted (Ctrl-C); submitted batches keep running at the provider",
                130,
            )
        finally:
            self.summary.elapsed_s = time.monotonic() - started
            self._write(table, rows, journal)  # with a stop reason, it also prices the rows left
            journal.close()
        return self.summary

    def _stop(self, why: str, code: int) -> None:
        if self.summary.stopped is None:
            self.summary.stopped, self.exit_code = why, code
        self.stop.set()

    # --- plan and submit ----------------------------------------------------------------------

    def _client(self, pipeline: Pipeline, transport: httpx2.BaseTransport | None = None) -> Any:
        from unyo._client._openai import OpenAI

        extra = {"http_client": httpx2.Client(transport=transport)} if transport is not None else {}
        return OpenAI(settings=self.client.settings, pipeline=pipeline, user=self.o.user, **extra)

    def _plan(self, journal: Journal, todo: list[_Row]) -> list[Planned]:
        from unyo._jobs._tasks import run_task
        from unyo._jobs._tasks._run import planned_calls

        client = self._client(_plan_pipeline(self.price_factor))
        plans = []
        for row in todo:
            if not row.text.strip():
                self._fail(row, journal, "empty input")
                continue
            try:
                needed = planned_calls(self.o.task, client, row.text, self.o.schema, self.o.call_options)
                if needed > 1:
                    raise NotBatchable(
                        f"{self.o.task.name} makes {needed} calls for this row "
                        f"(map over {needed - 1} parts, then reduce); a batch answers one"
                    )
                run_task(
                    self.o.task, row.text, client=client, schema=self.o.schema, user=self.o.user, **self.o.call_options
                )
                raise NotBatchable("the task made no call")
            except _Planned as planned:
                call = planned.call
            except UnyoError as exc:  # e.g. ContextTooLong: this row fails, the others go
                self._fail(row, journal, exc)
                continue
            try:
                plans.append(_planned(row, call))
            except (UnyoError, TypeError, ValueError) as exc:  # a body that is not JSON
                self._fail(row, journal, exc)
        return plans

    @staticmethod
    def _chunks(plans: list[Planned]) -> list[list[Planned]]:
        chunks: list[list[Planned]] = []
        size = 0
        for plan in plans:
            if (
                not chunks
                or len(chunks[-1]) >= MAX_LINES
                or size + len(plan.line) > MAX_BYTES
                or chunks[-1][0].endpoint != plan.endpoint
            ):
                chunks.append([])
                size = 0
            chunks[-1].append(plan)
            size += len(plan.line)
        return chunks

    def _hold(self, sub_id: str, plans: list[Planned]) -> tuple[list[Planned], str | None]:
        """Reserve the submission's worst case, as every call does (`_budget.hold`); fewer rows
        if the budget only fits some. The hold's owner is the batch, so it outlives this process."""
        from unyo._money._budget import hold

        settings = self.client.settings
        config = settings.budget
        if settings.db_url == "off" or not config.limits:
            return plans, None
        if any(p.worst_usd is None for p in plans):
            if config.allow_unpriced:
                return plans, None
            raise UnpricedModel(Message("batch.unpriced", task=self.o.task.name))
        worst: list[Decimal] = [p.worst_usd for p in plans]  # type: ignore[misc]
        per_request = min((lim.usd for lim in config.limits if lim.period == "request"), default=None)
        if per_request is not None and max(worst) > per_request:
            first = next(p.row.id for p, w in zip(plans, worst) if w > per_request)
            self._stop(f"per-request limit ${per_request} is below the worst case of row {first}", 4)
            return [], None
        rid, tag = f"batch-hold:{sub_id}", self.o.call_options.get("tag") or f"task:{self.o.task.name}"
        count, refusal = len(plans), ""
        while count:
            _, outcome = hold(
                settings, rid, sum(worst[:count], Decimal(0)), self.o.user, tag, HOLD_S, owner=f"batch:{sub_id}"
            )
            if outcome.refused is None:
                if count < len(plans):  # the other rows (and later chunks) wait for budget
                    self.over_budget = (
                        f"budget reached before submitting: {refusal}; {len(plans) - count} row(s) not submitted"
                    )
                return plans[:count], rid
            check, spent, reserved = outcome.refused
            refusal = f"{check.limit.describe()} ({check.period}): spent ${spent}, reserved ${reserved}"
            room, total, fits = check.limit.usd - spent - reserved, Decimal(0), 0
            while fits < count and total + worst[fits] <= room:
                total += worst[fits]
                fits += 1
            count = min(fits, count - 1)
        self._stop(f"budget reached before submitting: {refusal}", 4)
        return [], None

    def _submit(self, journal: Journal, plans: list[Planned]) -> dict[str, Any] | None:
        if not plans or self.stop.is_set() or self.over_budget:
            return None
        sub_id = uuid.uuid4().hex
        plans, hold = self._hold(sub_id, plans)
        if not plans:
            return None
        endpoint = plans[0].endpoint
        journal.add_submission(sub_id, endpoint, hold, [(p.row.id, p.hash) for p in plans])
        sub = {"id": sub_id, "batch_id": None, "endpoint": endpoint, "hold": hold}
        raw = self.client.raw
        try:
            content = b"".join(p.line for p in plans)
            uploaded = self._control(
                "upload the batch file",
                lambda: raw.files.create(file=(f"unyo-{sub_id}.jsonl", content, "application/jsonl"), purpose="batch"),
            )
            metadata = {"unyo_submission": sub_id, "unyo_task": self.o.task.name}
            batch = self._control(
                "create the batch",
                lambda: raw.batches.create(
                    input_file_id=uploaded.id, endpoint=endpoint, completion_window="24h", metadata=metadata
                ),
            )
        except UnyoError as exc:
            self._abandon(journal, sub, f"{type(exc).__name__}: {exc}")
            self._stop(f"could not submit the batch: {type(exc).__name__}: {exc}", exc.exit_code)
            return None
        journal.set_batch(sub_id, batch.id, uploaded.id)
        sub["batch_id"] = batch.id
        from unyo._types._prices import usd

        worst = sum((p.worst_usd or Decimal(0) for p in plans), Decimal(0))
        self.say(
            f"submitted {len(plans)} rows as batch {batch.id} ({endpoint}, {len(content):,} bytes; "
            f"worst case {usd(worst)} at {self.price_factor:%} of list prices)"
        )
        return sub

    def _control(self, what: str, fn: Callable[[], Any]) -> Any:
        return control(self.client.settings, what, fn)

    def _abandon(self, journal: Journal, sub: dict[str, Any], why: str) -> None:
        """The submission never became a batch: release its hold; its rows are to do again."""
        self._release(sub)
        journal.close_submission(sub["id"], "abandoned", why)

    def _release(self, sub: dict[str, Any]) -> None:
        from unyo._records._ledger import ledger_for

        if sub.get("hold") and self.client.settings.db_url != "off":
            ledger_for(self.client.settings).settle(sub["hold"], None, [], None)

    # --- wait and collect ---------------------------------------------------------------------

    def _settle_submission(self, journal: Journal, by_id: dict[str, _Row], sub: dict[str, Any]) -> None:
        if sub["batch_id"] is None:  # a crash between recording and creating it: adopt, or start over
            found = self._adopt(sub["id"], sub.get("created") or 0.0)
            if found is None:
                self._abandon(journal, sub, "never reached the provider")
                return
            journal.set_batch(sub["id"], found.id, found.input_file_id)
            sub["batch_id"] = found.id
        try:
            batch = self._wait(sub["batch_id"])
        except UnyoError as exc:
            self._stop(
                f"could not check batch {sub['batch_id']}: {type(exc).__name__}: {exc}; "
                "it keeps running, run the same command later",
                exc.exit_code,
            )
            return
        counts = getattr(batch, "request_counts", None)
        self.summary.batches.append(
            {
                "id": batch.id,
                "status": batch.status,
                "rows": len(journal.submitted(sub["id"])),
                "answered": getattr(counts, "completed", None),
                "errors": getattr(counts, "failed", None),
            }
        )
        if batch.status not in TERMINAL:
            return
        if batch.status == "failed":
            errors = (
                "; ".join(str(getattr(e, "message", e)) for e in (getattr(batch.errors, "data", None) or []))
                or "no reason given"
            )
            self._abandon(journal, sub, errors)
            self._stop(f"batch {batch.id} failed at the provider: {errors}", 7)
            return
        try:
            self._collect(journal, by_id, sub, batch)
        except UnyoError as exc:
            self._stop(
                f"could not collect batch {batch.id}: {type(exc).__name__}: {exc}; run the same command to try again",
                exc.exit_code,
            )

    def _adopt(self, sub_id: str, created: float) -> Any:
        """The batch made for `sub_id`, from the newest batches back to just before it was recorded."""
        page = self._control("list batches", lambda: self.client.raw.batches.list(limit=100))
        while True:
            for batch in page.data:
                if (batch.metadata or {}).get("unyo_submission") == sub_id:
                    return batch
                if batch.created_at < created - 300:  # newest first: older batches cannot be it
                    return None
            if not page.has_next_page():
                return None
            page = self._control("list batches", page.get_next_page)

    def _wait(self, batch_id: str) -> Any:
        said = None
        while True:
            batch = self._control(
                "check the batch",
                lambda: self.client.raw.batches.retrieve(batch_id, timeout=self.client.settings.read_timeout_s),
            )
            counts = batch.request_counts
            line = f"batch {batch_id}: {batch.status}" + (
                f" · {counts.completed + counts.failed}/{counts.total} done, {counts.failed} failed" if counts else ""
            )
            if line != said:
                self.say(line)
                said = line
            if batch.status in TERMINAL or not self.wait:
                return batch
            time.sleep(self.poll_s)

    def _lines(self, file_id: str | None) -> dict[str, dict[str, Any]]:
        if not file_id:
            return {}
        content = self._control("download the batch results", lambda: self.client.raw.files.content(file_id))
        out = {}
        for text in content.text.splitlines():
            try:
                item = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict) and isinstance(item.get("custom_id"), str):
                out[item["custom_id"]] = item
        return out

    def _collect(self, journal: Journal, by_id: dict[str, _Row], sub: dict[str, Any], batch: Any) -> None:
        from unyo._jobs._tasks import run_task
        from unyo._money._settle import settle

        lines = {**self._lines(batch.error_file_id), **self._lines(batch.output_file_id)}
        replay = _Replay(self.price_factor)
        client = self._client(
            Pipeline((*SHAPING_STEPS, replay.step), (settle,)), replay
        )  # settled and audited, never reserved
        done = journal.done()
        sent = journal.submitted(sub["id"])
        for row_id, expected in sent.items():
            row = by_id.get(row_id)
            if row is None or (done.get(row_id) or {}).get("status") == "ok":
                continue  # collected before a crash, or no longer in the input
            item = lines.get(row_id)
            response = (item or {}).get("response")
            if not isinstance(response, dict):
                error = (item or {}).get("error") or {}
                if item is None or _transient(error.get("code"), None):
                    self.pending_rows += 1
                    continue
                row.attempts += 1
                self._fail(row, journal, f"batch: {error.get('code')}: {error.get('message')}")
                continue
            status, body = int(response.get("status_code") or 500), response.get("body")
            error_body = (body or {}).get("error") if isinstance(body, dict) else None
            code = error_body.get("code") if isinstance(error_body, dict) else None
            replay.load(batch.id, row_id, expected, (status, body, response.get("request_id")))
            row.attempts += 1
            try:
                result = run_task(
                    self.o.task, row.text, client=client, schema=self.o.schema, user=self.o.user, **self.o.call_options
                )
            except UnyoError as exc:
                cost = getattr(replay.info, "cost_usd", None)
                if status != 200 and _transient(code, status):
                    self.pending_rows += 1
                    continue
                self._fail(row, journal, exc, cost, 1 if replay.info else 0)
            else:
                self._finish(row, journal, "ok", result.output, None, result.cost_usd, len(result.calls))
        self._release(sub)
        journal.close_submission(sub["id"], "collected", batch.status)
