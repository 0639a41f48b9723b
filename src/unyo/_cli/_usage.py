"""`unyo usage`: spend and tokens by day / model / role / user / task, against each budget;
`--json` for machines, `--html FILE` for a self-contained report with charts."""

from __future__ import annotations

from argparse import Namespace
from datetime import datetime
from typing import Any

from unyo._cli._shared import clean, parse_since, settings_for, table


def _month_start() -> float:
    now = datetime.now().astimezone()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def collect(settings: Any, since: float | None, by: list[str]) -> dict[str, Any]:
    from unyo._money._usage import budget_status, usage_report
    from unyo._records._store import url_for

    report = usage_report(settings, since, by)
    return {
        "since": datetime.fromtimestamp(since).astimezone().isoformat(timespec="seconds") if since else None,
        "store": url_for(settings).split("@")[-1],
        "total": report["total"],
        "groups": report["groups"],
        "not_billable": report["not_billable"],
        "budgets": budget_status(settings),
    }


def run(args: Namespace) -> int:
    from unyo._types._prices import usd

    settings = settings_for(args.profile)
    since = parse_since(args.since) if args.since else _month_start()
    by = args.by or ["day", "model", "role", "user", "tag"]
    report = collect(settings, since, by)
    if args.html:
        from unyo._cli._report_html import render
        from unyo._records._private_files import write_private

        write_private(args.html, render(report))  # 0600, atomic, never through a symlink: it names users and tags
        print(f"wrote {args.html}")
    if args.json:
        from unyo._records._audit import to_json

        print(to_json(report))
        return 0
    if args.html:
        return 0
    t = report["total"]
    print(
        f"Since {report['since']}: {t['calls']} calls, {usd(t['cost_usd'])}, "
        f"{t['input_tokens']} input / {t['output_tokens']} output tokens, "
        f"{t['cache_hits']} cache hits, {t['failed']} failed"
        + (f", {t['unpriced_calls']} unpriced" if t["unpriced_calls"] else "")
        + (
            f" (not counted: {report['not_billable']['models']} model listings, which are not billable calls)"
            if report["not_billable"].get("models")
            else ""
        )
    )
    for name, rows in report["groups"].items():
        table(
            f"by {name}",
            [name, "calls", "failed", "hits", "input", "cached", "output", "reasoning", "cost", "p50 s", "p95 s"],
            [
                [
                    r["key"],
                    r["calls"],
                    r["failed"],
                    r["cache_hits"],
                    r["input_tokens"],
                    r["cached_tokens"],
                    r["output_tokens"],
                    r["reasoning_tokens"],
                    usd(r["cost_usd"]) + ("*" if r["unpriced_calls"] else ""),
                    r["latency_p50_s"] or "-",
                    r["latency_p95_s"] or "-",
                ]
                for r in rows
            ],
        )
    for b in report["budgets"]:
        if b["period"] != "request":
            print(
                f"budget {b['limit']} [{clean(b['scope'])} {b['period']}]: spent ${b['spent']}, "
                f"reserved ${b['reserved']}, remaining ${b['remaining']} ({b['used']:.0%})"
            )
    return 0
