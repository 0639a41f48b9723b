"""`unyo eval --html`: one self-contained page (inline CSS and SVG, no scripts, no network): the
matrix of cases x models, totals, cost and latency charts, and per case a diff view of each
model's output against the first column's."""

from __future__ import annotations

import difflib
import json
import re
from html import escape
from typing import Any

from unyo._cli._report_html import CSS, _bars
from unyo._types._prices import usd

EVAL_CSS = """
td.pass{background:#e7f6ec} td.fail{background:#fde8e8} td.error{background:#fff4d6}
td.regression{outline:2px solid #dc2626} .st{font-weight:600}
details{border:1px solid #dde2e8;border-radius:6px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer} pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:.5rem;margin:.3rem 0}
del{background:#fecaca;text-decoration:line-through} ins{background:#bbf7d0;text-decoration:none}
.p50{fill:#3b82f6} .p95{fill:#93c5fd} ul.checks{margin:.2rem 0 .5rem 1rem;padding:0}
"""
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


def diff(before: str, after: str) -> str:
    """`after` against `before`, word by word: removed words <del>, added words <ins>."""
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(escape("".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
        if j2 > j1:
            out.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
    return "".join(out)


def _latency_chart(totals: dict[str, dict[str, Any]], width: int = 900, height: int = 160) -> str:
    values = [(col, t["latency_p50_s"] or 0.0, t["latency_p95_s"] or 0.0) for col, t in totals.items()]
    top = max([v for _, p50, p95 in values for v in (p50, p95)] or [0.0]) or 1.0
    step = width / max(len(values), 1)
    bar = min(40.0, step * 0.35)
    parts = [f'<svg role="img" aria-label="latency chart" width="{width}" height="{height + 40}" '
             f'viewBox="0 0 {width} {height + 40}">']  # fmt: skip
    for i, (col, p50, p95) in enumerate(values):
        x = i * step + step / 2 - bar
        for offset, value, cls, name in ((0.0, p50, "p50", "p50"), (bar, p95, "p95", "p95")):
            h = value / top * height
            parts.append(f'<rect class="{cls}" x="{x + offset:.1f}" y="{height - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}"><title>{escape(col)} {name}: {value:.3f}s</title></rect>')  # fmt: skip
        parts.append(f'<text x="{x + bar:.1f}" y="{height + 14}" text-anchor="middle">{escape(col[-18:])}</text>')
    parts.append(f'<text x="0" y="{height + 34}">p50 (dark) and p95 (light) seconds; max {top:.2f}s</text></svg>')
    return "".join(parts)


def _checks(result: dict[str, Any]) -> str:
    items = "".join(
        f"<li>{'✓' if c['pass'] and not c['error'] else '!' if c['error'] else '✗'} <b>{escape(c['type'])}</b> "
        f"{escape(c['reason'])}</li>"
        for c in result.get("checks", [])
    )
    error = f"<li>! {escape(result['error'])}</li>" if result.get("error") else ""
    return f'<ul class="checks">{items}{error}</ul>'


def _case_details(case: dict[str, Any], columns: list[str]) -> str:
    first = case["results"][columns[0]].get("output") or ""
    blocks = []
    for i, col in enumerate(columns):
        r = case["results"][col]
        output = r.get("output") or ""
        body = escape(output) if i == 0 or not first else diff(first, output)
        note = "" if i == 0 else f' <span class="muted">(diff against {escape(columns[0])})</span>'
        blocks.append(f'<h4>{escape(col)}: <span class="st">{r["status"]}</span> {r["score"]:.2f}{note}</h4>'
                      f"{_checks(r)}<pre>{body}</pre>")  # fmt: skip
    values = escape(json.dumps(case["vars"], ensure_ascii=False, indent=1))
    name = escape(case["description"] or case["key"])
    return f"<details><summary>{name}</summary><pre>{values}</pre>{''.join(blocks)}</details>"


def render(report: dict[str, Any]) -> str:
    columns, totals = report["columns"], report["totals"]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = []
    for case in report["cases"]:
        cells = []
        for col in columns:
            r = case["results"][col]
            classes = " ".join(x for x in (r["status"], r.get("change") or "") if x)
            cost = usd(r["cost_usd"]) if r.get("cost_usd") is not None else "-"
            latency = f"{r['latency_s']:.2f}s" if r.get("latency_s") is not None else "-"
            cells.append(f'<td class="{classes}"><span class="st">{r["status"]}</span> {r["score"]:.2f}<br>'
                         f'<span class="muted">{cost} · {latency}</span></td>')  # fmt: skip
        rows.append(f"<tr><td>{escape(case['description'] or case['key'])}</td>{''.join(cells)}</tr>")
    total_rows = "".join(
        f"<tr><td>{escape(col)}</td><td>{t['passed']}/{t['cases']} ({t['pass_rate']:.0%})</td>"
        f"<td>{t['mean_score']:.2f}</td><td>{t['errors']}</td>"
        f"<td>{usd(t['cost_usd']) if t['cost_usd'] is not None else 'unpriced'}</td><td>{usd(t['billed_usd'])}</td>"
        f"<td>{t['latency_p50_s'] if t['latency_p50_s'] is not None else '-'}</td>"
        f"<td>{t['latency_p95_s'] if t['latency_p95_s'] is not None else '-'}</td></tr>"
        for col, t in totals.items()
    )
    cost_rows = [{"key": col, "cost_usd": t["cost_usd"] or "0", "calls": t["cases"]} for col, t in totals.items()]
    changes = ""
    if report.get("baseline"):
        items = "".join(f"<li>↓ {escape(r['case'])} [{escape(r['column'])}]: {escape(r['before'])} → "
                        f"{escape(r['now'])}</li>" for r in report["regressions"])  # fmt: skip
        changes = (f"<h2>Against {escape(str(report['baseline']))}</h2><p>{len(report['regressions'])} regression(s), "
                   f"{len(report['improvements'])} improvement(s)</p><ul>{items}</ul>")  # fmt: skip
    run = report["run"]
    cards = "".join(
        f'<div class="card"><span class="muted">{label}</span><b id="{key}">{escape(str(value))}</b></div>'
        for key, label, value in (
            ("pass-rate", "pass rate", f"{report['pass_rate']:.0%}"),
            ("cases", "cases", len(report["cases"])),
            ("models", "columns", len(columns)),
            ("billed", "billed this run", usd(run.get("spent_usd"))),
        )
    )
    grader = f" · grader {escape(report['grader'])}" if report.get("grader") else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>unyo eval {escape(report["suite"])}</title>
<style>{CSS}{EVAL_CSS}</style></head>
<body>
<h1>unyo eval: {escape(report["suite"])}</h1>
<p class="muted">{escape(report.get("description") or "")} · profile {escape(report.get("profile") or "")}{grader} \
· tag {escape(run.get("tag", ""))}</p>
<div class="cards">{cards}</div>
<h2>Matrix</h2>
<table id="matrix"><tr><th>case</th>{head}</tr>{"".join(rows)}</table>
<h2>Totals</h2>
<table><tr><th>model</th><th>pass</th><th>mean score</th><th>errors</th><th>cost</th><th>billed now</th>\
<th>p50 s</th><th>p95 s</th></tr>{total_rows}</table>
<h2>Cost per model</h2>{_bars(cost_rows)}
<h2>Latency per model</h2>{_latency_chart(totals)}
{changes}
<h2>Outputs</h2>
{"".join(_case_details(c, columns) for c in report["cases"])}
</body></html>
"""
