"""Tasks: the template files, options, user-defined tasks, the splitter, the draft checks and
each built-in task's post-processing, against the fault server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import unyo
from unyo._jobs._tasks import find
from unyo._jobs._tasks._run import draft_violations
from unyo._jobs._tasks._split import split
from unyo.testing import FaultServer

from .conftest import FAKE_KEY, fast_settings, run_cli


def client(fault: FaultServer) -> unyo.OpenAI:
    return unyo.OpenAI(settings=fast_settings(fault))


def env_for(fault: FaultServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url, "UNYO_MODEL": "gpt-4o-mini"}


def test_tasks_list_and_show() -> None:
    listed = json.loads(run_cli("tasks", "list", "--json").stdout)
    assert {t["name"] for t in listed} >= {"triage", "summarize", "classify", "extract", "minutes", "draft"}
    shown = json.loads(run_cli("tasks", "show", "triage", "--json").stdout)
    assert shown["schema"]["properties"]["category"]["enum"] == shown["options"]["labels"]  # "$labels" filled in
    assert "$text" in shown["user"] and "$text" not in shown["system"]  # the variable part is last


def test_options_are_typed_and_checked() -> None:
    task = find("triage").with_options({"labels": "a, b", "confidence_threshold": "0.9"})
    assert task.options["labels"] == ["a", "b"] and task.options["confidence_threshold"] == 0.9
    with pytest.raises(unyo.ConfigError, match="no option"):
        find("triage").with_options({"nope": "1"})


def test_a_user_task_from_files_alone(fault: FaultServer, clean_env: Path) -> None:
    folder = clean_env / "tasks" / "invoice_fields"
    folder.mkdir(parents=True)
    (folder / "task.toml").write_text(
        'description = "invoice number and total"\nrole = "bulk"\n[options]\ncurrency = "JPY"\n', encoding="utf-8"
    )
    (folder / "system.md").write_text("Extract the invoice number and the total in $currency.\n", encoding="utf-8")
    (folder / "user.md").write_text("Invoice text:\n$text\n", encoding="utf-8")
    (folder / "schema.json").write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {"number": {"type": "string"}, "total": {"type": "integer"}},
                "required": ["number", "total"],
                "additionalProperties": False,
            }
        ),
        encoding="utf-8",
    )
    fault.script({"action": "ok", "text": '{"number": "INV-7", "total": 12000}'})
    result = run_cli("run", "invoice_fields", "請求書番号 INV-7 合計 12,000円", "--json", env=env_for(fault))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"] == {"number": "INV-7", "total": 12000}
    body = fault.requests[0]["body"]
    assert body["instructions"] == "Extract the invoice number and the total in JPY."
    assert body["input"].endswith("合計 12,000円")  # the variable part, last


def test_triage_needs_human_for_low_confidence_and_sensitive_topics(fault: FaultServer) -> None:
    fault.script(
        {
            "action": "ok",
            "text": (
                '{"category": "bug", "urgency": 3, "summary": "crash on save", "reply_draft": '
                '"We are checking this for you.", "confidence": 0.9}'
            ),
        },
        {
            "action": "ok",
            "text": (
                '{"category": "bug", "urgency": 3, "summary": "crash on save", "reply_draft": '
                '"We are checking this for you.", "confidence": 0.3}'
            ),
        },
        {
            "action": "ok",
            "text": (
                '{"category": "other", "urgency": 5, "summary": "legal threat noted", "reply_draft": '
                '"We are checking this for you.", "confidence": 0.95}'
            ),
        },
    )
    c = client(fault)
    assert unyo.run_task("triage", "crash on save", client=c).output["needs_human"] is False
    low = unyo.run_task("triage", "crash on save", client=c).output
    assert low["needs_human"] and "confidence 0.30" in low["needs_human_reason"]
    legal = unyo.run_task("triage", "ＬＡＷＳＵＩＴ is coming", client=c).output  # full-width folded
    assert legal["needs_human"] and "lawsuit" in legal["needs_human_reason"]
    # a task of the main role follows the one default model every command uses (here gpt-4o-mini)
    assert all(r["body"]["model"] == c.settings.profile.resolve_model(c.settings.model)[0] for r in fault.requests)


def test_splitter_cuts_on_structure() -> None:
    count = len
    doc = "# One\n" + "a" * 50 + "\n\n# Two\n" + "b" * 50 + "\n\n第3章 まとめ\n" + "これは文です。" * 20
    parts = split(doc, 80, count)
    assert parts[0].startswith("# One") and parts[1].startswith("# Two")
    assert all(count(p) <= 80 for p in parts) and "".join(parts).count("これは文です。") == 20
    assert split("short", 80, count) == ["short"]


def test_summarize_maps_then_reduces_with_parts_used(fault: FaultServer) -> None:
    doc = "\n\n".join(f"# Section {i}\n" + f"Paragraph {i} " * 400 for i in range(3))
    fault.default_action = {"action": "ok", "text": '{"summary": "part summary", "parts_used": [1]}'}
    fault.script(*[{"action": "ok", "text": '{"summary": "part summary", "parts_used": [1]}'}] * 3,
                 {"action": "ok", "text": '{"summary": "the whole", "parts_used": [1, 2, 3, 9]}'})  # fmt: skip
    result = unyo.run_task("summarize", doc, client=client(fault), options={"part_tokens": 2000})
    assert result.output == {"summary": "the whole", "parts_used": [1, 2, 3], "parts": 3}  # 9 is not a part
    assert len(result.calls) == 4 and "[Part 1]" in json.dumps(fault.requests[-1]["body"])


def test_draft_forbidden_claims_and_invented_numbers(fault: FaultServer) -> None:
    task = find("draft")
    facts = "納品日は12月3日。価格は48,000円。"
    assert draft_violations(task, facts, {"subject": "ご案内", "body": "価格は４８,０００円、12月3日納品です。"}) == []
    problems = draft_violations(task, facts, {"subject": "ご案内", "body": "必ず 10% 割引します"})
    assert "forbidden claim '必ず'" in problems and "number 10 is not in the facts" in problems
    fault.script(
        {"action": "ok", "text": '{"subject": "ご案内", "body": "100%保証します"}'},
        {"action": "ok", "text": '{"subject": "ご案内", "body": "12月3日に納品します。"}'},
    )
    result = unyo.run_task("draft", facts, client=client(fault))
    assert result.output["violations"] == [] and not result.output["needs_human"] and len(result.calls) == 2
    assert "100" in json.dumps(fault.requests[-1]["body"], ensure_ascii=False)  # the repair named the problem


def test_minutes_and_extract_need_their_shapes(fault: FaultServer, clean_env: Path) -> None:
    fault.script(
        {
            "action": "ok",
            "text": json.dumps(
                {
                    "decisions": ["release on 12/3"],
                    "todos": [{"task": "test plan", "owner": "田中", "due": "11/27"}],
                    "tentative_todos": [{"task": "help update", "owner": None, "due": None}],
                    "open_questions": ["retention"],
                }
            ),
        }
    )
    out = unyo.run_task("minutes", "notes", client=client(fault)).output
    assert out["todos"][0]["owner"] == "田中" and out["tentative_todos"][0]["owner"] is None
    missing = run_cli("run", "extract", "some text", env=env_for(fault))
    assert missing.returncode == 2 and "--schema" in missing.stderr
    (clean_env / "s.json").write_text(
        json.dumps({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})
    )
    fault.script({"action": "ok", "text": '{"name": "Sato"}'})
    ok = run_cli("run", "extract", "my name is Sato", "--schema", "s.json", "--json", env=env_for(fault))
    assert json.loads(ok.stdout)["output"] == {"name": "Sato"}


def test_classify_task_with_a_labels_file(fault: FaultServer, clean_env: Path) -> None:
    (clean_env / "labels.toml").write_text(
        '[[labels]]\nname = "refund"\ndefinition = "wants money back"\nexamples = ["返金してください"]\n'
        '[[labels]]\nname = "other"\ndefinition = "anything else"\n',
        encoding="utf-8",
    )
    fault.script({"action": "ok", "text": '{"label": "refund", "confidence": 0.8, "reason": "asks for money back"}'})
    result = run_cli(
        "run", "classify", "返金希望です", "--set", "labels_file=labels.toml", "--json", env=env_for(fault)
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"]["label"] == "refund"
    assert "wants money back" in json.dumps(fault.requests[0]["body"], ensure_ascii=False)
