"""`unyo reconcile`: the ledger against the provider's own bill (usage and costs, read with
OPENAI_ADMIN_KEY); `--apply` records the bill's figures as adjustments; `--json` for machines."""

from __future__ import annotations

import json
from argparse import Namespace
from typing import Any

from unyo._cli._shared import clean, parse_since, settings_for, table


def run(args: Namespace) -> int:
    from unyo._money._reconcile import reconcile
    from unyo._types._prices import usd

    settings = settings_for(args.profile)
    since = parse_since(args.since or "30d")
    assert since is not None
    report = reconcile(settings, since, apply=args.apply, tolerance_pct=args.tolerance, min_tokens=args.min_tokens,
                       max_pages=args.max_pages, timeout_s=args.timeout)  # fmt: skip
    if getattr(args, "html", None):
        from unyo._cli._report_html import render_reconciliation
        from unyo._records._private_files import write_private

        write_private(args.html, render_reconciliation(report))
        print(f"wrote {args.html}; verdict: {report['verdict']}")
        return 0
    if args.json:
        print(json.dumps(report, ensure_ascii=False, default=str))
        return 0
    print(
        f"Reconciling {report['start'][:10]} .. {report['end'][:10]} (UTC days): "
        f"ledger {usd(report['ledger_cost'])}, bill {usd(report['provider_cost'])}"
    )
    _tokens(report, args.by)
    table(
        "cost per day",
        ["day", "ledger", "provider", "difference"],
        [
            [d["day"] + (" (partial)" if d["partial"] else ""), usd(d["ledger"]), usd(d["provider"]), usd(d["diff"])]
            for d in report["costs"]
        ],
    )
    for finding in report["findings"]:
        print(f"- {clean(finding)}")
    for p in report["prices"]:
        if p.get("override") and p is next(q for q in report["prices"] if q["model"] == p["model"]):
            print(f"  to price {clean(p['model'])} as billed, paste into unyo.toml:")
            for line in p["override"].splitlines():
                print(f"    {clean(line)}")
    if report["unseen"]:
        print(
            "Billed but never seen by unyo (other software using the same key shows up here, "
            "as does a process killed mid-call):"
        )
        for u in report["unseen"]:
            keys = (
                ", ".join(
                    f"{clean(k['api_key_id'])} / {clean(k['project_id'])}: {k['requests']} requests" for k in u["keys"]
                )
                or "no key given"
            )
            print(
                f"  {u['day']} {clean(u['model'])}: {u['requests']} requests, "
                f"{u['input_tokens']} input / {u['output_tokens']} output tokens [{keys}]"
            )
    for gap in report["gaps"]:
        print(f"- gap: the provider returned no bucket for {gap}; that day is not compared (not taken as zero)")
    for day in report["partial"]:
        print(f"- partial: {day} is still in progress on the provider's side; its figures will grow")
    for path in report["truncated"]:
        print(f"- truncated: {path} had more pages than read (page cap or timeout); later days are missing")
    for a in report["applied"]:
        print(
            f"applied {a['id']}: {a['input_tokens']:+} input / {a['output_tokens']:+} output tokens, "
            f"{a['requests']:+} requests, {usd(a['cost'])}"
        )
    if args.apply and not report["applied"]:
        print("applied nothing: the ledger already matches the bill for this range")
    print(f"verdict: {report['verdict']}")
    return 0


def _tokens(report: dict[str, Any], by: str) -> None:
    rows = report["tokens"]
    if by == "project":
        table(
            "provider usage by API key / project",
            ["api key", "project", "requests", "input", "output"],
            [
                [clean(k["api_key_id"]), clean(k["project_id"]), k["requests"], k["input_tokens"], k["output_tokens"]]
                for k in report["keys"]
            ],
        )
        return
    if by == "model":
        merged: dict[str, dict[str, int]] = {}
        for r in rows:
            m = merged.setdefault(r["model"], {})
            for name in (
                "ledger_input",
                "provider_input",
                "diff_input",
                "ledger_output",
                "provider_output",
                "diff_output",
            ):
                m[name] = m.get(name, 0) + r[name]
        rows = [{"day": "all", "model": model, "partial": False, **m} for model, m in sorted(merged.items())]
    table(
        "tokens per day and model (ledger vs provider)",
        ["day", "model", "input ledger", "input provider", "diff", "output ledger", "output provider", "diff"],
        [
            [
                r["day"] + (" (partial)" if r["partial"] else ""),
                clean(r["model"]),
                r["ledger_input"],
                r["provider_input"],
                f"{r['diff_input']:+}",
                r["ledger_output"],
                r["provider_output"],
                f"{r['diff_output']:+}",
            ]
            for r in rows
        ],
    )
