"""What a run found: every case in every column (prompt x provider), totals per column, the gates.

Totals per column: pass rate, mean score, cost (list prices of the answers, also for cached
ones), billed (what this run spent; cached answers are $0), p50/p95 latency. `compare_to` marks
regressions (pass -> fail or error) and improvements (fail or error -> pass) against a previous
run's JSON (`--baseline`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from unyo._types._errors import BadInput


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _sum(values: list[str | None]) -> str | None:
    if any(v is None for v in values):
        return None
    return str(sum((Decimal(v) for v in values if v is not None), Decimal(0)))


def totals(results: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(results)
    passed = sum(r["status"] == "pass" for r in results)
    latencies = [r["latency_s"] for r in results if r.get("latency_s") is not None]
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    return {
        "cases": n,
        "passed": passed,
        "failed": sum(r["status"] == "fail" for r in results),
        "errors": sum(r["status"] == "error" for r in results),
        "pass_rate": round(passed / n, 4) if n else 0.0,
        "mean_score": round(sum(r["score"] for r in results) / n, 4) if n else 0.0,
        "cost_usd": _sum([r.get("cost_usd") for r in results]),
        "billed_usd": _sum([r.get("billed_usd") or "0" for r in results]),
        "latency_p50_s": None if p50 is None else round(p50, 3),
        "latency_p95_s": None if p95 is None else round(p95, 3),
        "cached": sum(bool(r.get("cached")) for r in results),
    }


@dataclass
class Report:
    suite: str
    description: str
    columns: list[str]
    cases: list[dict[str, Any]]  # key, description, where, vars, results {column: result}
    grader: str | None = None
    profile: str = ""
    file: str | None = None
    run: dict[str, Any] = field(default_factory=dict)
    regressions: list[dict[str, str]] = field(default_factory=list)
    improvements: list[dict[str, str]] = field(default_factory=list)
    baseline: str | None = None

    def column_totals(self) -> dict[str, dict[str, Any]]:
        return {col: totals([c["results"][col] for c in self.cases]) for col in self.columns}

    @property
    def results(self) -> list[dict[str, Any]]:
        return [c["results"][col] for c in self.cases for col in self.columns]

    @property
    def pass_rate(self) -> float:
        results = self.results
        return sum(r["status"] == "pass" for r in results) / len(results) if results else 0.0

    @property
    def stopped(self) -> str | None:
        return self.run.get("stopped")

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "description": self.description,
            "file": self.file,
            "profile": self.profile,
            "grader": self.grader,
            "columns": self.columns,
            "totals": self.column_totals(),
            "pass_rate": round(self.pass_rate, 4),
            "run": self.run,
            "baseline": self.baseline,
            "regressions": self.regressions,
            "improvements": self.improvements,
            "cases": self.cases,
        }

    def compare_to(self, baseline: dict[str, Any], name: str) -> None:
        before = {
            (c["key"], col): r["status"] for c in baseline.get("cases", []) for col, r in c.get("results", {}).items()
        }
        self.baseline, self.regressions, self.improvements = name, [], []
        for case in self.cases:
            for col in self.columns:
                old, new = before.get((case["key"], col)), case["results"][col]["status"]
                entry = {"case": case["key"], "column": col, "before": old or "", "now": new}
                case["results"][col]["change"] = None
                if old == "pass" and new != "pass":
                    self.regressions.append(entry)
                    case["results"][col]["change"] = "regression"
                elif old in ("fail", "error") and new == "pass":
                    self.improvements.append(entry)
                    case["results"][col]["change"] = "improvement"

    def to_junit(self) -> str:
        """JUnit XML: a testsuite per column, a testcase per case (failure / error with the reasons)."""
        root = ET.Element("testsuites", name=f"unyo eval {self.suite}")
        for col, t in self.column_totals().items():
            suite = ET.SubElement(root, "testsuite", name=f"{self.suite} [{col}]", tests=str(t["cases"]),
                                  failures=str(t["failed"]), errors=str(t["errors"]), skipped="0")  # fmt: skip
            for case in self.cases:
                r = case["results"][col]
                seconds = f"{r['latency_s']:.3f}" if r.get("latency_s") is not None else "0"
                element = ET.SubElement(suite, "testcase", classname=f"{self.suite}.{col}",
                                        name=case["description"] or case["key"], time=seconds)  # fmt: skip
                failed = [c for c in r["checks"] if not c["pass"] or c["error"]]
                detail = "\n".join(f"{c['type']}: {c['reason']}" for c in failed) or r.get("error") or ""
                if r["status"] == "fail":
                    ET.SubElement(element, "failure", message=f"score {r['score']:.2f}").text = detail
                elif r["status"] == "error":
                    ET.SubElement(
                        element, "error", message=(r.get("error") or "could not be judged")[:200]
                    ).text = detail
                if r.get("output"):
                    ET.SubElement(element, "system-out").text = str(r["output"])[:4000]
        ET.indent(root)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def load_baseline(path: str | Path) -> dict[str, Any]:
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"--baseline {file}: {exc.strerror}") from None
    except ValueError as exc:
        raise BadInput(f"--baseline {file}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise BadInput(f"--baseline {file}: not a `unyo eval --json` report")
    return data
