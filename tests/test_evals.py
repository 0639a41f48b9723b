"""Evals (issue 16), the library: suites, assertions, runs through the batch runner, cache, gates."""

from __future__ import annotations

import asyncio
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import unyo
from unyo._evals import _assertions, _suite
from unyo._evals._assertions import Assertion, Output
from unyo.testing import FaultServer

from .conftest import fast_settings


def client(fault: FaultServer) -> unyo.OpenAI:
    return unyo.OpenAI(settings=fast_settings(fault))


def by_model(answers: dict[str, str]) -> Any:
    """A responder: each model answers with its text for every prompt that is not a grader's."""

    def respond(body: dict[str, Any]) -> str | None:
        if "You grade the output" in json.dumps(body):
            return None
        return answers.get(body.get("model", ""))

    return respond


SUITE = {
    "name": "t",
    "prompts": ["Label this ticket: {{ticket}}"],
    "providers": ["gpt-4o-mini", "gpt-4.1-mini"],
    "tests": [
        {"description": "refund", "vars": {"ticket": "refund please"},
         "assert": [{"type": "icontains", "value": "billing"}]},
        {"description": "crash", "vars": {"ticket": "it crashes"}, "assert": [{"type": "not-contains-pii"}]},
    ],
}  # fmt: skip


# --- suites: loading and bad input ----------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


