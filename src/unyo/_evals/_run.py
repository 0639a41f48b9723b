"""Running a suite: every (prompt, provider, case) becomes a cell, cells run through the batch
runner, then every case is scored from its cell's answer.

    suite ──> cells (one per distinct prompt text x model x options; two cases asking the same
    │         thing share one) ──> a JSONL of cells in UNYO_HOME/evals/<suite>/ ──> EvalRunner
    │         (the batch runner: concurrency, learned rate limits, journal to resume after a crash,
    │         --max-cost, progress) ──> each cell's answer, its calls tagged `eval:<suite>`
    └─> score: assertions over each answer (python in a subprocess, similar with the local
        embeddings, llm-rubric with the fixed grader) ──> a Report

Answers are cached per request — prompt, model, vars (rendered into the prompt) and options —
in the response cache (`_records/_cache`, kept 30 days for eval runs, temperature > 0 included),
so re-running after changing an assertion sends nothing and costs $0. A cached cell's cost and
latency are those of the call that first produced it (found in the ledger by response id), so
`cost` and `latency` assertions judge the same answer the same way on every run.

A completed run removes its journal; an interrupted one (Ctrl-C, crash, --max-cost, quota)
keeps it, and the next run of the same suite runs only the cells left.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from unyo._evals import _assertions
from unyo._evals._assertions import Check, Output, Unjudged
from unyo._evals._suite import Prompt, Provider, Suite
from unyo._jobs._batch._runner import BatchOptions, Runner, batch_settings
from unyo._records._private_files import write_private
from unyo._types._call import CallInfo, total_cost
from unyo._types._money_text import money_text

EVAL_CACHE_TTL_S = 30 * 86400.0
TYPICAL_OUTPUT_TOKENS = 200  # a prompt cell's expected output, for --dry-run (tasks have their own)
GRADE_WORKERS = 8


@dataclass(frozen=True)
class Cell:
    id: str
    prompt: Prompt
    provider: Provider
    system: str | None
    text: str


def column(prompt: Prompt, provider: Provider, suite: Suite) -> str:
    """A matrix column: the provider, or prompt · provider when the suite has several prompts."""
    return provider.label if len(suite.prompts) == 1 else f"{prompt.id} · {provider.label}"


def _cell_id(prompt: Prompt, provider: Provider, model: str, system: str | None, text: str) -> str:
    what = {"task": prompt.task, "options": prompt.options, "schema": prompt.schema, "system": system, "text": text,
            "model": model, "profile": provider.profile, "config": provider.config}  # fmt: skip
    return hashlib.sha256(json.dumps(what, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:20]


def resolved_model(provider: Provider, client: Any) -> str:
    """The model id a provider means now (a role resolved on its profile)."""
    settings = client.settings
    if provider.profile is not None and provider.profile != settings.profile.name:
        from unyo._core._config import load_settings

        settings = load_settings(profile=provider.profile)
    return str(settings.profile.resolve_model(provider.id)[0])


def cells_of(suite: Suite, client: Any) -> tuple[dict[str, Cell], dict[tuple[str, str], str]]:
    """The distinct cells (keyed by what is asked of which model id: a role pointed at another
    model is a new cell), and (case key, column) -> cell id."""
    cells: dict[str, Cell] = {}
    where: dict[tuple[str, str], str] = {}
    models = {p.label: resolved_model(p, client) for p in suite.providers}
    for case in suite.cases:
        for prompt in suite.prompts:
            system, text = prompt.render(case.vars)
            for provider in suite.providers:
                cid = _cell_id(prompt, provider, models[provider.label], system, text)
                cells.setdefault(cid, Cell(cid, prompt, provider, system, text))
                where[(case.key, column(prompt, provider, suite))] = cid
    return cells, where


# --- one cell ---------------------------------------------------------------------------------


@dataclass
class CellResult:
    output: dict[str, Any]
    calls: list[CallInfo] = field(default_factory=list)

    @property
    def cost_usd(self) -> Decimal | None:
        return total_cost(self.calls)


def _original(client: Any, call: CallInfo) -> tuple[float | None, Decimal | None]:
    """(latency, cost) of the call that first produced a cached answer."""
    from unyo._records._store import store_for
    from unyo._records._store._base import money

    if not call.response_id or client.settings.db_url == "off":
        return None, None
    with store_for(client.settings).tx(write=False) as tx:
        rows = tx.execute(
            "SELECT latency_s, cost FROM unyo_calls WHERE response_id = ? AND cache_hit = 0 ORDER BY ts LIMIT 1",
            [call.response_id],
        )
    return (rows[0][0], money(rows[0][1])) if rows else (None, None)


def _measures(client: Any, calls: list[CallInfo]) -> tuple[float | None, Decimal | None]:
    """(latency, list cost) of an answer's calls together; None where any one is unknown."""
    pairs = [_original(client, c) if c.cache_hit else (c.latency_s, c.cost_usd) for c in calls]
    latencies, costs = [p[0] for p in pairs], [p[1] for p in pairs]
    latency = None if any(v is None for v in latencies) else sum(v for v in latencies if v is not None)
    cost = None if any(v is None for v in costs) else sum((v for v in costs if v is not None), Decimal(0))
    return latency, cost


