"""Structured output: strict-schema rewriting, local validation, bounded repairs, on the fault
server and on the real local model."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

import unyo
from unyo._quality._structured import to_strict
from unyo._records._store import store_for
from unyo.testing import FaultServer

from .conftest import FAKE_KEY, fast_settings, run_cli


class Inquiry(BaseModel):
    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)
    summary: str = Field(max_length=120)
    tags: list[str] | None = Field(default=None, max_length=3)


class Triage(BaseModel):
    """What the local test asks for: every string bounded, so the grammar can bound it too."""

    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)
    summary: str = Field(max_length=100)


def client(fault: FaultServer, **kw: object) -> unyo.OpenAI:
    return unyo.OpenAI(settings=fast_settings(fault, **kw))


GOOD = '{"category": "billing", "urgency": 2, "summary": "invoice resend", "tags": null}'


def test_strict_rewrite_of_a_pydantic_schema() -> None:
    strict = to_strict(Inquiry.model_json_schema())
    assert strict["additionalProperties"] is False
    assert strict["required"] == ["category", "urgency", "summary", "tags"]
    assert {"type": "null"} in strict["properties"]["tags"]["anyOf"]
    assert "default" not in json.dumps(strict)


def test_strict_rewrite_of_json_schema_features() -> None:
    schema = {
        "type": "object",
        "properties": {
            "kind": {"const": "order"},
            "item": {"$ref": "#/$defs/Item"},
            "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "note": {"type": "string", "default": ""},
        },
        "required": ["kind", "item"],
        "$defs": {
            "Item": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                "required": ["sku"],
            }
        },
    }
    strict = to_strict(schema)
    assert strict["properties"]["kind"] == {"enum": ["order"]}
    assert strict["properties"]["either"]["anyOf"][:2] == [{"type": "string"}, {"type": "integer"}]
    assert strict["properties"]["note"] == {"type": ["string", "null"]}
    item = strict["$defs"]["Item"]
    assert (
        item["additionalProperties"] is False
        and item["required"] == ["sku", "qty"]
        and item["properties"]["qty"]["type"] == ["integer", "null"]
    )
    with pytest.raises(unyo.ConfigError):
        to_strict({"type": "array", "items": {"type": "string"}})


def test_responses_and_chat_get_the_strict_format(fault: FaultServer) -> None:
    fault.script({"action": "ok", "text": GOOD}, {"action": "ok", "text": GOOD})
    c = client(fault)
    r = unyo.ask_structured("Invoice please", Inquiry, client=c, api="responses", max_output_tokens=100)
    assert isinstance(r.parsed, Inquiry) and r.parsed.category == "billing" and r.repairs == 0 and r.text == GOOD
    fmt = fault.requests[0]["body"]["text"]["format"]
    assert (
        fmt["type"] == "json_schema"
        and fmt["strict"] is True
        and fmt["name"] == "Inquiry"
        and fmt["schema"]["additionalProperties"] is False
    )
    unyo.ask_structured("Invoice please", Inquiry, client=c, api="chat", max_output_tokens=100)
    rf = fault.requests[1]["body"]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True


def test_invalid_output_is_repaired_with_only_the_error(fault: FaultServer) -> None:
    fault.script(
        {"action": "ok", "text": '{"category": "refund", "urgency": 9, "summary": "x"}'}, {"action": "ok", "text": GOOD}
    )
    c = client(fault, budget_daily_usd="1")
    r = unyo.ask_structured("Invoice please", Inquiry, client=c, max_output_tokens=100)
    assert r.repairs == 1 and r.parsed.urgency == 2
    repair = fault.requests[1]["body"]["input"]
    assert (
        repair[0]["content"] == "Invoice please"
        and "category" in repair[2]["content"]
        and "urgency" in repair[2]["content"]
    )
    assert len(repair) == 3  # original, last bad output, the error: no growth
    assert r.cost_usd == sum(c.cost_usd for c in r.calls) and r.cost_usd > 0
    assert len(unyo._records._audit.query(store_for(c.settings))) == 2  # each repair is a budgeted, audited call


def test_gives_up_after_max_repairs_with_the_last_output(fault: FaultServer) -> None:
    fault.script(*[{"action": "ok", "text": "not json at all"}] * 3)
    c = client(fault)
    with pytest.raises(unyo.OutputInvalid) as err:
        unyo.ask_structured("Invoice please", Inquiry, client=c, max_repairs=2, max_output_tokens=100)
    assert len(fault.requests) == 3 and err.value.last_output == "not json at all" and err.value.exit_code == 7
    assert len(err.value.calls) == 3


def test_json_schema_dict_is_validated_with_jsonschema(fault: FaultServer) -> None:
    schema = {"type": "object", "properties": {"total": {"type": "number", "minimum": 0}}, "required": ["total"]}
    fault.script({"action": "ok", "text": '{"total": -5}'}, {"action": "ok", "text": '{"total": 1200}'})
    r = unyo.ask_structured("sum it", schema, client=client(fault), max_output_tokens=50)
    assert r.parsed == {"total": 1200} and r.repairs == 1
    with pytest.raises(unyo.ConfigError):
        unyo.ask_structured("x", {"type": "object", "properties": {"a": {"type": "nonsense"}}}, client=client(fault))


def test_budget_covers_repairs(fault: FaultServer) -> None:
    fault.script(*[{"action": "ok", "text": "nope"}] * 5)
    c = client(fault, budget_daily_usd="0.00004")
    with pytest.raises((unyo.BudgetExceeded, unyo.OutputInvalid)) as err:
        unyo.ask_structured("Invoice please", Inquiry, client=c, max_repairs=4, max_output_tokens=40)
    assert isinstance(err.value, unyo.BudgetExceeded)  # the repairs ran into the budget, which held


def test_cli_schema_file_and_json_record(fault: FaultServer, clean_env: Path) -> None:
    (clean_env / "schema.json").write_text(
        json.dumps({"type": "object", "properties": {"label": {"enum": ["spam", "ham"]}}, "required": ["label"]})
    )
    fault.script({"action": "ok", "text": '{"label": "ham"}'}, {"action": "ok", "text": '{"label": "spam"}'})
    env = {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url, "UNYO_MODEL": "gpt-4o-mini"}
    out = run_cli("ask", "--schema", "schema.json", "--no-stream", "Is this spam?", env=env, cwd=clean_env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"label": "ham"}
    out = run_cli("ask", "--schema", "schema.json", "--json", "Is this spam?", env=env, cwd=clean_env)
    record = json.loads(out.stdout)
    assert record["parsed"] == {"label": "spam"} and Decimal(record["cost_usd"]) > 0
    bad = run_cli("ask", "--schema", "missing.json", "x", env=env, cwd=clean_env)
    assert bad.returncode == 2 and "missing.json" in bad.stderr


@pytest.mark.local_model
def test_local_model_follows_the_schema_by_grammar() -> None:
    """The bundled model is weak; the grammar still forces parseable output of the right shape.
    Prints the repair rate measured over a few realistic inquiries."""
    c = unyo.OpenAI(profile="local")
    prompts = [
        "請求書を再発行してください。宛先が間違っていました。",
        "The app crashes when I upload a PDF larger than 10 MB.",
        "営業時間を教えてください。",
        "I was charged twice for my subscription this month.",
    ]
    repairs = 0
    for p in prompts:
        r = unyo.ask_structured(
            f"Triage this inquiry as JSON: {p}", Triage, client=c, max_output_tokens=200, temperature=0, max_repairs=2
        )
        assert isinstance(r.parsed, Triage)
        repairs += r.repairs
    print(f"\nlocal model: {len(prompts)} inquiries, {repairs} repairs ({repairs / len(prompts):.2f} per request)")


def _lp(token: str, logprob: float, *alts: tuple[str, float]) -> dict[str, object]:
    return {
        "token": token,
        "logprob": logprob,
        "top_logprobs": [{"token": token, "logprob": logprob}] + [{"token": t, "logprob": p} for t, p in alts],
    }


CLASSIFIED = [
    _lp('{"label":"', 0.0),
    _lp("bill", -0.2, ("bug", -1.9), ("oth", -4.0)),
    _lp("ing", -0.01),
    _lp('","confidence":0.99,"reason":"asks about an invoice"}', 0.0),
]


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_classify_confidence_comes_from_logprobs(fault: FaultServer, api: str) -> None:
    import math

    fault.script({"action": "ok", "logprobs": CLASSIFIED})
    result = unyo.classify(
        "Please resend my invoice.",
        {"billing": "money", "bug": "defects", "other": "anything else"},
        client=client(fault),
        api=api,
    )
    assert result.label == "billing" and result.source == "logprobs"
    assert result.confidence == pytest.approx(
        math.exp(-0.21), abs=1e-6
    )  # both tokens of "billing", not the self-reported 0.99
    assert result.scores["bug"] == pytest.approx(math.exp(-1.9), abs=1e-6) and result.scores["other"] == pytest.approx(
        math.exp(-4.0), abs=1e-6
    )
    body = fault.requests[0]["body"]
    if api == "chat":
        assert body["logprobs"] is True and body["top_logprobs"] == 5
    else:
        assert body["include"] == ["message.output_text.logprobs"]


def test_classify_without_logprobs_reports_self_reported_confidence(fault: FaultServer) -> None:
    fault.script({"action": "ok", "text": '{"labels": ["bug", "billing"], "confidence": 0.6, "reason": "both"}'})
    result = unyo.classify(
        "charged twice because of a crash", ["billing", "bug", "other"], multi_label=True, client=client(fault)
    )
    assert result.labels == ["bug", "billing"] and result.label is None
    assert result.source == "self_reported" and result.confidence == 0.6


@pytest.mark.local_model
def test_classify_on_the_local_model() -> None:
    result = unyo.classify(
        "The app crashes when I press save.",
        ["billing", "bug", "other"],
        via="llm",
        client=unyo.OpenAI(profile="local"),
    )
    assert result.label in ("billing", "bug", "other") and result.source == "self_reported"
    assert 0 <= (result.confidence or 0) <= 1