BAD = {
    "malformed": ("prompts: ['a {{x}}'\ntests: [", r"suite\.yaml:2: malformed YAML"),
    "unknown type": (
        "prompts: ['hi {{x}}']\ntests:\n  - vars: {x: 1}\n  - description: second\n    vars: {x: 2}\n"
        "    assert:\n      - type: contans\n        value: a\n",
        r"suite\.yaml:7: case 2 \(second\): unknown assertion type 'contans'",
    ),
    "bad schema": (
        "prompts: ['hi {{x}}']\ntests:\n  - vars: {x: 1}\n    assert:\n      - type: json-schema\n"
        "        value: {type: 12}\n",
        r"suite\.yaml:5: case 1: assertion json-schema: not a valid JSON Schema",
    ),
    "missing variable": (
        "prompts: ['hi {{name}} from {{city}}']\ntests:\n  - vars: {name: Ken}\n",
        r"suite\.yaml:3: case 1: prompt prompt1 uses \{\{city\}\}, which the case does not set",
    ),
    "bad regex": (
        "prompts: ['hi']\ntests:\n  - assert: [{type: regex, value: '(('}]\n",
        r"suite\.yaml:3: case 1: assertion regex: not a valid regular expression",
    ),
    "unknown key": ("prompts: ['hi']\ntests:\n  - varz: {a: 1}\n", r"suite\.yaml:3: case 1: unknown keys \['varz'\]"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_suite_names_the_file_line_and_case(kind: str, tmp_path: Path) -> None:
    text, message = BAD[kind]
    with pytest.raises(unyo.BadInput, match=message):
        _suite.load(write(tmp_path / "suite.yaml", text))


def test_cases_come_from_csv_jsonl_and_xlsx_with_default_test_merged(tmp_path: Path) -> None:
    import openpyxl

    write(tmp_path / "a.csv", "ticket,__expected,__description\nrefund,icontains: billing,csv one\ncrash,bug,csv two\n")
    write(tmp_path / "b.jsonl", '{"ticket": "login"}\n{"vars": {"ticket": "slow"}, "assert": [{"type": "is-json"}]}\n')
    book = openpyxl.Workbook()
    book.active.append(["ticket", "__expected"])
    book.active.append(["export", "contains-any: bug, crash"])
    book.save(tmp_path / "c.xlsx")
    suite = _suite.load(
        write(
            tmp_path / "s.yaml",
            "prompts: ['Label: {{ticket}} ({{lang}})']\ndefaultTest:\n  vars: {lang: en}\n"
            "  assert: [{type: not-contains-pii}]\ntests:\n  - a.csv\n  - file: b.jsonl\n  - file://c.xlsx\n",
        )
    )
    assert [c.vars["ticket"] for c in suite.cases] == ["refund", "crash", "login", "slow", "export"]
    assert all(c.vars["lang"] == "en" and c.asserts[0].name == "not-contains-pii" for c in suite.cases)
    assert [a.name for a in suite.cases[0].asserts] == ["not-contains-pii", "icontains"]
    assert suite.cases[1].asserts[1].type == "equals" and suite.cases[1].description == "csv two"
    assert suite.cases[3].asserts[1].type == "is-json"
    assert suite.cases[4].asserts[1].value == ["bug", "crash"]
    assert suite.cases[0].where.endswith("a.csv:2")


# --- assertions -----------------------------------------------------------------------------------


def judge(raw: dict[str, Any], out: Output) -> _assertions.Check:
    from unyo._evals._run import Scorer

    suite = _suite.from_data({"prompts": ["x"], "tests": [{"assert": [raw]}]})
    return Scorer(suite, None).check(suite.cases[0].asserts[0], out)


TRIAGE = {"category": "billing", "confidence": 0.82, "items": [{"name": "a"}], "needs_human": False}
CASES = [
    ({"type": "equals", "value": "Hello"}, Output("Hello\n"), True),
    ({"type": "equals", "value": {"a": 1}}, Output('```json\n{"a": 1}\n```'), True),
    ({"type": "contains", "value": "返金"}, Output("返金します"), True),
    ({"type": "icontains", "value": "BUG"}, Output("a bug"), True),
    ({"type": "contains-all", "value": ["a", "z"]}, Output("abc"), False),
    ({"type": "icontains-any", "value": ["X", "B"]}, Output("abc"), True),
    ({"type": "regex", "value": r"\d{3}-\d{4}"}, Output("call 123-4567"), True),
    ({"type": "starts-with", "value": "bug"}, Output("  bug: crash"), True),
    ({"type": "not-starts-with", "value": "bug"}, Output("bug: crash"), False),
    ({"type": "is-json"}, Output("{oops"), False),
    ({"type": "json-schema", "value": {"type": "object", "required": ["category"]}}, Output("", TRIAGE), True),
    ({"type": "json-path", "path": "$.items[0].name", "value": "a"}, Output("", TRIAGE), True),
    ({"type": "json-path", "path": "$.missing", "value": 1}, Output("", TRIAGE), False),
    ({"type": "cost", "value": 0.001}, Output("x", cost_usd=Decimal("0.002")), False),
    ({"type": "latency", "value": 2}, Output("x", latency_s=1.5), True),
    ({"type": "not-contains-pii"}, Output("連絡先 090-1234-5678 まで"), False),
    ({"type": "not-contains-pii"}, Output("折り返しご連絡します"), True),
    ({"type": "refuses"}, Output("", {"refused": True, "citations": []}), True),
    ({"type": "cites", "value": "規程.pdf"}, Output("", {"citations": [{"source": "docs/規程.pdf", "page": 3}]}), True),
    ({"type": "cites"}, Output("", {"citations": []}), False),
    ({"type": "classification", "value": "billing", "threshold": 0.8}, Output("", TRIAGE), True),
    ({"type": "classification", "value": "billing", "threshold": 0.9}, Output("", TRIAGE), False),
    ({"type": "classification", "value": "bug"}, Output("", {"label": "billing", "confidence": 1.0}), False),
]


@pytest.mark.parametrize(("raw", "out", "passed"), CASES, ids=[f"{c[0]['type']}-{i}" for i, c in enumerate(CASES)])
def test_each_assertion_type_judges_an_output(raw: dict[str, Any], out: Output, passed: bool) -> None:
    check = judge(raw, out)
    assert not check.error, check.reason
    assert check.passed is passed, check.reason


def test_a_field_the_result_lacks_is_an_error_not_a_fail() -> None:
    check = judge({"type": "refuses"}, Output("plain text"))
    assert check.error and "refused" in check.reason


def test_weights_and_thresholds_decide_a_case() -> None:
    checks = [
        _assertions.Check("a", True, 1.0, "", weight=3),
        _assertions.Check("b", False, 0.0, "", weight=1),
        _assertions.Check("info", False, 0.0, "", weight=0),  # reported only
    ]
    assert _assertions.case_verdict(checks, None) == ("fail", 0.75)  # no threshold: every weighted check passes
    assert _assertions.case_verdict(checks, 0.7) == ("pass", 0.75)
    assert _assertions.case_verdict(checks, 0.8)[0] == "fail"
    assert _assertions.case_verdict([*checks, _assertions.Check("g", False, 0, "", error=True)], 0.1)[0] == "error"


def test_python_runs_in_a_subprocess_with_a_timeout(tmp_path: Path) -> None:
    write(tmp_path / "checks.py", "def polite(output, context):\n    return {'pass': 'please' in output, 'score': 0.7,"
          " 'reason': context['vars']['who']}\n")  # fmt: skip
    suite = _suite.from_data({"prompts": ["x"], "tests": [{"assert": [{"type": "python", "value": "1"}]}]},
                             path=tmp_path / "s.yaml")  # fmt: skip
    from unyo._evals._run import Scorer

    scorer = Scorer(suite, None)
    out = Output("yes please", vars={"who": "Ken"})

    def check(value: str, **extra: Any) -> _assertions.Check:
        return scorer.check(Assertion("python", value=value, options=extra), out)

    assert check("'please' in output and vars['who'] == 'Ken'").passed
    assert check("len(output) / 20").score == 0.5 and not check("len(output) / 100").passed
    file_check = check("file://checks.py:polite")
    assert file_check.passed and file_check.score == 0.7 and "Ken" in file_check.reason
    raised = check("1 / 0")
    assert raised.error and "ZeroDivisionError" in raised.reason
    slow = check("__import__('time').sleep(5)", timeout=0.5)
    assert slow.error and "within 0.5s" in slow.reason
    assert check(f"__import__('os').getpid() != {os.getpid()}").passed  # not our process


def test_similar_uses_the_bundled_embeddings() -> None:
    close = judge(
        {"type": "similar", "value": "サーバーは12月10日に停止します"}, Output("12月10日にサーバーを止めます")
    )
    far = judge({"type": "similar", "value": "サーバーは12月10日に停止します"}, Output("The cat sat on the mat."))
    assert close.passed and close.score > far.score and not far.passed


# --- runs ---------------------------------------------------------------------------------------


def test_a_run_is_tagged_cached_and_rescored_for_free(fault: FaultServer) -> None:
    fault.responder = by_model({"gpt-4o-mini": "billing: a refund", "gpt-4.1-mini": "bug"})
    first = unyo.evaluate(SUITE, client=client(fault))
    assert first.columns == ["gpt-4o-mini", "gpt-4.1-mini"]
    status = {(c["key"], col): r["status"] for c in first.cases for col, r in c["results"].items()}
    assert status == {("refund", "gpt-4o-mini"): "pass", ("refund", "gpt-4.1-mini"): "fail",
                      ("crash", "gpt-4o-mini"): "pass", ("crash", "gpt-4.1-mini"): "pass"}  # fmt: skip
    sent = len(fault.requests)
    assert sent == 4 and Decimal(first.run["spent_usd"]) > 0
    from unyo._records._audit import query
    from unyo._records._store import store_for

    records = query(store_for(client(fault).settings), limit=None)
    assert {r["tag"] for r in records} == {"eval:t"}
    changed = json.loads(json.dumps(SUITE))
    changed["tests"][0]["assert"] = [{"type": "icontains", "value": "bug"}]  # only an assertion changed
    again = unyo.evaluate(changed, client=client(fault))
    assert len(fault.requests) == sent  # nothing sent: every answer came from the cache
    assert Decimal(again.run["spent_usd"]) == 0
    refund = {col: r for col, r in again.cases[0]["results"].items()}
    assert refund["gpt-4.1-mini"]["status"] == "pass" and refund["gpt-4o-mini"]["status"] == "fail"
    assert (
        refund["gpt-4o-mini"]["cached"]
        and refund["gpt-4o-mini"]["cost_usd"] == first.cases[0]["results"]["gpt-4o-mini"]["cost_usd"]
    )  # the answer's own cost, found in the ledger, not the $0 of the hit
    assert first.column_totals()["gpt-4o-mini"]["pass_rate"] == 1.0


def test_a_grader_failure_is_an_error_and_the_run_goes_on(fault: FaultServer) -> None:
    def respond(body: dict[str, Any]) -> Any:
        if "You grade the output" in json.dumps(body):
            return {"action": "500"} if "broken" in json.dumps(body) else '{"pass": true, "score": 1, "reason": "ok"}'
        return "broken answer" if "one" in json.dumps(body) else "fine answer"

    fault.responder = respond
    suite = {
        "name": "graded",
        "prompts": ["Say {{x}}"],
        "providers": ["gpt-4o-mini"],
        "grader": {"model": "gpt-4.1-mini"},
        "tests": [{"description": n, "vars": {"x": n}, "assert": [{"type": "llm-rubric", "value": "polite"}]}
                  for n in ("one", "two")],
    }  # fmt: skip
    report = unyo.evaluate(suite, client=client(fault))
    one, two = (c["results"]["gpt-4o-mini"] for c in report.cases)
    assert one["status"] == "error" and "grader gpt-4.1-mini failed" in one["checks"][0]["reason"]
    assert two["status"] == "pass" and report.grader == "gpt-4.1-mini"
    graded = [r for r in fault.requests if "You grade the output" in json.dumps(r["body"])]
    assert {r["body"]["model"] for r in graded} == {"gpt-4.1-mini"} and graded[0]["body"]["temperature"] == 0


def test_refuses_and_cites_read_a_task_result_record(fault: FaultServer, clean_env: Path) -> None:
    folder = clean_env / "tasks" / "answer"
    folder.mkdir(parents=True)
    write(folder / "task.toml", 'description = "answer from documents"\n')
    write(folder / "system.md", "Answer from the documents; refuse when they do not say.\n")
    write(folder / "user.md", "$text\n")
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "refused": {"type": "boolean"},
              "citations": {"type": "array", "items": {"type": "string"}}},
              "required": ["answer", "refused", "citations"], "additionalProperties": False}  # fmt: skip
    write(folder / "schema.json", json.dumps(schema))
    fault.responder = lambda body: (
        '{"answer": "", "refused": true, "citations": []}'
        if "salary" in json.dumps(body)
        else '{"answer": "20 days", "refused": false, "citations": ["就業規則.pdf#p3"]}'
    )
    suite = {
        "name": "docs",
        "prompts": [{"task": "answer"}],
        "providers": ["gpt-4o-mini"],
        "tests": [
            {"description": "leave", "vars": {"text": "How many days of leave?"},
             "assert": [{"type": "cites", "value": "就業規則.pdf"}, {"type": "not-refuses"}]},
            {"description": "salary", "vars": {"text": "What is the CEO's salary?"}, "assert": [{"type": "refuses"}]},
        ],
    }  # fmt: skip
    report = unyo.evaluate(suite, client=client(fault))
    assert [c["results"]["gpt-4o-mini"]["status"] for c in report.cases] == ["pass", "pass"]


