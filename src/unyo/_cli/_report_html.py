"""The `unyo usage --html` report: one self-contained file (inline CSS and SVG, no scripts, no
network), so it can be mailed to a client or attached to an invoice."""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any

from unyo._types._prices import usd

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Hiragino Sans","Noto Sans JP",sans-serif;\
margin:2rem auto;max-width:980px;color:#1d232b;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} \
h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #dde2e8;padding-bottom:.3rem}
.muted{color:#66707c} .cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{border:1px solid #dde2e8;border-radius:8px;padding:.7rem 1rem;min-width:150px} \
.card b{display:block;font-size:1.3rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0} \
th,td{padding:.3rem .5rem;border-bottom:1px solid #eef1f4;text-align:right}
th:first-child,td:first-child{text-align:left} th{background:#f6f8fa}
.bar{fill:#3b82f6} .bar.warn{fill:#f59e0b} .bar.over{fill:#dc2626} svg text{font-size:11px;fill:#3c4550}
"""


def _bars(rows: list[dict[str, Any]], width: int = 900, height: int = 180) -> str:
    """A bar chart of cost per row (a day, a model ...), as inline SVG."""
    if not rows:
        return '<p class="muted">No calls in this period.</p>'
    values = [Decimal(r["cost_usd"]) for r in rows]
    top = max(values) or Decimal(1)
    step = width / len(rows)
    bar = min(48.0, max(2.0, step * 0.7))
    parts = [
        f'<svg role="img" aria-label="cost chart" width="{width}" height="{height + 48}" '
        f'viewBox="0 0 {width} {height + 48}">'
    ]
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        h = float(value / top) * height if top else 0.0
        x = i * step + (step - bar) / 2
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{height - h:.1f}" width="{bar:.1f}" height="{h:.1f}">'
            f"<title>{escape(row['key'])}: {usd(value)}, {row['calls']} calls</title></rect>"
        )
        if len(rows) <= 31:
            lines = _label_lines(str(row["key"]), step)
            spans = "".join(
                f'<tspan x="{x + bar / 2:.1f}" dy="{0 if n == 0 else 12}">{escape(text)}</tspan>'
                for n, text in enumerate(lines)
            )
            parts.append(f'<text y="{height + 14}" text-anchor="middle">{spans}</text>')
    parts.append(f'<text x="0" y="{height + 44}">max {usd(top)} per bar</text></svg>')
    return "".join(parts)


def _label_lines(key: str, step: float, char_px: float = 6.4) -> list[str]:
    """A bar's label: a day as MM-DD; anything else (a model, a user) whole, wrapped onto two lines
    at a '-', '/' or '.' when it is wider than its bar, and only then shortened in the middle
    (`gpt-4o-mi…-2024-07-18`), so the start and the end of the name both stay readable."""
    import re

    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", key):
        return [key[5:]]
    fits = max(6, int(step / char_px))
    if len(key) <= fits:
        return [key]
    cut = max((key.rfind(sep, 0, fits + 1) for sep in "-/._:"), default=-1)
    first, rest = (key[: cut + 1], key[cut + 1 :]) if cut > 0 else (key[:fits], key[fits:])
    if len(rest) > fits:
        keep = fits - 1
        rest = rest[: keep // 2] + "…" + rest[-(keep - keep // 2) :]
    return [first, rest]


def _gauge(b: dict[str, Any]) -> str:
    used = min(1.0, b["used"])
    cls = "over" if b["used"] >= 1 else "warn" if b["used"] >= 0.8 else ""
    return (
        f'<svg width="300" height="14" role="img" aria-label="{b["used"]:.0%} used">'
        '<rect width="300" height="14" fill="#eef1f4"/>'
        f'<rect class="bar {cls}" width="{300 * used:.1f}" height="14"/></svg>'
    )


def _table(rows: list[dict[str, Any]], name: str) -> str:
    head = (
        f"<tr><th>{escape(name)}</th><th>calls</th><th>failed</th><th>cache hits</th><th>input</th><th>cached</th>"
        "<th>output</th><th>reasoning</th><th>cost</th><th>p50 s</th><th>p95 s</th></tr>"
    )
    body = "".join(
        f"<tr><td>{escape(r['key'])}</td><td>{r['calls']}</td><td>{r['failed']}</td><td>{r['cache_hits']}</td><td>{r['input_tokens']}</td>"
        f"<td>{r['cached_tokens']}</td><td>{r['output_tokens']}</td><td>{r['reasoning_tokens']}</td><td>"
        f"{usd(r['cost_usd'])}{'*' if r['unpriced_calls'] else ''}</td>"
        f"<td>{r['latency_p50_s'] if r['latency_p50_s'] is not None else '-'}</td><td>"
        f"{r['latency_p95_s'] if r['latency_p95_s'] is not None else '-'}</td></tr>"
        for r in rows
    )
    return f"<table>{head}{body}</table>"


def render(report: dict[str, Any]) -> str:
    t = report["total"]
    cards = "".join(
        f'<div class="card"><span class="muted">{label}</span><b id="{key}">{value}</b></div>'
        for key, label, value in (
            ("total-cost", "spend", usd(t["cost_usd"])),
            ("total-calls", "calls", t["calls"]),
            ("total-tokens", "tokens in / out", f"{t['input_tokens']} / {t['output_tokens']}"),
            ("total-hits", "cache hits", t["cache_hits"]),
            ("total-failed", "failed", t["failed"]),
        )
    )
    budgets = "".join(
        f"<tr><td>{escape(b['limit'])}</td><td>{escape(b['scope'])}</td><td>{escape(b['period'])}</td><td>{usd(b['spent'])}</td>"
        f"<td>{usd(b['reserved'])}</td><td>{usd(b['remaining'])}</td><td>{_gauge(b)} {b['used']:.0%}</td></tr>"
        for b in report["budgets"]
        if b["period"] != "request"
    )
    sections = []
    for name, rows in report["groups"].items():
        chart = _bars(rows) if name in ("day", "model") else ""
        sections.append(f"<h2>By {escape(name)}</h2>{chart}{_table(rows, name)}")
    budget_table = (
        "<table><tr><th>limit</th><th>scope</th><th>period</th><th>spent</th><th>reserved</th><th>remaining</th>"
        "<th>used</th></tr>" + budgets + "</table>"
        if budgets
        else '<p class="muted">No budget is set.</p>'
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>unyo usage report</title><style>{CSS}</style></head>
<body>
<h1>unyo usage report</h1>
<p class="muted">Since {escape(str(report["since"]))} · ledger {escape(report["store"])} · \
costs at list prices; * marks groups with unpriced calls</p>
<div class="cards">{cards}</div>
<h2>Budgets</h2>
{budget_table}
{"".join(sections)}
</body></html>
"""


def render_reconciliation(report: dict[str, Any], title: str = "unyo reconciliation") -> str:
    """`unyo reconcile --html`: the ledger against the bill, as one self-contained page."""

    def cells(values: list[Any]) -> str:
        return "".join(f"<td>{escape(str(v))}</td>" for v in values)

    def rows(items: list[list[Any]]) -> str:
        return "".join(f"<tr>{cells(r)}</tr>" for r in items)

    def head(names: list[str]) -> str:
        return "<tr>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"

    tokens = [
        [t["day"], t["model"], t["ledger_input"], t["provider_input"], t["diff_input"], t["ledger_output"],
         t["provider_output"], t["diff_output"]]
        for t in report["tokens"]
    ]  # fmt: skip
    costs = [[d["day"] + (" (partial)" if d["partial"] else ""), usd(d["ledger"]), usd(d["provider"]), usd(d["diff"])]
             for d in report["costs"]]  # fmt: skip
    unseen = [[u["day"], u["model"], u["requests"], u["input_tokens"], u["output_tokens"]] for u in report["unseen"]]
    findings = "".join(f"<li>{escape(str(f))}</li>" for f in report["findings"]) or "<li>none</li>"
    notes = [f"gap: no bucket for {g} (not compared, not taken as zero)" for g in report["gaps"]]
    notes += [f"partial: {d} is still in progress" for d in report["partial"]]
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="muted">{escape(report["start"][:10])} .. {escape(report["end"][:10])} (UTC days)</p>'
        f'<div class="cards"><div class="card">ledger<b>{escape(usd(report["ledger_cost"]))}</b></div>'
        f'<div class="card">bill<b>{escape(usd(report["provider_cost"]))}</b></div>'
        f'<div class="card">drift<b>{escape(usd(report["drift"]))}</b>{report["drift_pct"]:+.2f} %</div></div>'
        f"<p><b>verdict:</b> {escape(report['verdict'])}</p>"
        f"<h2>Findings</h2><ul>{findings}</ul>"
        f"<h2>Cost per day</h2><table>{head(['day', 'ledger', 'provider', 'difference'])}{rows(costs)}</table>"
        "<h2>Tokens per day and model</h2><table>"
        f"{head(['day', 'model', 'ledger in', 'bill in', 'diff', 'ledger out', 'bill out', 'diff'])}"
        f"{rows(tokens)}</table>"
        "<h2>Billed but never seen by unyo</h2><table>"
        f"{head(['day', 'model', 'requests', 'input', 'output'])}{rows(unseen)}</table>"
        + "".join(f'<p class="muted">{escape(n)}</p>' for n in notes)
        + "</body></html>"
    )