def call_options(provider: Provider, cache: bool) -> dict[str, Any]:
    options = dict(provider.config)
    options.setdefault("temperature", 0)
    options["unyo_cache"] = "force" if cache else "off"
    return options


def run_cell(cell: Cell, client: Any, tag: str, cache: bool = True, user: str | None = None) -> CellResult:
    options = call_options(cell.provider, cache)
    if cell.prompt.task is not None:
        from unyo._jobs._tasks import find, run_task

        task = find(cell.prompt.task, client.settings.home)
        cache_mode = options.pop("unyo_cache")
        result: Any = run_task(task, cell.text, client=client, options=cell.prompt.options or None, tag=tag,
                               schema=cell.prompt.schema,
                               user=user, model=cell.provider.id, unyo_cache=cache_mode, **options)  # fmt: skip
        record: dict[str, Any] | None = dict(result.output)
        text = json.dumps(result.output, ensure_ascii=False)
    else:
        from unyo._quality._ask import ask

        result = ask(cell.text, system=cell.system, model=cell.provider.id, client=client, unyo_tag=tag,
                     **({"unyo_user": user} if user else {}), **options)  # fmt: skip
        record, text = None, result.text
    calls = list(result.calls)
    latency, list_cost = _measures(client, calls)
    output = {
        "text": text,
        "record": record,
        "model": ", ".join(sorted({c.model for c in calls})),
        "latency_s": None if latency is None else round(latency, 4),
        "list_cost_usd": money_text(list_cost),
        "cached": bool(calls) and all(c.cache_hit for c in calls),
        "calls": len(calls),
    }
    return CellResult(output, calls)


def cell_estimate(cell: Cell, client: Any) -> tuple[int, Decimal | None, Decimal | None]:
    """(input tokens, expected USD, worst USD) of one cell, counted as its request will be built."""
    if cell.prompt.task is not None:
        from unyo._jobs._batch import estimate_rows
        from unyo._jobs._tasks import find

        task = find(cell.prompt.task, client.settings.home)
        if cell.prompt.options:
            task = task.with_options(cell.prompt.options)
        e = estimate_rows(task, client, [cell.text], cell.prompt.schema, cell.provider.id)
        return e.input_tokens, e.expected_usd, e.worst_usd
    from unyo._core._steps import model_counter
    from unyo._providers._catalog import model_info
    from unyo._types._call import Usage

    settings = client.settings
    model_id, _ = settings.profile.resolve_model(cell.provider.id)
    info = model_info(model_id, settings.models)
    price = settings.profile.price(info)
    messages = ([{"role": "system", "content": cell.system}] if cell.system else []) + [
        {"role": "user", "content": cell.text}
    ]
    tokens = model_counter(settings, info).count_messages(messages)
    cap = int(cell.provider.config.get("max_output_tokens") or settings.max_output_tokens)
    if price is None:
        return tokens, None, None
    return (tokens, price.cost(Usage(tokens, 0, min(cap, TYPICAL_OUTPUT_TOKENS))), price.cost(Usage(tokens, 0, cap)))


# --- the batch runner, over cells -----------------------------------------------------------------


class _EvalTask:
    """What the batch runner needs to know of "the task": a name for its journal."""

    def __init__(self, suite: str) -> None:
        self.name = f"eval:{suite}"