def test_max_cost_stops_cleanly_and_the_next_run_resumes(fault: FaultServer) -> None:
    fault.responder = by_model({"gpt-4o-mini": "billing " * 100})  # every answer runs to its cap: cost = worst case
    suite = {"name": "capped", "prompts": ["Label {{n}}"],
             "providers": [{"id": "gpt-4o-mini", "config": {"max_output_tokens": 20}}],
             "tests": [{"description": str(n), "vars": {"n": n}} for n in range(12)]}  # fmt: skip
    estimate = unyo._evals.estimate(suite, client=client(fault))
    worst = Decimal(estimate["columns"]["gpt-4o-mini"]["worst_usd"]) / 12
    stopped = unyo.evaluate(suite, client=client(fault), max_cost=worst * Decimal("3.5"), concurrency=1)
    assert stopped.stopped and "--max-cost" in stopped.stopped and stopped.run["exit_code"] == 4
    ran = len(fault.requests)
    assert 2 <= ran <= 4
    assert sum(r["status"] == "error" and "not run" in r.get("error", "") for r in stopped.results) == 12 - ran
    resumed = unyo.evaluate(suite, client=client(fault))
    assert len(fault.requests) == 12  # only what was left was sent
    assert resumed.run["ran"] == 12 - ran and all(r["status"] == "pass" for r in resumed.results)


