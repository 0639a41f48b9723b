"""`unyo eval SUITE.yaml`, `unyo eval --task NAME`, `unyo eval compare`, `unyo eval audit`:
the library does the work (`unyo._evals`); this prints the matrix and applies the gates."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from unyo._cli._shared import clean, client_for, table
from unyo._types._errors import BadInput, UsageError
from unyo._types._messages import Message

GATE_FAILED = 10  # --fail-under or --fail-on-regression (documented in the command's epilog)
MARK = {"pass": "✓", "fail": "✗", "error": "!"}


def _money(text: str | None, flag: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UsageError(Message("eval.not_usd", flag=flag, text=text)) from None
    if value < 0:
        raise UsageError(Message("eval.not_negative", flag=flag))
    return value


def _suite_source(args: Namespace) -> Any:
    if args.task:
        from unyo._evals._builtin import task_suite

        return task_suite(args.task)
    if not args.target:
        raise BadInput(Message("eval.needs_suite"))
    return args.target


def run(args: Namespace) -> int:
    if args.target == "compare":
        return _compare(args)
    if args.target == "audit":
        return _audit(args)
    from unyo._evals import estimate, evaluate
    from unyo._evals._evaluate import as_suite

    if args.fail_under is not None and not 0 <= args.fail_under <= 1:
        raise UsageError(Message("eval.fail_under"))
    client = client_for(args.profile, user=args.user)
    suite = as_suite(_suite_source(args), args.model)
    if args.limit:
        suite.cases = suite.cases[: args.limit]
    if args.dry_run:
        return _dry_run(estimate(suite, client=client), args)
    baseline = None
    if args.baseline:
        from unyo._evals._report import load_baseline

        baseline = load_baseline(args.baseline)
    elif args.fail_on_regression:
        raise UsageError(Message("eval.regression_needs_baseline"))
    progress = _progress(f"eval {suite.name}")
    try:
        report = evaluate(suite, client=client, concurrency=args.concurrency, rpm=args.rpm,
                          max_cost=_money(args.max_cost, "--max-cost"), cache=not args.no_cache,
                          restart=args.restart, user=args.user, baseline=baseline,
                          on_progress=progress.update)  # fmt: skip
    finally:
        progress.finish()
    if baseline is not None:
        report.baseline = args.baseline
    _write_outputs(report, args)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print_matrix(report)
    return _gates(report, args)


def _progress(name: str) -> Any:
    from unyo._cli._run import _Progress

    return _Progress(name)


def _write_outputs(report: Any, args: Namespace) -> None:
    from unyo._records._private_files import write_private

    if args.junit:
        write_private(Path(args.junit), report.to_junit())
        print(f"JUnit: {args.junit}", file=sys.stderr)
    if args.html:
        from unyo._cli._eval_html import render

        write_private(Path(args.html), render(report.to_dict()))
        print(f"HTML report: {args.html}", file=sys.stderr)
    if args.output:
        write_private(Path(args.output), json.dumps(report.to_dict(), ensure_ascii=False, indent=1) + "\n")
        print(f"JSON report: {args.output}", file=sys.stderr)


def _gates(report: Any, args: Namespace) -> int:
    failed = []
    if args.fail_under is not None and report.pass_rate < args.fail_under:
        failed.append(f"pass rate {report.pass_rate:.1%} < --fail-under {args.fail_under:.1%}")
    if args.fail_on_regression and report.regressions:
        failed.append(f"{len(report.regressions)} regression(s) against {args.baseline}")
    if report.stopped:
        left = report.run.get("remaining_estimate_usd")
        about = f" (about ${left} to finish)" if left is not None else ""
        print(
            f"stopped: {report.stopped}; cases not run count as errors{about}. Run again to continue.", file=sys.stderr
        )
        code = int(report.run.get("exit_code") or 1)
        if code == 4 or not failed:
            return code
    for line in failed:
        print(f"gate failed: {line}", file=sys.stderr)
    return GATE_FAILED if failed else 0


def _dry_run(estimate: dict[str, Any], args: Namespace) -> int:
    from unyo._types._prices import usd

    if args.json:
        print(json.dumps(estimate, ensure_ascii=False))
        return 0
    print(f"dry run: suite {estimate['suite']}, {estimate['cells']} distinct call(s), {estimate['cached']} of them "
          "already answered in the cache ($0); nothing sent")  # fmt: skip
    for col, e in estimate["columns"].items():
        print(f"  {col}: {e['cells'] - e['cached']} to send, {e['input_tokens']:,} input tokens, "
              f"expected {usd(e['expected_usd'])}, worst {usd(e['worst_usd'])}")  # fmt: skip
    if estimate["grader_calls"]:
        print(f"  plus up to {estimate['grader_calls']} llm-rubric grader call(s) (cached ones cost $0)")
    return 0


# --- the terminal matrix ----------------------------------------------------------------------


def _cell(r: dict[str, Any]) -> str:
    from unyo._types._prices import usd

    latency = f"{r['latency_s']:.2f}s" if r.get("latency_s") is not None else "-"
    change = {"regression": " ↓REGRESSION", "improvement": " ↑"}.get(r.get("change") or "", "")
    cost = usd(r["cost_usd"]) if r.get("cost_usd") is not None else "-"
    return f"{MARK[r['status']]} {r['score']:.2f} · {cost} · {latency}{' (cached)' if r.get('cached') else ''}{change}"


def print_matrix(report: Any) -> None:
    from unyo._types._prices import usd

    rows = [[c["description"] or c["key"], *[_cell(c["results"][col]) for col in report.columns]] for c in report.cases]
    table(f"eval {report.suite} · {report.profile}", ["case", *report.columns], rows)
    totals = report.column_totals()
    summary = [
        [col, f"{t['passed']}/{t['cases']} ({t['pass_rate']:.0%})", f"{t['mean_score']:.2f}", str(t["errors"]),
         usd(t["cost_usd"]) if t["cost_usd"] is not None else "unpriced", usd(t["billed_usd"]),
         f"{t['latency_p50_s']}s" if t["latency_p50_s"] is not None else "-",
         f"{t['latency_p95_s']}s" if t["latency_p95_s"] is not None else "-"]
        for col, t in totals.items()
    ]  # fmt: skip
    table("totals", ["model", "pass", "mean score", "errors", "cost", "billed now", "p50", "p95"], summary)
    failing = [
        (c["description"] or c["key"], col, r)
        for c in report.cases
        for col, r in c["results"].items()
        if r["status"] != "pass"
    ]
    for name, col, r in failing[:20]:
        reasons = [f"{k['type']}: {k['reason']}" for k in r["checks"] if not k["pass"] or k["error"]]
        print(clean(f"  {MARK[r['status']]} {name} [{col}]: {'; '.join(reasons) or r.get('error', '')}")[:300])
    if len(failing) > 20:
        print(f"  … and {len(failing) - 20} more (--json or --html for all)")
    if report.baseline:
        print(f"against {report.baseline}: {len(report.regressions)} regression(s), "
              f"{len(report.improvements)} improvement(s)")  # fmt: skip
        for r in report.regressions:
            print(clean(f"  ↓ {r['case']} [{r['column']}]: {r['before']} -> {r['now']}"))
    grader = f" · grader {report.grader}" if report.grader else ""
    print(f"[{report.run['cells']} cell(s), {report.run['ran']} run now · billed {usd(report.run['spent_usd'])} · "
          f"{report.run['elapsed_s']:.1f}s · tag {report.run['tag']}{grader}]", file=sys.stderr)  # fmt: skip


# --- compare ----------------------------------------------------------------------------------


def _compare(args: Namespace) -> int:
    from unyo._evals._compare import compare
    from unyo._types._prices import usd

    if not args.model or len(args.model) < 2:
        raise UsageError(Message("eval.compare_needs_models"))
    client = client_for(args.profile, user=args.user)
    suite = _suite_source(args)
    progress = _progress("eval compare")
    try:
        result = compare(suite, args.model, client=client, threshold=args.threshold, limit=args.limit,
                         max_cost=_money(args.max_cost, "--max-cost"), cache=not args.no_cache,
                         on_progress=progress.update)  # fmt: skip
    finally:
        progress.finish()
    _write_outputs(result["report"], args)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "report"}, ensure_ascii=False))
        return 0
    rows = []
    for row in result["models"]:
        star = "★ " if row["model"] == result["recommended"] else ""
        rows.append([f"{star}{row['model']}", row["resolved"], f"{row['pass_rate']:.0%}", f"{row['mean_score']:.2f}",
                     usd(row["cost_per_1000_usd"]) if row["cost_per_1000_usd"] is not None else "unpriced",
                     f"{row['latency_p50_s']}s" if row["latency_p50_s"] is not None else "-",
                     f"{row['latency_p95_s']}s" if row["latency_p95_s"] is not None else "-",
                     "yes" if row["meets"] else "no"])  # fmt: skip
    table(f"compare {result['suite']} (threshold {args.threshold:.0%} pass rate)",
          ["model", "id", "quality", "mean score", "per 1000 rows", "p50", "p95", "meets"], rows)  # fmt: skip
    if result["recommended"]:
        print(f"★ {result['recommended']}: the cheapest model that meets {args.threshold:.0%}")
    else:
        print(f"no model meets {args.threshold:.0%}; the best was {result['best']}")
    return 0


def _audit(args: Namespace) -> int:
    from unyo._cli._shared import parse_since
    from unyo._evals._audit import audit_check

    client = client_for(args.profile, user=args.user)
    since = parse_since(args.since or "7d")
    result = audit_check(client, since=since, sample=args.sample, grader_model=args.grader, tag=args.tag)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        rows = [[r["call_id"][:12], r["tag"] or "", ", ".join(r["tools"])[:40], MARK[r["status"]],
                 r["reason"][:100]] for r in result["checked"]]  # fmt: skip
        table(f"tool results vs final answers (since {args.since or '7d'}, grader {result['grader']})",
              ["call", "tag", "tools", "ok", "reason"], rows)  # fmt: skip
        print(
            f"{result['consistent']} consistent, {result['inconsistent']} inconsistent, {result['errors']} could not "
            f"be judged, of {len(result['checked'])} sampled ({result['candidates']} with tool results)"
        )
    if args.fail_under is not None and result["checked"]:
        rate = result["consistent"] / len(result["checked"])
        if rate < args.fail_under:
            print(f"gate failed: consistency {rate:.1%} < --fail-under {args.fail_under:.1%}", file=sys.stderr)
            return GATE_FAILED
    return 0