class EvalRunner(Runner):
    def __init__(self, options: BatchOptions, client: Any, cells: dict[str, Cell], tag: str, cache: bool,
                 clients: dict[str | None, Any], on_progress: Any = None) -> None:  # fmt: skip
        super().__init__(options, client, on_progress)
        self.cells, self.tag, self.cache, self.clients = cells, tag, cache, clients
        self.answered: dict[str, float] = {}  # cell id -> when its answer went into the response cache

    def paced(self, row: Any) -> bool:
        return not (self.cache and row.attempts == 0 and row.id in self.answered)

    def _client(self, cell: Cell) -> Any:
        return self.clients.get(cell.provider.profile, self.client)

    def run_row(self, row: Any) -> CellResult:
        cell = self.cells[row.id]
        return run_cell(cell, self._client(cell), self.tag, self.cache, self.o.user)

    def row_worst(self, row: Any) -> Decimal | None:
        cell = self.cells[row.id]
        return cell_estimate(cell, self._client(cell))[2]

    def rows_expected(self, rows: list[Any]) -> Decimal | None:
        total: Decimal | None = Decimal(0)
        for row in rows:
            cell = self.cells[row.id]
            expected = cell_estimate(cell, self._client(cell))[1]
            total = None if total is None or expected is None else total + expected
        return total


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:80] or "suite"


@dataclass
class RunOptions:
    concurrency: int | None = None
    rpm: float | None = None
    max_cost: Decimal | None = None  # the cap on the tag's total spend (what it had spent + this run's --max-cost)
    cache: bool = True
    restart: bool = False
    user: str | None = None
    on_progress: Any = None


def _limit_base(settings: Any, tag: str) -> Decimal:
    """What the tag has spent so far: `--max-cost` caps this run, on top of it."""
    from unyo._records._ledger import ledger_for

    if settings.db_url == "off":
        return Decimal(0)
    spent, reserved = ledger_for(settings).counters(["total"]).get((f"tag:{tag}", "total"), (Decimal(0), Decimal(0)))
    return spent + reserved


def eval_settings(settings: Any, tag: str, cap: Decimal | None, *, batch: bool) -> Any:
    """Batch settings (one attempt per call: the runner retries) or the grader's (normal
    retries), both with the eval cache TTL and the run's cost cap on the tag."""
    if batch:
        settings = batch_settings(settings, tag, cap)
    elif cap is not None:
        from unyo._core._limits import Limit

        budget = dataclasses.replace(
            settings.budget, limits=(*settings.budget.limits, Limit(f"tag:{tag}", "total", cap))
        )
        settings = dataclasses.replace(settings, budget=budget)
    return dataclasses.replace(settings, cache_ttl_s=max(settings.cache_ttl_s, EVAL_CACHE_TTL_S))


def work_dir(suite: Suite, client: Any) -> Path:
    return Path(client.settings.home) / "evals" / slug(suite.name)


def known_answers(suite: Suite, client: Any) -> dict[str, float]:
    """The cells whose answers are in the response cache (still within its TTL): they are not
    paced by the request-rate limiter, since they send nothing, and cost $0 in a dry run. If the
    cache lost one (pruned, another database), that cell's request goes out unpaced once; a 429
    paces its retry."""
    if client.settings.db_url == "off":
        return {}
    try:
        data = json.loads((work_dir(suite, client) / "answered.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    oldest = time.time() - EVAL_CACHE_TTL_S
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float)) and v > oldest}


def run_cells(suite: Suite, cells: dict[str, Cell], client: Any, opts: RunOptions) -> tuple[dict[str, Any], Any, int]:
    """Run every cell: (cell id -> journal entry, the batch summary, the exit code of an early stop)."""
    from unyo._client._openai import OpenAI
    from unyo._core._config import load_settings
    from unyo._jobs._batch import _files

    tag, cap = f"eval:{suite.name}", opts.max_cost
    work = work_dir(suite, client)
    source, output = work / "cells.jsonl", work / "answers.jsonl"
    work.mkdir(parents=True, exist_ok=True)
    _files.write(source, ["id", "text"], [{"id": c.id, "text": c.text} for c in cells.values()])
    batch_client = OpenAI(settings=eval_settings(client.settings, tag, cap, batch=True), user=opts.user)
    clients: dict[str | None, Any] = {None: batch_client}
    for profile in {c.provider.profile for c in cells.values()} - {None}:
        clients[profile] = OpenAI(settings=eval_settings(load_settings(profile=profile), tag, cap, batch=True))
    options = BatchOptions(task=_EvalTask(suite.name), input=source, output=output, column="text", id_column="id",
                           concurrency=opts.concurrency, rpm=opts.rpm, max_cost=cap, restart=opts.restart,
                           call_options={"tag": tag}, user=opts.user)  # fmt: skip
    runner = EvalRunner(options, batch_client, cells, tag, opts.cache, clients, opts.on_progress)
    memo = work / "answered.json"
    remember = opts.cache and client.settings.db_url != "off"  # no database, no response cache
    runner.answered = known_answers(suite, client) if remember else {}
    summary = runner.run()
    from unyo._jobs._batch._journal import Journal

    journal = Journal(Path(summary.journal), {"task": options.task.name, "column": "text", "id_column": "id"})
    done = journal.done()
    journal.close()
    if remember:
        now = time.time()
        fresh = {cid: runner.answered.get(cid, now) for cid, e in done.items() if e["status"] == "ok" and cid in cells}
        write_private(memo, json.dumps({**runner.answered, **fresh}))
    if summary.pending == 0 and not summary.stopped:
        for leftover in (Path(summary.journal), *Path(summary.journal).parent.glob(Path(summary.journal).name + "-*")):
            leftover.unlink(missing_ok=True)
    return done, summary, runner.exit_code