def test_dry_run_estimates_without_sending(fault: FaultServer) -> None:
    estimate = unyo._evals.estimate(SUITE, client=client(fault))
    assert estimate["cells"] == 4 and set(estimate["columns"]) == {"gpt-4o-mini", "gpt-4.1-mini"}
    mini, bigger = (Decimal(estimate["columns"][m]["expected_usd"]) for m in ("gpt-4o-mini", "gpt-4.1-mini"))
    assert 0 < mini < bigger and fault.requests == []


def test_aevaluate_is_the_async_twin(fault: FaultServer) -> None:
    fault.responder = by_model({"gpt-4o-mini": "billing", "gpt-4.1-mini": "billing"})
    report = asyncio.run(unyo.aevaluate(SUITE, client=client(fault), models=["gpt-4o-mini"]))
    assert report.columns == ["gpt-4o-mini"] and report.pass_rate == 1.0


def test_baseline_marks_regressions_and_improvements(fault: FaultServer) -> None:
    fault.responder = by_model({"gpt-4o-mini": "billing", "gpt-4.1-mini": "bug"})
    before = unyo.evaluate(SUITE, client=client(fault)).to_dict()
    fault.responder = by_model({"gpt-4o-mini": "bug", "gpt-4.1-mini": "billing"})
    after = unyo.evaluate(SUITE, client=client(fault), cache=False, baseline=before)
    assert after.regressions == [{"case": "refund", "column": "gpt-4o-mini", "before": "pass", "now": "fail"}]
    assert after.improvements == [{"case": "refund", "column": "gpt-4.1-mini", "before": "fail", "now": "pass"}]
    junit = after.to_junit()
    assert 'failures="1"' in junit and "<failure" in junit


@pytest.mark.parametrize("task", ["triage", "classify", "extract", "minutes", "summarize", "draft"])
def test_every_built_in_suite_loads_and_runs_its_task(fault: FaultServer, task: str) -> None:
    """Each built-in task has a suite whose checks all judge the task's real output shape (the
    fault server answers with a valid instance of the task's schema): nothing is an `error`."""
    from unyo._evals._builtin import task_suite

    suite = _suite.load(task_suite(task))
    assert suite.name == task and len(suite.cases) >= 3 and suite.prompts[0].task == task
    report = unyo.evaluate(suite, client=client(fault), models=["gpt-4o-mini"])
    errors = [(c["key"], r.get("error"), [k["reason"] for k in r["checks"] if k["error"]])
              for c in report.cases for r in c["results"].values() if r["status"] == "error"]  # fmt: skip
    assert errors == []
    assert {r["body"]["model"] for r in fault.requests} == {"gpt-4o-mini"}
