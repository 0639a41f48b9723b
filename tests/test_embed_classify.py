"""Classification by embeddings: labels files and their errors, the nearest-label classifier and
its leave-one-out calibration, the cache, provider embeddings through the guarded client (fault
server), and the tasks (triage's category and urgency, classify) on the CLI."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import unyo
from unyo._jobs._tasks._spec import builtin_dir
from unyo._quality import _vectors
from unyo._quality._labels import load_labels
from unyo._quality._nearest import _fit_temperature, fit, label_texts
from unyo.testing import FaultServer

from .conftest import FAKE_KEY, fast_settings, run_cli

TRIAGE_LABELS = builtin_dir() / "triage" / "labels.toml"
TWO = (
    '[[labels]]\nname = "refund"\ndescription = "wants money back"\n[[labels]]\nname = "other"\ndescription = "else"\n'
)


def local() -> unyo.OpenAI:
    return unyo.OpenAI(profile="local")


def env_for(fault: FaultServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url, "UNYO_MODEL": "gpt-4o-mini"}


# --- labels files -------------------------------------------------------------------------


def test_the_triage_labels_file_has_examples_in_both_languages() -> None:
    labels = load_labels(TRIAGE_LABELS)
    assert labels.names == ["billing", "bug", "account", "feature_request", "other"]
    for label in labels.labels:
        texts = [e.text for e in label.examples]
        assert len(texts) == 10 and all(isinstance(e.values.get("urgency"), int) for e in label.examples)
        assert any(t.isascii() for t in texts) and any(not t.isascii() for t in texts)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("# nothing yet\n", "is empty"),
        ('[[labels]]\nname = "a"\ndescription = "x"\n\n[[labels]]\nname = "b"\n',
         r"line 5: label 'b' has no description"),
        (TWO + '\n[[examples]]\nlabel = "refund"\ntext = "ok"\n\n[[examples]]\nlabel = "refnd"\ntext = "x"\n',
         r"line 12: an example of unknown label 'refnd'; labels: refund, other"),
        (TWO + '[[labels]]\nname = "other"\ndescription = "again"\n', "line 7: label 'other' is defined twice"),
        ('[[labels]]\nname = "a"\ndescription = "x"\nexamples = [""]\n[[labels]]\nname = "b"\ndescription = "y"\n',
         "line 1: an example is a non-empty string"),
        ('[[labels]]\nname = "only"\ndescription = "one"\n', "at least two labels"),
        ("[[labels]\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_bad_labels_files_name_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "labels.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(unyo.ConfigError, match=message) as caught:
        load_labels(path)
    assert str(path) in str(caught.value)


def test_json_labels_files_and_examples_tables(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    path.write_text(
        json.dumps(
            {
                "labels": [{"name": "a", "definition": "first"}, {"name": "b", "description": "second"}],
                "examples": [{"label": "b", "text": "hi", "urgency": 2}],
            },
            indent=1,
        ),  # fmt: skip
        encoding="utf-8",
    )
    labels = load_labels(path)
    assert [x.description for x in labels.labels] == ["first", "second"]
    assert labels.labels[1].examples[0].values == {"urgency": 2}
    path.write_text('{"labels": [{"name": "a", "description": "x"},\n {"name": "b"}]}', encoding="utf-8")
    with pytest.raises(unyo.ConfigError, match=r"labels.json, line 2: label 'b' has no description"):
        load_labels(path)
    path.write_text('{"labels": [\n  {"name": "a",,}]}', encoding="utf-8")
    with pytest.raises(unyo.ConfigError, match=r"labels.json, line 2: not valid JSON"):
        load_labels(path)


# --- the classifier ---------------------------------------------------------------------


def test_temperature_follows_how_separable_the_examples_are() -> None:
    truth = np.array([0, 1] * 20)
    clean = np.where(np.eye(2)[truth] > 0, 0.9, 0.8)  # always right, by a margin
    rng = np.random.default_rng(0)
    noisy = 0.85 + rng.normal(0, 0.02, size=(40, 2))  # a coin toss
    assert _fit_temperature(clean, truth) < 0.01 < _fit_temperature(noisy, truth)


def test_leave_one_out_calibration_on_the_triage_labels() -> None:
    labels = load_labels(TRIAGE_LABELS)
    texts, owner, is_example = label_texts(labels)
    assert sum(is_example) == 50 and len(texts) > 50 and set(owner) == set(range(5))
    vectors = _vectors.local_vectors(texts).array
    classifier = fit(labels, vectors)
    assert classifier.calibrated and 0.7 <= (classifier.loo_accuracy or 0) <= 1
    # an example left out is not part of its own centroid: scored in-sample, more are right
    examples = vectors[np.array(is_example)]
    in_sample = (classifier.probabilities(examples).argmax(1) == np.array(classifier.example_labels)).mean()
    assert in_sample >= (classifier.loo_accuracy or 0) and 0.002 < classifier.temperature < 0.5
    zero_shot = fit(labels.limited(0), _vectors.local_vectors(label_texts(labels.limited(0))[0]).array)
    assert not zero_shot.calibrated and zero_shot.loo_accuracy is None


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("請求書が二重に発行されています。先月分の請求を確認してください。", "billing"),
        ("The app crashes every time I press the save button on iOS 18.", "bug"),
        ("パスワードを忘れてしまい、ログインできません。再設定の方法を教えてください。", "account"),
        ("Could you add a dark mode? It would help when I work at night.", "feature_request"),
        ("Hello, just wanted to say thanks for the quick support last week!", "other"),
    ],
)
def test_classify_by_embeddings_on_the_local_profile(text: str, label: str) -> None:
    result = unyo.classify(text, TRIAGE_LABELS, client=local())  # auto: the local profile's choice
    assert result.label == label and result.method == "embeddings:multilingual-e5-small"
    assert result.source == "loo_calibrated" and result.calls == [] and result.cost_usd == 0
    assert abs(sum(result.scores.values()) - 1) < 1e-3 and result.confidence == max(result.scores.values())
    assert result.fields()["method"] == "embeddings:multilingual-e5-small"


def test_each_text_is_embedded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from unyo._providers._local import _embed

    seen: list[str] = []
    real = _embed.embed

    def counting(texts: list[str], kind: str = "passage") -> np.ndarray:
        seen.extend(texts)
        return real(texts, kind)  # type: ignore[arg-type]

    monkeypatch.setattr(_embed, "embed", counting)
    _vectors.clear_cache()
    text = "返金はいつ頃になりますか。"
    first = unyo.classify(text, ["billing", "bug"], via="embeddings", client=local())
    second = unyo.classify(text, ["billing", "bug"], via="embeddings", client=local())
    assert first.scores == second.scores and seen.count(text) == 1


def test_a_text_past_the_window_is_truncated_with_a_note() -> None:
    result = unyo.classify("請求書の件です。" * 200, TRIAGE_LABELS, via="embeddings", client=local())
    assert result.truncated and result.fields()["truncated"] is True
    assert not unyo.classify("short", TRIAGE_LABELS, via="embeddings", client=local()).truncated


def test_multi_label_needs_the_llm() -> None:
    with pytest.raises(unyo.ConfigError, match="multi_label needs via='llm'"):
        unyo.classify("x", ["a", "b"], via="embeddings", multi_label=True, client=local())
    with pytest.raises(unyo.ConfigError, match="via must be one of"):
        unyo.classify("x", ["a", "b"], via="magic", client=local())  # type: ignore[arg-type]


def test_provider_embeddings_go_through_the_guarded_client(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    result = unyo.classify(
        "I was charged twice", {"billing": "money", "bug": "errors"}, via="embeddings",
        embedding_model="text-embedding-3-small", client=client,
    )  # fmt: skip
    embedding_requests = [r for r in fault.requests if r["path"].endswith("/embeddings")]
    assert len(embedding_requests) == 2  # the labels once, then the text
    assert embedding_requests[1]["body"]["input"] == ["I was charged twice"]
    assert result.method == "embeddings:text-embedding-3-small" and len(result.calls) == 2
    assert all(c.api == "embeddings" and c.status == "completed" for c in result.calls)
    assert result.cost_usd is not None and result.cost_usd > 0  # priced from the catalogue
    assert FAKE_KEY not in json.dumps(result.to_dict())
    again = unyo.classify("I was charged twice", {"billing": "money", "bug": "errors"}, via="embeddings",
                          embedding_model="text-embedding-3-small", client=client)  # fmt: skip
    assert again.calls == [] and len([r for r in fault.requests if r["path"].endswith("/embeddings")]) == 2


def test_auto_is_the_llm_on_a_provider(fault: FaultServer) -> None:
    fault.script({"action": "ok", "text": '{"label": "bug", "confidence": 0.7, "reason": "crash"}'})
    result = unyo.classify("it crashes", TRIAGE_LABELS, client=unyo.OpenAI(settings=fast_settings(fault)))
    assert result.method == "llm" and result.label == "bug" and len(result.calls) == 1
    assert "Something in the product does not work" in json.dumps(fault.requests[0]["body"], ensure_ascii=False)


def test_aclassify_by_embeddings() -> None:
    import asyncio

    async def main() -> unyo.Classification:
        client = unyo.AsyncOpenAI(profile="local")
        try:
            return await unyo.aclassify("ログインできません", TRIAGE_LABELS, via="embeddings", client=client)
        finally:
            await client.close()

    assert asyncio.run(main()).label == "account"


# --- tasks and the CLI --------------------------------------------------------------------


def test_triage_via_embeddings_asks_the_llm_only_for_the_prose(fault: FaultServer, clean_env: Path) -> None:
    text = "二段階認証の端末をなくしてログインできません。"
    result = run_cli("run", "triage", text, "--via", "embeddings", "--json", env=env_for(fault))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)["output"]
    assert out["category"] == "account" and 1 <= out["urgency"] <= 5
    assert out["methods"]["category"] == "embeddings:multilingual-e5-small"
    assert out["methods"]["urgency"] == "nearest_examples:multilingual-e5-small"
    assert out["methods"]["summary"] == out["methods"]["reply_draft"] == "llm"
    assert out["confidence_source"] == "loo_calibrated" and "needs_human" in out
    body = json.dumps(fault.requests[0]["body"], ensure_ascii=False)
    assert '"category"' not in body and '"urgency"' not in body and "Already decided: category" in body
    by_llm = run_cli("run", "triage", text, "--via", "llm", "--json", env=env_for(fault))
    assert json.loads(by_llm.stdout)["output"]["methods"]["category"] == "llm"


def test_the_output_file_says_which_method_made_each_field(fault: FaultServer, clean_env: Path) -> None:
    with open(clean_env / "in.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["text"], ["請求書を再発行してください"], ["The app crashes on start"]])
    result = run_cli("run", "triage", "--input", "in.csv", "--via", "embeddings", env=env_for(fault))
    assert result.returncode == 0, result.stderr
    with open(clean_env / "in.out.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["category"] for r in rows] == ["billing", "bug"]
    assert all(json.loads(r["methods"])["category"] == "embeddings:multilingual-e5-small" for r in rows)


def test_run_classify_needs_labels_and_runs_by_embeddings(clean_env: Path) -> None:
    env = {"UNYO_PROFILE": "local"}
    missing = run_cli("run", "classify", "hello", env=env)
    assert missing.returncode != 0 and "--labels FILE" in missing.stderr and "--set labels=" in missing.stderr
    (clean_env / "labels.toml").write_text(
        TWO + 'examples = ["ありがとう", "thanks!"]\n[[examples]]\nlabel = "refund"\ntext = "返金してください"\n',
        encoding="utf-8",
    )
    ok = run_cli("run", "classify", "お金を返してほしいです", "--labels", "labels.toml", "--json", env=env)
    assert ok.returncode == 0, ok.stderr
    record = json.loads(ok.stdout)
    assert record["output"]["label"] == "refund" and record["calls"] == 0 and Decimal(record["cost_usd"]) == 0
    assert record["output"]["method"] == "embeddings:multilingual-e5-small"
    (clean_env / "bad.toml").write_text(TWO + '[[examples]]\nlabel = "nope"\ntext = "x"\n', encoding="utf-8")
    bad = run_cli("run", "classify", "x", "--labels", "bad.toml", env=env)
    assert bad.returncode != 0 and "bad.toml, line 7: an example of unknown label 'nope'" in bad.stderr


def test_via_embeddings_on_a_task_without_label_fields_is_refused(clean_env: Path) -> None:
    result = run_cli("run", "summarize", "text", "--via", "embeddings", env={"UNYO_PROFILE": "local"})
    assert result.returncode != 0 and "has no label fields" in result.stderr
    shown = json.loads(run_cli("tasks", "show", "triage", "--json").stdout)
    assert shown["embedding_fields"] == ["category"] and shown["neighbour_fields"] == ["urgency"]
    assert "by embeddings" in run_cli("tasks", "show", "triage").stdout


@pytest.mark.local_model
def test_the_sample_inquiries_get_sensible_categories(clean_env: Path) -> None:
    sample = Path(__file__).resolve().parents[1] / "samples" / "inquiries.csv"
    result = run_cli("run", "triage", "--input", str(sample), "--output", "out.csv", "--profile", "local", timeout=600)
    assert result.returncode == 0, result.stderr
    with open(clean_env / "out.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["category"] for r in rows] == [
        "billing", "bug", "account", "feature_request", "account", "billing", "bug", "other",
    ]  # fmt: skip
    assert rows[4]["needs_human"] == "true"  # the lawyer / personal-data inquiry is always escalated


def test_a_user_task_with_an_embedding_field(clean_env: Path) -> None:
    folder = clean_env / "tasks" / "route"
    folder.mkdir(parents=True)
    (folder / "task.toml").write_text(
        'description = "which team"\nembedding_fields = ["team"]\n[options]\nlabels_file = "teams.toml"\nvia = "auto"\n'
        'embedding_model = ""\n',
        encoding="utf-8",
    )
    (folder / "teams.toml").write_text(
        '[[labels]]\nname = "sales"\ndescription = "buying, prices, quotes. 見積もり、購入"\n'
        '[[labels]]\nname = "support"\ndescription = "problems, errors, how-to. 不具合、使い方"\n',
        encoding="utf-8",
    )
    (folder / "system.md").write_text("Route the message.\n", encoding="utf-8")
    (folder / "user.md").write_text("$text\n", encoding="utf-8")
    schema = {"type": "object", "properties": {"team": {"type": "string", "enum": ["sales", "support"]}},
              "required": ["team"], "additionalProperties": False}  # fmt: skip
    (folder / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    result = run_cli("run", "route", "見積もりをお願いします", "--json", env={"UNYO_PROFILE": "local"})
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["output"]["team"] == "sales" and record["calls"] == 0  # nothing left for the LLM
    assert record["output"]["methods"]["team"] == "embeddings:multilingual-e5-small"
    schema["properties"]["team"]["enum"] = ["sales", "billing"]
    (folder / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    bad = run_cli("run", "route", "x", env={"UNYO_PROFILE": "local"})
    assert bad.returncode != 0 and "field 'team' must be an enum of the labels (sales, support)" in bad.stderr


def test_concurrent_callers_share_batches_and_get_their_own_vectors() -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"問い合わせ {i}: 請求書の件です" if i % 2 else f"inquiry {i}: the app crashes" for i in range(24)]
    _vectors.clear_cache()
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda t: _vectors.local_vectors([t]).array[0], texts))
    _vectors.clear_cache()
    alone = [_vectors.local_vectors([t]).array[0] for t in texts]
    assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(together, alone, strict=True))
    assert not _vectors._pending  # nothing left waiting


def test_a_dry_run_of_classify_by_embeddings_costs_nothing(fault: FaultServer, clean_env: Path) -> None:
    args = ("run", "classify", "返金して", "--labels", str(TRIAGE_LABELS), "--dry-run", "--json")
    free = json.loads(run_cli(*args, "--via", "embeddings", env=env_for(fault)).stdout)
    assert free["calls"] == 0 and Decimal(free["expected_usd"]) == 0 and free["model"] == "multilingual-e5-small"
    priced = json.loads(run_cli(*args, "--via", "llm", env=env_for(fault)).stdout)
    assert priced["calls"] == 1 and priced["input_tokens"] > 0 and fault.requests == []