# --- scoring ----------------------------------------------------------------------------------


class Scorer:
    """Judges assertions; holds what the model-based ones need (grader, embeddings)."""

    def __init__(self, suite: Suite, grader: Any) -> None:
        self.suite, self.grader = suite, grader

    def check(self, a: _assertions.Assertion, out: Output) -> Check:
        try:
            if a.type == "python":
                from unyo._evals import _python

                passed, score, reason = _python.judge(a, out, self.suite.base_dir)
            elif a.type == "similar":
                passed, score, reason = self._similar(a, out)
            elif a.type == "llm-rubric":
                if self.grader is None:
                    raise Unjudged("llm-rubric needs a grader model, and none is available")
                from unyo._evals._grader import context_of

                passed, score, reason = self.grader.grade(str(a.value), out.text, context_of(out.vars))
                if a.threshold is not None:
                    passed = score >= a.threshold
            else:
                passed, score, reason = _assertions.JUDGES[a.type](a, out)
        except Unjudged as exc:
            return Check(a.name, False, 0.0, str(exc), a.weight, error=True)
        return _assertions.finish(a, passed, score, reason)

    def _similar(self, a: _assertions.Assertion, out: Output) -> tuple[bool, float, str]:
        from unyo._providers._local._embed import embed

        references = a.value if isinstance(a.value, list) else [a.value]
        try:
            vectors = embed([out.text, *map(str, references)], "query")
        except Exception as exc:  # noqa: BLE001 - the embedding engine's own errors
            raise Unjudged(f"similar: the embedding model failed ({type(exc).__name__}: {exc})") from None
        best = max(float(vectors[0] @ v) for v in vectors[1:])
        needed = a.threshold if a.threshold is not None else _assertions.SIMILAR_THRESHOLD
        return best >= needed, best, f"cosine {best:.3f} (needs {needed:g})"


def score_case(scorer: Scorer, case: Any, entry: dict[str, Any] | None, stopped: str | None) -> dict[str, Any]:
    """One case in one column: its verdict, score, cost, latency, answer and checks."""
    if entry is None:
        return {"status": "error", "score": 0.0, "error": f"not run ({stopped or 'pending'})", "checks": []}
    if entry["status"] != "ok":
        error = entry.get("error") or "failed"
        invalid = error.startswith("OutputInvalid")  # the model's answer broke the format: a fail
        return {"status": "fail" if invalid else "error", "score": 0.0, "error": error, "checks": [],
                "cost_usd": money_text(entry.get("cost"))}  # fmt: skip
    answer = entry["result"]
    out = Output(
        text=answer["text"],
        record=answer.get("record"),
        cost_usd=None if answer.get("list_cost_usd") is None else Decimal(answer["list_cost_usd"]),
        latency_s=answer.get("latency_s"),
        vars=case.vars,
    )
    checks = [scorer.check(a, out) for a in case.asserts]
    status, score = _assertions.case_verdict(checks, case.threshold)
    return {
        "status": status,
        "score": round(score, 4),
        "output": answer["text"],
        "model": answer.get("model"),
        "cost_usd": answer.get("list_cost_usd"),
        "billed_usd": money_text(entry.get("cost")),
        "latency_s": answer.get("latency_s"),
        "cached": answer.get("cached", False),
        "checks": [c.to_dict() for c in checks],
    }


def score_all(suite: Suite, where: dict[tuple[str, str], str], done: dict[str, Any], grader: Any,
              stopped: str | None) -> dict[tuple[str, str], dict[str, Any]]:  # fmt: skip
    scorer = Scorer(suite, grader)
    cases = {c.key: c for c in suite.cases}
    with ThreadPoolExecutor(GRADE_WORKERS) as pool:  # graders and python checks wait on I/O
        futures = {
            key: pool.submit(score_case, scorer, cases[key[0]], done.get(cid), stopped) for key, cid in where.items()
        }
        return {key: f.result() for key, f in futures.items()}
