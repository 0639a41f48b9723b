"""Evals (issue 16), the command: `unyo eval` as a user runs it — matrix, reports, gates, compare, audit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

import unyo
from unyo.testing import FaultServer

from .conftest import FAKE_KEY, fast_settings, run_cli

ROOT = Path(__file__).resolve().parents[1]


def env_for(fault: FaultServer, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url, "UNYO_PROFILE": "openai", **extra}


def test_the_demo_suite_compares_two_models_writes_html_and_junit_and_gates(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "samples"))
    try:
        import eval_demo
    finally:
        sys.path.pop(0)
    out = tmp_path / "out"
    assert eval_demo.main(out) == 0  # 8 of 10 pass: over the demo's 70 % gate
    junit = ET.parse(out / "eval-demo.xml").getroot()
    suites = {s.get("name"): s for s in junit.iter("testsuite")}
    assert set(suites) == {"eval-demo [4o-mini]", "eval-demo [4.1-mini]"}
    assert (
        suites["eval-demo [4o-mini]"].get("failures") == "0" and suites["eval-demo [4.1-mini]"].get("failures") == "2"
    )
    html = (out / "eval-demo.html").read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html and "<script" not in html  # self-contained
    assert html.count("<svg") >= 2 and "<del>" in html and "<ins>" in html  # charts and the diff view
    assert eval_demo.main(out, ["--fail-under", "0.9"]) == 10  # the same answers (cached) under a stricter gate
    if shutil.which("chromium") or os.environ.get("UNYO_REQUIRE_CHROMIUM"):
        chromium = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
        report = out / "eval-demo.html"
        dom = subprocess.run([*chromium, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=90)
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert 'id="pass-rate">80%<' in dom.stdout and 'id="matrix"' in dom.stdout and "<rect" in dom.stdout
        shot = tmp_path / "eval.png"
        subprocess.run([*chromium, f"--screenshot={shot}", "--window-size=1000,1600", report.as_uri()],
                       capture_output=True, timeout=90)  # fmt: skip
        assert shot.exists() and shot.stat().st_size > 10_000  # a rendered page, not a blank one


SUITE_V1 = """
prompts:
  - "Label the ticket. Answer with one word: billing or bug.\\nTicket: {{ticket}}"
providers: [gpt-4o-mini]
tests:
  - description: invoice
    vars: {ticket: "charged twice"}
    assert: [{type: icontains, value: billing}]
  - description: crash
    vars: {ticket: "app crashes"}
    assert: [{type: icontains, value: bug}]
