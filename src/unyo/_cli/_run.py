"""`unyo run TASK`: one input (argument, --file, stdin) or a whole file (--input), see _batch."""

from __future__ import annotations

import json
import sys
import time
from argparse import Namespace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from unyo._cli._shared import client_for, read_prompt
from unyo._types._errors import UsageError
from unyo._types._messages import Message, msg, os_reason


def _options(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(Message("run.set_form", pair=pair))
        out[key.strip()] = value
    return out


def _label_options(args: Namespace) -> dict[str, str]:
    """--via embeddings|llm, --labels and --embedding-model as the task's options."""
    out = {}
    if args.via in ("embeddings", "llm"):
        out["via"] = args.via
    if args.labels:
        out["labels_file"] = str(Path(args.labels).expanduser().resolve())
    if args.embedding_model:
        if args.via != "embeddings":
            raise UsageError(Message("run.embedding_model_needs_via"))
        out["embedding_model"] = args.embedding_model
    return out


def _no_llm(task: Any, client: Any, rows: int) -> Any:
    """The estimate of classify by the bundled embedding model: no call, $0 (None otherwise)."""
    from decimal import Decimal

    from unyo._jobs._batch._estimate import Estimate
    from unyo._quality._embed_classify import resolve_via
    from unyo._quality._vectors import local_model_id

    if task.name != "classify" or task.options.get("embedding_model"):
        return None
    if resolve_via(client, str(task.options.get("via") or "auto")) != "embeddings":
        return None
    return Estimate(rows, local_model_id(), 0, Decimal(0), Decimal(0))


def _knowledge_options(args: Namespace, task: Any) -> dict[str, Any]:
    """--kb NAME and --rerank as the answer task's options."""
    out: dict[str, Any] = {}
    if args.kb:
        out["kb"] = args.kb
    if args.rerank:
        out["rerank"] = True
    if out and not task.answers_from_kb:
        raise UsageError(Message("run.kb_needs_answer_task", task=task.name))
    return out


def _call_options(args: Namespace) -> dict[str, Any]:
    return {k: v for k, v in {"model": args.model, "api": args.api}.items() if v}


def run(args: Namespace) -> int:
    from unyo._jobs._tasks import find

    client = client_for(args.profile, user=args.user)
    task = find(args.task, client.settings.home)
    labelled = _label_options(args)
    if any(key not in task.options for key in labelled):
        raise UsageError(Message("run.no_label_fields", task=task.name))
    task = task.with_options({**_options(args.set), **labelled, **_knowledge_options(args, task)})
    schema = None
    if args.schema:
        from unyo._quality._structured import load_schema

        schema = load_schema(args.schema)
    if args.input:
        if args.url:
            raise UsageError(Message("run.url_without_input"))
        return _batch(args, client, task, schema)
    if args.collect or args.job:
        raise UsageError(Message("run.collect_needs_input"))
    source_url = None
    if args.url:
        if args.file or args.text:
            raise UsageError(Message("run.input_once"))
        from unyo._types._redact import redact

        text, source_url = _page(args), redact(args.url)  # the citation never carries the URL's credentials
    elif args.file:
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(Message("run.file_unreadable", file=args.file, reason=os_reason(exc))) from None
        except UnicodeDecodeError as exc:
            raise UsageError(Message("input.not_utf8", where=f"--file {args.file}", byte=exc.start)) from None
    else:
        text = read_prompt(args.text or "-")
    if args.dry_run:
        return _dry_run_one(args, client, task, text, schema)
    from unyo._jobs._tasks import run_task
    from unyo._jobs._tasks._run import planned_calls

    planned = planned_calls(task, client, text, schema, _call_options(args))
    if planned > 1:  # summarize's map step: show progress as a batch does
        client = _with_progress(client, task.name, planned)

    result = run_task(task, text, client=client, schema=schema, user=args.user, tag=args.tag, **_call_options(args))
    if source_url is not None:  # the page is the output's citation
        result.output["source_url"] = source_url
    if args.review:
        from unyo._cli._review import flag_reason, queue

        reason = flag_reason(result.output, args.review)
        if reason is not None:  # held: the output waits for a reviewer instead of being printed
            source = f"run:{task.name}:{time.time_ns()}"
            item = queue(args.profile).add(source, "1", task.name, text, result.output, reason, args.user)
            print(json.dumps({"review_id": item, "status": "pending", "reason": reason}, ensure_ascii=False))
            return 0
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        print(json.dumps(result.output, ensure_ascii=False, indent=2))
        from unyo._types._prices import usd

        print(
            f"[{task.name} · {len(result.calls)} call(s) · "
            f"{', '.join(sorted({c.model for c in result.calls}))} · {usd(result.cost_usd)}]",
            file=sys.stderr,
        )
    return 0


def _page(args: Namespace) -> str:
    """--url: the page's main text, fetched with the knowledge base's guards."""
    from unyo._knowledge._page import read_page

    if args.fetch_timeout <= 0:
        raise UsageError(Message("run.above_zero_seconds", option="--fetch-timeout"))
    allow = True if args.allow_private else None  # None: UNYO_KB_ALLOW_PRIVATE decides
    return read_page(args.url, timeout=args.fetch_timeout, allow_private=allow).text


def _with_progress(client: Any, name: str, planned: int) -> Any:
    """The same client with one more finisher: a line on stderr as each of the planned calls settles."""
    from unyo._client._openai import OpenAI
    from unyo._core._pipeline import Pipeline
    from unyo._types._prices import usd

    done: list[Any] = []

    def progress(call: Any) -> None:
        done.append(call.info.cost_usd)
        spent = None if any(c is None for c in done) else sum(done)
        line = f"{name}: call {len(done)}/{planned} · {call.info.status} · {usd(spent)}"
        print(("\r" + line) if sys.stderr.isatty() else line, end="" if sys.stderr.isatty() else "\n", file=sys.stderr)
        if sys.stderr.isatty() and len(done) >= planned:
            print(file=sys.stderr)

    pipeline = Pipeline(client.pipeline.steps, (*client.pipeline.finishers, progress))
    return OpenAI(settings=client.settings, pipeline=pipeline, user=client.user, tag=client.tag)


def _dry_run_one(args: Namespace, client: Any, task: Any, text: str, schema: Any) -> int:
    """The cost of one input, sending nothing (summarize counts every part it would map over)."""
    from unyo._jobs._batch import estimate_rows
    from unyo._jobs._tasks._run import planned_calls, summary_parts
    from unyo._types._prices import usd

    options = _call_options(args)
    free = _no_llm(task, client, 1)
    calls = 0 if free else planned_calls(task, client, text, schema, options)
    texts = summary_parts(task, client, text, options) if calls > 1 else [text]
    estimate = free or estimate_rows(task, client, texts, schema, args.model)
    record = {"calls": calls, "dry_run": True, **estimate.to_dict()}
    if args.json:
        print(json.dumps(record, ensure_ascii=False))
    else:
        print(f"dry run: {task.name} on {estimate.model} would make {calls} call(s); nothing sent")
        print(f"  input tokens (counted): {estimate.input_tokens:,}")
        print(f"  expected cost: {usd(estimate.expected_usd)}")
        print(f"  worst case:    {usd(estimate.worst_usd)} (every output at the cap of {task.max_output_tokens})")
    return 0


def _batch(args: Namespace, client: Any, task: Any, schema: Any) -> int:
    from unyo._client._openai import OpenAI
    from unyo._jobs._batch import BatchOptions, Runner, batch_settings, estimate_rows
    from unyo._jobs._batch._pg_journal import finished_in
    from unyo._jobs._batch._runner import load, to_do
    from unyo._jobs._batch._workers import SharedRunner, job_of, uses_shared_journal
    from unyo._records._store import store_for
    from unyo._types._prices import usd

    source = Path(args.input)
    output = Path(args.output) if args.output else source.with_name(f"{source.stem}.out{source.suffix}")
    if output.resolve() == source.resolve():
        raise UsageError(Message("run.output_is_input"))
    try:
        max_cost = Decimal(args.max_cost) if args.max_cost else None
    except InvalidOperation:
        raise UsageError(Message("run.max_cost_not_usd", value=args.max_cost)) from None
    if (args.concurrency is not None and args.concurrency < 1) or (args.rpm is not None and args.rpm <= 0):
        raise UsageError(Message("run.concurrency_rpm"))
    if args.max_rows < 1 or args.max_cell_chars < 1:
        raise UsageError(Message("run.max_rows_cells"))
    tag = args.tag or f"task:{task.name}"
    call_options = {**_call_options(args), "tag": tag}
    if max_cost is not None and not args.tag:
        call_options["tag"] = tag = f"batch:{output.resolve()}"
    options = BatchOptions(
        task=task,
        input=source,
        output=output,
        column=args.column or task.input_column,
        id_column=args.id_column,
        encoding=args.encoding,
        max_rows=args.max_rows,
        max_cell_chars=args.max_cell_chars,
        concurrency=args.concurrency,
        rpm=args.rpm,
        max_cost=max_cost,
        retry_failed=args.retry_failed,
        restart=args.restart,
        schema=schema,
        call_options=call_options,
        user=args.user,
    )
    job, loaded = None, None
    if args.via == "sync" and uses_shared_journal(client.settings):  # one job over many hosts
        if args.lease <= 0:
            raise UsageError(Message("run.above_zero_seconds", option="--lease"))
        table, rows, job = job_of(options, args.job)
        loaded = (table, rows)
        if max_cost is not None and not args.tag:  # every worker's calls count against the same cap
            call_options["tag"] = tag = f"job:{job}"
    elif args.job:
        raise UsageError(Message("run.job_needs_postgresql"))
    if args.collect:
        return _collect(args, client, options, job, loaded)
    if args.review and not args.dry_run:
        from unyo._cli._review import holder, queue

        source = f"batch:{output.resolve()}"
        options.review = holder(queue(args.profile), source, task.name, args.user, args.review)
    factor = None
    if args.via == "batch-api":
        from unyo._jobs._batch._provider import price_factor

        factor = price_factor(client.settings)
    if args.dry_run:
        if job is not None:
            rows, done, busy = loaded[1], finished_in(store_for(client.settings), job), set()
        else:
            _, rows, journal, done = load(options)
            busy = journal.in_open_submissions()  # already in a provider batch
            journal.close()
        left = [r for r in to_do(rows, done, args.retry_failed) if r.text.strip() and r.id not in busy]
        estimate = _no_llm(task, client, len(left)) or estimate_rows(
            task, client, [r.text for r in left], schema, args.model, factor
        )
        record = {"rows_total": len(rows), "via": args.via, **estimate.to_dict()}
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
        else:
            via = f" via the Batch API at {factor:%} of list prices" if factor is not None else ""
            print(
                f"dry run: {len(left)} of {len(rows)} rows to run with {task.name} on {estimate.model}{via}; "
                "nothing sent"
            )
            print(f"  input tokens (counted): {estimate.input_tokens:,}")
            print(f"  expected cost: {usd(estimate.expected_usd)} ({task.typical_output_tokens} output tokens per row)")
            print(
                f"  worst case:    {usd(estimate.worst_usd)} (every output at the cap of {task.max_output_tokens}; "
                "repairs can add calls, each budgeted)"
            )
        return 0
    batch_client = OpenAI(settings=batch_settings(client.settings, tag, max_cost), user=args.user)
    if args.via == "batch-api":
        from unyo._jobs._batch._provider import BatchApiRunner

        if args.poll <= 0:
            raise UsageError(Message("run.above_zero_seconds", option="--poll"))
        runner: Any = BatchApiRunner(
            options,
            batch_client,
            lambda line: print(line, file=sys.stderr, flush=True),
            args.poll,
            wait=not args.no_wait,
        )
        summary = runner.run()
    else:
        progress = _Progress(task.name)
        if job is not None:
            runner = SharedRunner(options, batch_client, progress.update, job=job, loaded=loaded, lease_s=args.lease)
        else:
            runner = Runner(options, batch_client, progress.update)
        try:
            summary = runner.run()
        finally:
            progress.finish()
    if args.json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False))
    if summary.ran == 0 and summary.pending == 0 and not summary.stopped:
        failed = Message("run.nothing_failed", failed=summary.failed) if summary.failed else Message("empty")
        print(msg("run.nothing_to_do", ok=summary.ok, failed=failed, output=summary.output), file=sys.stderr)
        return FAILED_ROWS if summary.failed and not args.allow_failures else 0
    print(
        msg(
            "run.summary",
            ok=summary.ok,
            failed=summary.failed,
            pending=summary.pending,
            rows=summary.rows,
            ran=summary.ran,
            spent=usd(summary.spent_usd),
            elapsed=summary.elapsed_s,
            retries=summary.retries,
            rate_limited=summary.rate_limited,
        ),
        file=sys.stderr,
    )
    if summary.output:
        print(msg("run.results", output=summary.output, journal=summary.journal), file=sys.stderr)
    else:
        print(msg("run.others_still_running", journal=summary.journal), file=sys.stderr)
    waiting = [b for b in summary.batches if b["status"] not in ("completed", "failed", "expired", "cancelled")]
    for b in waiting:
        print(msg("run.batch_waiting", id=b["id"], status=b["status"], rows=b["rows"]), file=sys.stderr)
    if summary.stopped:
        about = (
            Message("run.about_to_finish", usd=usd(summary.remaining_estimate_usd))
            if summary.remaining_estimate_usd is not None
            else Message("empty")
        )
        print(msg("run.stopped", reason=summary.stopped, pending=summary.pending, about=about), file=sys.stderr)
        return runner.exit_code or 1
    if summary.failed:
        print(msg("run.failed_rows"), file=sys.stderr)
        if not args.allow_failures:
            return FAILED_ROWS
    return 0


