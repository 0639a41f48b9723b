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
from unyo._types._errors import ConfigError


def _options(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: use KEY=VALUE")
        out[key.strip()] = value
    return out


def _call_options(args: Namespace) -> dict[str, Any]:
    return {k: v for k, v in {"model": args.model, "api": args.api}.items() if v}


def run(args: Namespace) -> int:
    from unyo._jobs._tasks import find

    client = client_for(args.profile, user=args.user)
    task = find(args.task, client.settings.home).with_options(_options(args.set))
    schema = None
    if args.schema:
        from unyo._quality._structured import load_schema

        schema = load_schema(args.schema)
    if args.input:
        return _batch(args, client, task, schema)
    if args.file:
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--file {args.file}: {exc}") from None
    else:
        text = read_prompt(args.text or "-")
    if args.dry_run:
        return _dry_run_one(args, client, task, text, schema)
    from unyo._jobs._tasks import run_task

    result = run_task(task, text, client=client, schema=schema, user=args.user, tag=args.tag, **_call_options(args))
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


def _dry_run_one(args: Namespace, client: Any, task: Any, text: str, schema: Any) -> int:
    """The cost of one input, sending nothing (summarize counts every part it would map over)."""
    from unyo._jobs._batch import estimate_rows
    from unyo._jobs._tasks._run import planned_calls, summary_parts
    from unyo._types._prices import usd

    options = _call_options(args)
    calls = planned_calls(task, client, text, schema, options)
    texts = summary_parts(task, client, text, options) if calls > 1 else [text]
    estimate = estimate_rows(task, client, texts, schema, args.model)
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
    from unyo._jobs._batch._runner import load, to_do
    from unyo._types._prices import usd

    source = Path(args.input)
    output = Path(args.output) if args.output else source.with_name(f"{source.stem}.out{source.suffix}")
    if output.resolve() == source.resolve():
        raise ConfigError("--output must not be the input file")
    try:
        max_cost = Decimal(args.max_cost) if args.max_cost else None
    except InvalidOperation:
        raise ConfigError(f"--max-cost {args.max_cost!r} is not an amount in USD") from None
    if (args.concurrency is not None and args.concurrency < 1) or (args.rpm is not None and args.rpm <= 0):
        raise ConfigError("--concurrency must be at least 1 and --rpm above 0")
    if args.max_rows < 1 or args.max_cell_chars < 1:
        raise ConfigError("--max-rows and --max-cell-chars must be at least 1")
    tag = args.tag or f"task:{task.name}"
    call_options = {**_call_options(args), "tag": tag}
    if max_cost is not None and not args.tag:
        call_options["tag"] = tag = f"batch:{output.resolve()}"
    options = BatchOptions(
        task=task,
        input=source,
        output=output,
        column=args.column,
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
    if args.review and not args.dry_run:
        from unyo._cli._review import holder, queue

        source = f"batch:{output.resolve()}"
        options.review = holder(queue(args.profile), source, task.name, args.user, args.review)
    factor = None
    if args.via == "batch-api":
        from unyo._jobs._batch._provider import price_factor

        factor = price_factor(client.settings)
    if args.dry_run:
        _, rows, journal, done = load(options)
        busy = journal.in_open_submissions()  # already in a provider batch
        left = [r for r in to_do(rows, done, args.retry_failed) if r.text.strip() and r.id not in busy]
        journal.close()
        estimate = estimate_rows(task, client, [r.text for r in left], schema, args.model, factor)
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
            raise ConfigError("--poll must be above 0 seconds")
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
        runner = Runner(options, batch_client, progress.update)
        try:
            summary = runner.run()
        finally:
            progress.finish()
    if args.json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False))
    print(
        f"{summary.ok} ok, {summary.failed} failed, {summary.pending} pending of {summary.rows} rows · "
        f"this run: {summary.ran} rows, "
        f"{usd(summary.spent_usd)}, {summary.elapsed_s:.1f}s, {summary.retries} retries, "
        f"{summary.rate_limited} rate-limited",
        file=sys.stderr,
    )
    print(f"results: {summary.output} (journal {summary.journal})", file=sys.stderr)
    waiting = [b for b in summary.batches if b["status"] not in ("completed", "failed", "expired", "cancelled")]
    for b in waiting:
        print(
            f"batch {b['id']} is {b['status']} at the provider ({b['rows']} rows); run the same command to collect it",
            file=sys.stderr,
        )
    if summary.stopped:
        left = f"; {summary.pending} rows left" + (
            f", about {usd(summary.remaining_estimate_usd)} to finish"
            if summary.remaining_estimate_usd is not None
            else ""
        )
        print(f"stopped: {summary.stopped}{left}. Run the same command to continue.", file=sys.stderr)
        return runner.exit_code or 1
    if summary.failed:
        print("failed rows carry their error in unyo_error; re-run them with --retry-failed", file=sys.stderr)
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
