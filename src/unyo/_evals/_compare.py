"""`unyo eval compare --task classify -m main -m bulk -m local`: the 主力 / 勝負所 / 大量処理
(main / premium / bulk) decision as a table.

One suite runs on every model; each gets its quality (pass rate, mean score), its cost per
1,000 rows (the list cost of its answers, scaled) and its latency (p50 / p95). The recommended
model is the cheapest whose pass rate meets the threshold (a free local model wins a tie on
cost by quality); an unpriced model is never recommended on cost.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def compare(
    suite: Any,
    models: list[str],
    *,
    client: Any,
    threshold: float = 0.8,
    limit: int | None = None,
    max_cost: Decimal | None = None,
    cache: bool = True,
    on_progress: Any = None,
) -> dict[str, Any]:
    from unyo._evals._evaluate import as_suite, evaluate
    from unyo._evals._run import column
    from unyo._types._errors import BadInput

    loaded = as_suite(suite, models)
    if len(loaded.prompts) != 1:
        raise BadInput(f"compare runs a suite with one prompt; {loaded.name} has {len(loaded.prompts)}")
    if limit:
        loaded.cases = loaded.cases[:limit]
    report = evaluate(loaded, client=client, max_cost=max_cost, cache=cache, on_progress=on_progress)
    totals = report.column_totals()
    rows = []
    for provider in loaded.providers:
        col = column(loaded.prompts[0], provider, loaded)
        t = totals[col]
        per_1000 = None if t["cost_usd"] is None or not t["cases"] else Decimal(t["cost_usd"]) / t["cases"] * 1000
        resolved = {r.get("model") for c in report.cases for r in [c["results"][col]] if r.get("model")}
        rows.append({
            "model": provider.label,
            "resolved": ", ".join(sorted(m for m in resolved if m)) or provider.id,
            "pass_rate": t["pass_rate"],
            "mean_score": t["mean_score"],
            "errors": t["errors"],
            "cost_per_1000_usd": None if per_1000 is None else str(per_1000.quantize(Decimal("0.000001"))),
            "latency_p50_s": t["latency_p50_s"],
            "latency_p95_s": t["latency_p95_s"],
            "meets": t["pass_rate"] >= threshold,
        })  # fmt: skip
    meeting = [r for r in rows if r["meets"] and r["cost_per_1000_usd"] is not None]
    recommended = min(meeting, key=lambda r: (Decimal(r["cost_per_1000_usd"]), -r["pass_rate"]), default=None)
    best = max(rows, key=lambda r: (r["pass_rate"], r["mean_score"]), default=None)
    return {
        "suite": loaded.name,
        "threshold": threshold,
        "cases": len(loaded.cases),
        "models": rows,
        "recommended": recommended["model"] if recommended else None,
        "best": best["model"] if best else None,
        "report": report,
    }