FAILED_ROWS = 8  # the batch ended, but some rows failed (exit 0 with --allow-failures)


def _collect(args: Namespace, client: Any, options: Any, job: str | None, loaded: Any) -> int:
    """--collect: write the output from the journal (PostgreSQL job or local), run nothing."""
    from unyo._jobs._batch import Runner
    from unyo._jobs._batch._runner import load
    from unyo._jobs._batch._workers import SharedRunner

    if job is not None:
        summary = SharedRunner(options, client, job=job, loaded=loaded).collect()
    else:
        if not options.output.with_name(options.output.name + ".journal").exists():
            raise UsageError(Message("run.collect_no_journal", output=options.output))
        runner = Runner(options, client)
        table, rows, journal, _ = load(options)
        try:
            runner._write(table, rows, journal)
        finally:
            journal.close()
        summary = runner.summary
        summary.rows = len(rows)
    if args.json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False))
    print(
        msg(
            "run.collected",
            ok=summary.ok,
            failed=summary.failed,
            pending=summary.pending,
            rows=summary.rows,
            output=summary.output,
        ),
        file=sys.stderr,
    )
    return 0


class _Progress:
    """A live bar on a terminal (rich); a line every 2 seconds otherwise (CI logs, pipes)."""

    def __init__(self, name: str) -> None:
        self.name, self.started, self.last_line = name, time.monotonic(), 0.0
        self.bar: Any = None

    def update(self, s: Any, limiter: Any) -> None:
        from unyo._types._prices import usd

        done, total = s.ran, s.ran + s.pending
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = f"{s.pending / rate:.0f}s" if rate > 0 else "?"
        text = (
            f"{self.name}: {done}/{total} rows · ok {s.ok} · failed {s.failed} · {rate:.2f} rows/s · "
            f"{usd(s.spent_usd)} · ETA {eta} · {limiter.rpm:.0f} rpm"
        )
        if sys.stderr.isatty():
            if self.bar is None:
                from rich.console import Console
                from rich.progress import BarColumn, Progress, TextColumn

                self.bar = Progress(
                    TextColumn("{task.description}"), BarColumn(), console=Console(stderr=True), refresh_per_second=8
                )
                self.bar.start()
                self.bar.add_task(text, total=max(total, 1))
            self.bar.update(self.bar.task_ids[0], completed=done, total=max(total, 1), description=text)
        elif time.monotonic() - self.last_line >= 2 or (total and done == total):
            self.last_line = time.monotonic()
            print(text, file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