"""


def ticket_model(body: dict[str, Any]) -> str:
    """Answers well only when the prompt asks for one word; otherwise rambles about the crash ticket."""
    text = json.dumps(body)
    if "charged twice" in text:
        return "billing"
    return "bug" if "one word" in text else "The app seems to stop working."


def test_fail_on_regression_catches_a_prompt_change_that_breaks_a_case(fault: FaultServer, tmp_path: Path) -> None:
    fault.responder = ticket_model
    suite = tmp_path / "tickets.yaml"
    suite.write_text(SUITE_V1, encoding="utf-8")
    base = run_cli("eval", str(suite), "--output", str(tmp_path / "base.json"), env=env_for(fault))
    assert base.returncode == 0, base.stderr
    assert "2/2 (100%)" in base.stdout
    suite.write_text(SUITE_V1.replace("Answer with one word: billing or bug.", "Explain briefly."), encoding="utf-8")
    args = ("eval", str(suite), "--baseline", str(tmp_path / "base.json"))
    changed = run_cli(*args, "--fail-on-regression", env=env_for(fault))
    assert changed.returncode == 10, changed.stderr
    assert "REGRESSION" in changed.stdout and "↓ crash [gpt-4o-mini]: pass -> fail" in changed.stdout
    assert "gate failed: 1 regression(s)" in changed.stderr
    assert run_cli(*args, env=env_for(fault)).returncode == 0  # without the flag the regression is only reported


def test_a_bad_suite_is_exit_2_naming_the_line(fault: FaultServer, tmp_path: Path) -> None:
    suite = tmp_path / "bad.yaml"
    suite.write_text("prompts: ['hi {{who}}']\ntests:\n  - vars: {whom: x}\n", encoding="utf-8")
    result = run_cli("eval", str(suite), env=env_for(fault))
    assert result.returncode == 2 and "bad.yaml:3: case 1: prompt prompt1 uses {{who}}" in result.stderr
    assert fault.requests == []


def test_dry_run_and_json(fault: FaultServer, tmp_path: Path) -> None:
    suite = tmp_path / "t.yaml"
    suite.write_text(SUITE_V1, encoding="utf-8")
    dry = run_cli("eval", str(suite), "--dry-run", "-m", "gpt-4o-mini", "-m", "gpt-4.1-mini", env=env_for(fault))
    assert dry.returncode == 0 and "4 distinct call(s), 0 of them already answered" in dry.stdout
    assert fault.requests == []
    fault.responder = ticket_model
    result = run_cli("eval", str(suite), "--json", env=env_for(fault))
    report = json.loads(result.stdout)
    assert report["pass_rate"] == 1.0 and report["totals"]["gpt-4o-mini"]["passed"] == 2
    assert report["run"]["tag"] == "eval:t"
    again = run_cli("eval", str(suite), "--dry-run", "--json", "-m", "gpt-4o-mini", "-m", "gpt-4.1-mini",
                    env=env_for(fault))  # fmt: skip
    estimate = json.loads(again.stdout)
    assert estimate["cached"] == 2 and estimate["columns"]["gpt-4o-mini"]["expected_usd"] == "0"


def labeller(good: set[str]) -> Any:
    """Classify answers (JSON): right for models in `good`, 'neutral' otherwise for negative texts."""
    truth = {"丁寧": "positive", "worked": "positive", "がっかり": "negative", "never answered": "negative",
             "営業時間": "neutral", "invoice": "neutral"}  # fmt: skip

    def respond(body: dict[str, Any]) -> str | None:
        text = json.dumps(body, ensure_ascii=False)
        for word, label in truth.items():
            if word in text:
                if body.get("model") not in good and label == "negative":
                    label = "neutral"
                return json.dumps({"label": label, "confidence": 0.9, "reason": "r"})
        return None

    return respond


def test_compare_highlights_the_cheapest_model_that_meets_the_threshold(fault: FaultServer) -> None:
    fault.responder = labeller({"gpt-4.1-mini"})  # the dearer model gets every case; the cheap one 4 of 6
    args = ("eval", "compare", "--task", "classify", "-m", "gpt-4o-mini", "-m", "gpt-4.1-mini")
    strict = run_cli(*args, "--json", env=env_for(fault))
    assert strict.returncode == 0, strict.stderr
    table = json.loads(strict.stdout)
    rows = {r["model"]: r for r in table["models"]}
    assert rows["gpt-4o-mini"]["pass_rate"] == pytest.approx(4 / 6, abs=1e-3) and rows["gpt-4.1-mini"]["pass_rate"] == 1
    assert table["recommended"] == "gpt-4.1-mini"  # the only one meeting 80 %
    per_1000 = {m: float(r["cost_per_1000_usd"]) for m, r in rows.items()}
    assert 0 < per_1000["gpt-4o-mini"] < per_1000["gpt-4.1-mini"]
    loose = run_cli(*args, "--threshold", "0.6", env=env_for(fault))
    assert loose.returncode == 0 and "★ gpt-4o-mini: the cheapest model that meets 60%" in loose.stdout
    assert "per 1000 rows" in loose.stdout


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_audit_checks_tool_results_against_final_answers(fault: FaultServer, api: str) -> None:
    @unyo.tool
    def stock(item: str) -> dict[str, Any]:
        """How many of an item are in stock."""
        return {"item": item, "count": 3}

    client = unyo.OpenAI(settings=fast_settings(fault))
    for answer in ("There are 3 widgets in stock.", "There are 12 widgets in stock."):
        fault.script({"action": "ok", "tool_calls": [{"name": "stock", "arguments": {"item": "widget"}}]},
                     {"action": "ok", "text": answer})  # fmt: skip
        unyo.ask_with_tools("How many widgets?", [stock], client=client, api=api)

    def grader(body: dict[str, Any]) -> str | None:
        text = json.dumps(body)
        if "You grade the output" not in text:
            return None
        agrees = "There are 3 widgets" in text.split("Output to grade", 1)[-1]
        return json.dumps({"pass": agrees, "score": 1.0 if agrees else 0.0, "reason": "count" if agrees else "12≠3"})

    fault.responder = grader
    result = run_cli("eval", "audit", "--since", "1h", "--sample", "50", "--json", env=env_for(fault))
    assert result.returncode == 0, result.stderr
    audit = json.loads(result.stdout)
    assert audit["candidates"] == 2 and audit["consistent"] == 1 and audit["inconsistent"] == 1
    assert {tuple(c["tools"]) for c in audit["checked"]} == {("stock",)}
    gated = run_cli("eval", "audit", "--since", "1h", "--fail-under", "0.9", env=env_for(fault))
    assert gated.returncode == 10 and "1 consistent, 1 inconsistent" in gated.stdout


@pytest.mark.local_model
def test_eval_task_triage_runs_on_the_local_model_from_scratch() -> None:
    """No key, no configuration: the built-in triage suite on the bundled model prints the matrix."""
    result = run_cli("eval", "--task", "triage", "--limit", "1", timeout=600)
    assert result.returncode == 0, result.stderr
    # piped, the matrix and the totals are TSV (a terminal gets the titled tables)
    lines = result.stdout.splitlines()
    assert (
        lines[0] == "case\tmain"
        and lines[1].startswith("double invoice\t")
        and lines[2].startswith("model\tpass\tmean score")
    )


def test_max_cost_is_exit_4_and_the_next_run_continues(fault: FaultServer, tmp_path: Path) -> None:
    from decimal import Decimal

    fault.responder = lambda body: "word " * 100  # every answer runs to its cap: cost = the worst case
    suite = tmp_path / "capped.yaml"
    cases = "".join(f"  - vars: {{n: {n}}}\n" for n in range(10))
    suite.write_text(
        f"prompts: ['Say {{{{n}}}}']\nproviders: [{{id: gpt-4o-mini, config: {{max_output_tokens: 20}}}}]\n"
        f"tests:\n{cases}",
        encoding="utf-8",
    )
    dry = run_cli("eval", str(suite), "--dry-run", "--json", env=env_for(fault))
    worst = Decimal(json.loads(dry.stdout)["columns"]["gpt-4o-mini"]["worst_usd"]) / 10
    stopped = run_cli("eval", str(suite), "--max-cost", str(worst * Decimal("3.5")), "--concurrency", "1",
                      env=env_for(fault))  # fmt: skip
    assert stopped.returncode == 4, stopped.stderr
    assert "--max-cost" in stopped.stderr and "Run again to continue" in stopped.stderr
    assert 2 <= len(fault.requests) <= 4
    rest = run_cli("eval", str(suite), env=env_for(fault))
    assert rest.returncode == 0 and len(fault.requests) == 10 and "10/10 (100%)" in rest.stdout


def test_model_output_never_reaches_the_terminal_raw(fault: FaultServer, tmp_path: Path) -> None:
    fault.responder = lambda body: "\x1b]0;pwned\x07\x1b[2Jnot the label"
    suite = tmp_path / "esc.yaml"
    suite.write_text("prompts: ['x {{a}}']\ntests:\n  - vars: {a: 1}\n    assert: [{type: equals, value: bug}]\n",
                     encoding="utf-8")  # fmt: skip
    result = run_cli("eval", str(suite), "-m", "gpt-4o-mini", env=env_for(fault))
    assert result.returncode == 0 and "not the label" in result.stdout
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
