"""`unyo.evaluate(suite)` and `unyo.aevaluate(suite)`: run a suite, get a Report.

The run is the batch runner's (threads, rate-adaptive), so `aevaluate` runs it in a worker
thread and awaits it: an event loop is never blocked by a suite.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from unyo._evals._report import Report, load_baseline
from unyo._evals._suite import Suite, provider_for


def as_suite(suite: str | Path | dict[str, Any] | Suite, models: list[str] | None = None) -> Suite:
    from unyo._evals import _suite

    if isinstance(suite, Suite):
        loaded = suite
    elif isinstance(suite, dict):
        loaded = _suite.from_data(suite)
    else:
        loaded = _suite.load(suite)
    if models:
        loaded.providers = [provider_for(m) for m in dict.fromkeys(models)]
    return loaded


def _client(client: Any, profile: str | None) -> Any:
    if client is not None:
        return client
    from unyo._client._openai import OpenAI

    return OpenAI(profile=profile)


def estimate(suite: Any, *, models: list[str] | None = None, profile: str | None = None, client: Any = None,
             cache: bool = True) -> dict[str, Any]:  # fmt: skip
    """What the suite would cost, sending nothing: per column, the cells whose answers are not
    already in the response cache (those cost $0; with `cache=False` every cell counts)."""
    from unyo._evals._run import cell_estimate, cells_of, column, known_answers

    loaded = as_suite(suite, models)
    client = _client(client, profile)
    cells, _ = cells_of(loaded, client)
    cached = known_answers(loaded, client) if cache else {}
    per: dict[str, dict[str, Any]] = {}
    for cell in cells.values():
        col = column(cell.prompt, cell.provider, loaded)
        row = per.setdefault(col, {"cells": 0, "cached": 0, "input_tokens": 0, "expected_usd": Decimal(0),
                                   "worst_usd": Decimal(0)})  # fmt: skip
        row["cells"] += 1
        if cell.id in cached:
            row["cached"] += 1
            continue
        tokens, expected, worst = cell_estimate(cell, client)
        row["input_tokens"] += tokens
        for key, value in (("expected_usd", expected), ("worst_usd", worst)):
            row[key] = None if value is None or row[key] is None else row[key] + value
    graded = sum(1 for case in loaded.cases for a in case.asserts if a.type == "llm-rubric")
    out = {col: {k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items()} for col, row in per.items()}
    return {"suite": loaded.name, "cells": len(cells), "cached": len(set(cells) & set(cached)), "columns": out,
            "grader_calls": graded * len(loaded.prompts) * len(loaded.providers), "dry_run": True}  # fmt: skip


def evaluate(
    suite: str | Path | dict[str, Any] | Suite,
    *,
    models: list[str] | None = None,
    profile: str | None = None,
    client: Any = None,
    concurrency: int | None = None,
    rpm: float | None = None,
    max_cost: Decimal | str | float | None = None,
    cache: bool = True,
    restart: bool = False,
    user: str | None = None,
    baseline: str | Path | dict[str, Any] | None = None,
    on_progress: Any = None,
) -> Report:
    """Run `suite` (a YAML path, a dict in the same shape, or a loaded Suite) and score it.
    `models` replaces the suite's providers; `max_cost` (USD) caps this run; `baseline` (a
    previous report's JSON, or its path) marks regressions and improvements."""
    from unyo._evals import _grader, _run

    loaded = as_suite(suite, models)
    client = _client(client, profile)
    started = time.monotonic()
    tag = f"eval:{loaded.name}"
    cap = None if max_cost is None else _run._limit_base(client.settings, tag) + Decimal(str(max_cost))
    opts = _run.RunOptions(concurrency, rpm, cap, cache, restart, user, on_progress)
    cells, where = _run.cells_of(loaded, client)
    done, summary, exit_code = _run.run_cells(loaded, cells, client, opts)
    uses_grader = any(a.type == "llm-rubric" for c in loaded.cases for a in c.asserts)
    grader = None
    if uses_grader:
        from unyo._client._openai import OpenAI

        grader_client = OpenAI(settings=_run.eval_settings(client.settings, tag, cap, batch=False), user=user)
        grader = _grader.Grader(grader_client, _grader.resolve(client, loaded.grader), tag)
    scored = _run.score_all(loaded, where, done, grader, summary.stopped)
    columns = list(dict.fromkeys(col for _, col in where))
    cases = [
        {"key": c.key, "description": c.description, "where": c.where, "vars": c.vars,
         "results": {col: scored[(c.key, col)] for col in columns}}
        for c in loaded.cases
    ]  # fmt: skip
    report = Report(loaded.name, loaded.description, columns, cases, grader.model if grader else None,
                    client.settings.profile.name, str(loaded.path) if loaded.path else None)  # fmt: skip
    report.run = {
        "cells": len(cells),
        "ran": summary.ran,
        "spent_usd": str(summary.spent_usd),
        "elapsed_s": round(time.monotonic() - started, 3),
        "retries": summary.retries,
        "rate_limited": summary.rate_limited,
        "stopped": summary.stopped,
        "remaining_estimate_usd": None
        if summary.remaining_estimate_usd is None
        else str(summary.remaining_estimate_usd),
        "exit_code": exit_code,
        "tag": tag,
    }
    if baseline is not None:
        data = baseline if isinstance(baseline, dict) else load_baseline(baseline)
        report.compare_to(data, "<dict>" if isinstance(baseline, dict) else str(baseline))
    return report


async def aevaluate(suite: str | Path | dict[str, Any] | Suite, **options: Any) -> Report:
    """The async twin of `evaluate` (the same run, in a worker thread)."""
    return await asyncio.to_thread(evaluate, suite, **options)
