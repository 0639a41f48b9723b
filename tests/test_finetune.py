"""Fine-tuning, as a user runs it: `unyo finetune validate` names each defect's line; `create`
refuses over --max-cost or the budget before uploading anything; `create`, `attach`, `cancel` and
`use` run end to end against the fault server's /fine_tuning/jobs; the job's cost is reserved
before it exists and settled once from its trained_tokens; Ctrl-C detaches without cancelling;
`ft:` models are priced from their base."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import unyo
from unyo._providers._training_tokens import file_tokens
from unyo.testing import FaultServer

from .conftest import ENV_PREFIXES, FAKE_KEY, fast_settings, run_cli

MODEL = "gpt-4.1-mini"
TRAINING = Decimal("5.00")  # gpt-4.1-mini, USD per 1M trained tokens (data/fine_tuning.toml)


def example(i: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You are the support desk of a small shop."},
            {"role": "user", "content": f"注文 {i} の配送状況を教えてください。"},
            {"role": "assistant", "content": f"注文 {i} は本日発送しました。"},
        ]
    }


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
        encoding="utf-8",
    )
    return path


def good_dataset(folder: Path, n: int = 12, name: str = "train.jsonl") -> Path:
    return write_jsonl(folder / name, [example(i) for i in range(n)])


# Each defect on a line of its own; the line numbers the validator must name.
BROKEN = {
    13: ("json", '{"messages": [{"role": "user", "content": "hi"}'),
    14: ("structure", {"prompt": "old completions format", "completion": "no"}),
    15: ("role", {"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]}),
    16: ("empty", {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "  "}]}),
    17: (
        "tools",
        {
            "messages": [
                {"role": "user", "content": "東京の天気は?"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": {"city": "東京"}}}
                    ],
                },
            ],
            "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
        },
    ),
    18: ("duplicate", None),  # line 1 again
    19: (
        "pii",
        {
            "messages": [
                {"role": "user", "content": "連絡先は taro.yamada@example.co.jp、電話は 090-1234-5678 です"},
                {"role": "assistant", "content": "承知しました。"},
            ]
        },
    ),
    20: (
        "too_long",
        {"messages": [{"role": "user", "content": "x " * 70_000}, {"role": "assistant", "content": "ok"}]},
    ),
    21: (
        "weight",
        {"messages": [{"role": "user", "content": "x", "weight": 1}, {"role": "assistant", "content": "y"}]},
    ),
    22: (
        "tools",
        {
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "tool", "tool_call_id": "nope", "content": "42"},
                {"role": "assistant", "content": "y"},
            ]
        },
    ),  # fmt: skip
}


def broken_dataset(folder: Path) -> Path:
    rows: list[Any] = [example(i) for i in range(12)]
    for line in sorted(BROKEN):
        _, row = BROKEN[line]
        rows.append(rows[0] if row is None else row)
    return write_jsonl(folder / "broken.jsonl", rows)


def env_for(fault: FaultServer, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url, "UNYO_BACKOFF_BASE_S": "0.01", **extra}


def calls(home: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(home / "unyo.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM unyo_calls ORDER BY ts")]


def counters() -> tuple[Decimal, Decimal, list[dict[str, Any]]]:
    """(spent today, reserved today, open reservations) in the default SQLite ledger."""
    from unyo._records._ledger import ledger_for

    settings = unyo.load_settings(profile="openai", api_key=FAKE_KEY)
    led = ledger_for(settings)
    day = settings.budget.period_keys()["day"]
    spent, reserved = led.counters([day]).get(("all", day), (Decimal(0), Decimal(0)))
    return spent, reserved, led.reservations()


def job_requests(fault: FaultServer, method: str = "POST", path: str = "/fine_tuning/jobs") -> int:
    return sum(1 for r in fault.requests if r["method"] == method and r["path"] == path)


# --- validate -------------------------------------------------------------------------------------


def test_validate_names_the_line_of_each_defect(clean_env: Path) -> None:
    path = broken_dataset(clean_env)
    result = run_cli("finetune", "validate", str(path), "--model", MODEL)
    assert result.returncode == 7, result.stderr
    found = {}
    for text in result.stdout.splitlines():
        if text.startswith(f"{path}:"):
            line, level, rest = text[len(str(path)) + 1 :].split(": ", 2)
            found.setdefault(int(line), set()).add(rest.rsplit("[", 1)[1].rstrip("]"))
            assert level in ("error", "warning")
    for line, (code, _) in BROKEN.items():
        assert code in found.get(line, set()), f"line {line}: {code} not reported ({found.get(line)})"
    assert set(found) == set(BROKEN), "a clean line was reported"
    assert "taro.yamada" not in result.stdout and "090-1234" not in result.stdout  # PII kinds only, never the text
    assert "EMAIL" in result.stdout and "PHONE" in result.stdout


def test_validate_reports_examples_tokens_epochs_and_the_estimate(clean_env: Path) -> None:
    from unyo._jobs._finetune._dataset import flat_messages
    from unyo._providers._tokens import bpe_counter

    path = good_dataset(clean_env)
    result = run_cli("finetune", "validate", str(path), "--model", MODEL, "--epochs", "3", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    counter = bpe_counter("o200k_base")
    tokens = sum(counter.count_messages(flat_messages(example(i))) for i in range(12))
    assert report["ok"] and report["examples"] == 12 and report["errors"] == []
    assert report["tokens_per_epoch"] == tokens and report["trained_tokens"] == tokens * 3
    assert Decimal(report["estimated_cost_usd"]) == tokens * 3 * TRAINING / 1_000_000
    text = run_cli("finetune", "validate", str(path), "--model", MODEL)  # auto epochs: 12 examples -> 9
    assert text.returncode == 0 and "x 9 epochs (auto)" in text.stdout and "estimated training cost $" in text.stdout


def test_validate_checks_tool_calls_and_the_minimum(clean_env: Path) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"order": 1}'}}
    rows = [
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]},
                      {"role": "tool", "tool_call_id": "c1", "content": "shipped"},
                      {"role": "assistant", "content": "It shipped."}], "tools": tools},
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
            {**call, "function": {"name": "delete_all", "arguments": "{}"}}]}], "tools": tools},
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
            {**call, "function": {"name": "lookup", "arguments": "{order: 1"}}]}], "tools": tools},
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
            {"function": {"name": "lookup", "arguments": "{}"}}]}]},
    ]  # fmt: skip
    report = unyo.finetune.validate(write_jsonl(clean_env / "tools.jsonl", rows), model=MODEL, epochs=1)
    by_line = {f.line: f.message for f in report.errors if f.code == "tools"}
    assert 1 not in by_line  # a well-formed call, answered by its tool message
    assert "'delete_all', which the example's tools do not declare" in by_line[2]
    assert "not valid JSON" in by_line[3] and "needs an id and type 'function'" in by_line[4]
    assert [f.code for f in report.errors if f.line is None] == ["too_few"]
    assert not report.ok


def test_a_validation_file_is_checked_and_overlap_warned(clean_env: Path) -> None:
    train = good_dataset(clean_env)
    val = write_jsonl(clean_env / "val.jsonl", [example(0), {"messages": [{"role": "user", "content": "x"}]}])
    report = unyo.finetune.validate(train, model=MODEL, epochs=2, validation=val)
    codes = {(f.line, f.code) for f in report.findings}
    assert (1, "overlap") in codes and (2, "role") in codes and not report.ok
    assert asyncio.run(unyo.finetune.avalidate(train, model=MODEL, epochs=2)).ok  # the async twin


# --- prices -----------------------------------------------------------------------------------------


def test_ft_models_are_priced_from_their_base_and_overridable(clean_env: Path) -> None:
    from unyo._providers._catalog import model_info
    from unyo._providers._fine_tuning import training_price

    tuned = model_info("ft:gpt-4o-mini-2024-07-18:acme:support:abc123")
    base = model_info("gpt-4o-mini-2024-07-18")
    assert tuned.context_window == base.context_window and tuned.tokenizer == base.tokenizer
    assert (tuned.price.input, tuned.price.cached_input, tuned.price.output) == (  # type: ignore[union-attr]
        Decimal("0.30"),
        Decimal("0.15"),
        Decimal("1.20"),
    )  # the price list's fine-tuned figures, not the base's (0.15 / 0.075 / 0.60)
    assert model_info("ft:davinci-002:acme::x").price is None  # no known base: refused under a budget
    (clean_env / "unyo.toml").write_text('[models."gpt-4o-mini"]\ntraining = "2.50"\ntuned_output = "2.00"\n')
    settings = unyo.load_settings()
    assert training_price("gpt-4o-mini-2024-07-18", settings.models) == Decimal("2.50")
    assert model_info("ft:gpt-4o-mini:acme::x", settings.models).price.output == Decimal("2.00")  # type: ignore[union-attr]


def test_a_tuned_models_calls_cost_its_tuned_price(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    tuned = "ft:gpt-4.1-mini-2025-04-14:acme:support:abc123"
    answer = client.responses.create(model=tuned, input="配送状況は?")
    info = unyo.call_info(answer)
    usage = answer.usage
    assert info is not None and usage is not None
    expected = (usage.input_tokens * Decimal("0.80") + usage.output_tokens * Decimal("3.20")) / 1_000_000
    assert info.cost_usd == expected and info.budget == "reserved"


# --- the guarded client -------------------------------------------------------------------------------


def test_job_creation_is_refused_unpriced_under_a_budget_without_a_request(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    epochs = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}}
    cases = [
        {"model": MODEL, "training_file": "file-x", "method": epochs},  # no token count
        {"model": MODEL, "training_file": "file-x", "unyo_training_tokens": 100},  # epochs "auto"
        {"model": "davinci-002", "training_file": "file-x", "method": epochs, "unyo_training_tokens": 100},
        {"model": "o4-mini", "training_file": "file-x", "method": {"type": "reinforcement"}, "unyo_training_tokens": 1},
    ]
    for kwargs in cases:
        with pytest.raises(unyo.UnpricedModel):
            client.fine_tuning.jobs.create(**kwargs)
    assert job_requests(fault) == 0  # (the first case looked for file-x to count it: a free read)
    allowed = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5", allow_unpriced=True))
    with pytest.raises(unyo.BadRequest):  # sent knowingly; the server has no such file
        allowed.fine_tuning.jobs.create(model=MODEL, training_file="file-x")
    assert job_requests(fault) == 1


def test_the_hold_outlives_the_create_call_and_is_settled_once(fault: FaultServer, db_url: str) -> None:
    from unyo._money._fine_tuning import settle_job
    from unyo._records._ledger import ledger_for

    fault.fine_tuning.seconds = 0.3
    settings = fast_settings(fault, budget_daily_usd="5", db_url=db_url)
    client = unyo.OpenAI(settings=settings, user="bob")
    data = (json.dumps(example(1), ensure_ascii=False) + "\n").encode() * 12
    upload = client.files.create(file=("t.jsonl", data), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=upload.id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
        unyo_training_tokens=400,
    )
    info = unyo.call_info(job)
    tokens = max(400, file_tokens(data))  # the uploaded file is counted: a figure too small is not believed
    assert info is not None and info.worst_case_usd == (Decimal(math.ceil(tokens * 2 * 1.02) + 16) * TRAINING / 10**6)
    holds = ledger_for(settings).reservations()
    assert [(h["amount"], h["owner"]) for h in holds] == [(info.worst_case_usd, f"fine-tune:{job.id}")]
    assert job.metadata["unyo_id"] == holds[0]["id"]
    time.sleep(0.4)
    ended = client.fine_tuning.jobs.retrieve(job.id)
    assert ended.status == "succeeded" and ended.trained_tokens == fault.fine_tuning.billed_tokens > 0
    cost = ended.trained_tokens * TRAINING / 1_000_000  # the drop-in's retrieve settled it (_client._job_settle)
    assert settle_job(settings, ended) is None  # once, however often it is seen
    assert ledger_for(settings).reservations() == []
    day = settings.budget.period_keys()["day"]
    counters = ledger_for(settings).counters([day])
    assert counters[("user:bob", day)] == counters[("all", day)] == (cost, Decimal(0))


# --- the CLI, end to end ------------------------------------------------------------------------------


def test_create_follows_the_job_and_settles_what_it_trained(fault: FaultServer, clean_env: Path) -> None:
    fault.fine_tuning.seconds = 0.6
    path = good_dataset(clean_env)
    result = run_cli(
        "finetune", "create", str(path), "--model", MODEL, "--epochs", "3", "--suffix", "support", "--poll", "0.05",
        "--user", "alice@example.com", env=env_for(fault, UNYO_BUDGET_DAILY_USD="5"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "estimated training cost $" in result.stderr and "[100%] Step 10/10" in result.stderr
    (job,) = fault.fine_tuning.jobs.values()
    assert job["status"] == "succeeded" and f"model: {job['fine_tuned_model']}" in result.stdout
    assert "cost: $" in result.stdout and "(settled from its trained tokens)" in result.stdout
    assert ":support:" in job["fine_tuned_model"]
    upload = fault.files[job["training_file"]]
    assert upload["purpose"] == "fine-tune" and upload["_content"] == path.read_bytes()
    assert job["hyperparameters"]["n_epochs"] == 3
    rows = {r["api"]: r for r in calls(clean_env.parent / "unyo-home")}
    settled = rows["fine_tuning.jobs"]
    assert settled["response_id"] == job["id"] and settled["input_tokens"] == job["trained_tokens"]
    assert settled["output"] == job["fine_tuned_model"]  # the tuned model's id is recorded
    assert (settled["user_id"], settled["tag"]) == ("alice@example.com", "finetune")  # charged to them ...
    assert list(job["metadata"]) == ["unyo_id"]  # ... without telling the provider who they are
    assert Decimal(settled["cost"]) == job["trained_tokens"] * TRAINING / 1_000_000
    created = rows["fine_tuning.jobs.create"]
    assert created["status"] == "completed" and Decimal(created["cost"]) == 0 and created["worst_case"]
    spent, reserved, holds = counters()
    assert spent == Decimal(settled["cost"]) and reserved == 0 and holds == []


def test_max_cost_refuses_before_anything_is_uploaded(fault: FaultServer, clean_env: Path) -> None:
    path = good_dataset(clean_env)
    over = run_cli("finetune", "create", str(path), "--model", MODEL, "--max-cost", "0.0001", env=env_for(fault))
    assert over.returncode == 4, over.stderr
    assert "over --max-cost $0.0001: nothing uploaded" in over.stderr
    budget = run_cli(
        "finetune", "create", str(path), "--model", "gpt-4.1", "--epochs", "50",
        env=env_for(fault, UNYO_BUDGET_DAILY_USD="0.01"),
    )  # fmt: skip
    assert budget.returncode == 4 and "nothing uploaded" in budget.stderr, budget.stderr
    broken = run_cli("finetune", "create", str(broken_dataset(clean_env)), "--model", MODEL, env=env_for(fault))
    assert broken.returncode == 7 and "DatasetInvalid" in broken.stderr and "13: error" in broken.stderr
    assert fault.requests == [] and fault.files == {}  # zero uploads, zero jobs


def test_ctrl_c_detaches_and_attach_follows_to_the_end(fault: FaultServer, clean_env: Path) -> None:
    fault.fine_tuning.seconds = 60.0
    path = good_dataset(clean_env)
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update({"UNYO_HOME": os.environ["UNYO_HOME"], "UNYO_LANG": "en", **env_for(fault, UNYO_BUDGET_DAILY_USD="5")})
    proc = subprocess.Popen(
        [sys.executable, "-m", "unyo", "finetune", "create", str(path), "--model", MODEL, "--poll", "0.05"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not fault.fine_tuning.jobs and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # following now
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    (job_id,) = fault.fine_tuning.jobs
    assert proc.returncode == 130, err
    assert f"unyo finetune attach {job_id}" in err and "not cancelled" in err
    assert job_requests(fault, "POST", f"/fine_tuning/jobs/{job_id}/cancel") == 0
    job = fault.fine_tuning.jobs[job_id]
    assert job["status"] not in ("cancelled", "failed", "succeeded")
    _, reserved, holds = counters()
    assert reserved > 0 and [h["owner"] for h in holds] == [f"fine-tune:{job_id}"]  # the hold outlives the process
    shown = run_cli("finetune", "show", job_id, env=env_for(fault, UNYO_BUDGET_DAILY_USD="5"))
    assert shown.returncode == 0 and f"held: ${holds[0]['amount']}" in shown.stdout, shown.stdout
    job["_seconds"] = 0.5  # the provider finishes it
    attached = run_cli("finetune", "attach", job_id, "--poll", "0.05", env=env_for(fault))
    assert attached.returncode == 0, attached.stderr
    assert "The job has successfully completed" in attached.stderr and "model: ft:" in attached.stdout
    spent, reserved, holds = counters()
    assert spent == job["trained_tokens"] * TRAINING / 1_000_000 and reserved == 0 and holds == []


def test_cancel_and_scripted_failure_settle_what_was_trained(fault: FaultServer, clean_env: Path) -> None:
    fault.fine_tuning.seconds = 60.0
    path = good_dataset(clean_env)
    created = run_cli("finetune", "create", str(path), "--model", MODEL, "--no-follow", env=env_for(fault))
    assert created.returncode == 0, created.stderr
    (job_id,) = fault.fine_tuning.jobs
    cancelled = run_cli("finetune", "cancel", job_id, env=env_for(fault))
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout, cancelled.stderr
    assert fault.fine_tuning.jobs[job_id]["status"] == "cancelled"
    again = run_cli("finetune", "cancel", job_id, env=env_for(fault))
    assert again.returncode == 7 and "already cancelled" in again.stderr
    fault.fine_tuning.seconds, fault.fine_tuning.fail = 0.5, "loss diverged"
    failed = run_cli("finetune", "create", str(path), "--model", MODEL, "--poll", "0.05", env=env_for(fault))
    assert failed.returncode == 7 and "training_failed: loss diverged" in failed.stdout, failed.stderr
    bad = next(j for j in fault.fine_tuning.jobs.values() if j["status"] == "failed")
    assert 0 < bad["trained_tokens"] < bad["_tokens"]  # billed for the steps it ran
    rows = [r for r in calls(clean_env.parent / "unyo-home") if r["api"] == "fine_tuning.jobs"]
    assert sorted(r["status"] for r in rows) == ["cancelled", "failed"]
    spent, reserved, holds = counters()
    assert spent == bad["trained_tokens"] * TRAINING / 1_000_000 and reserved == 0 and holds == []
    listed = run_cli("finetune", "list", "--json", env=env_for(fault))
    assert listed.returncode == 0 and {j["id"] for j in json.loads(listed.stdout)} == set(fault.fine_tuning.jobs)
    assert {Decimal(j["unyo_cost_usd"]) for j in json.loads(listed.stdout)} == {Decimal(0), spent}
    table = run_cli("finetune", "list", env=env_for(fault))
    assert table.returncode == 0 and bad["id"] in table.stdout and "cancelled" in table.stdout
    shown = run_cli("finetune", "events", bad["id"], env=env_for(fault))
    assert shown.returncode == 0 and shown.stdout.splitlines()[0].endswith(
        f"Validating training file: {bad['training_file']}"
    )
    assert "Job failed: loss diverged" in shown.stdout.splitlines()[-1]


def test_use_binds_the_tuned_model_to_a_role_in_the_project_file(fault: FaultServer, clean_env: Path) -> None:
    fault.fine_tuning.seconds = 0.3
    (clean_env / "unyo.toml").write_text('# our project\n[unyo]\nbudget_daily_usd = "5"  # keep it small\n')
    created = run_cli(
        "finetune", "create", str(good_dataset(clean_env)), "--model", MODEL, "--poll", "0.05", env=env_for(fault)
    )
    assert created.returncode == 0, created.stderr
    (job,) = fault.fine_tuning.jobs.values()
    used = run_cli("finetune", "use", job["id"], "--role", "main", env=env_for(fault))
    assert used.returncode == 0, used.stderr
    text = (clean_env / "unyo.toml").read_text()
    assert text.startswith('# our project\n[unyo]\nbudget_daily_usd = "5"  # keep it small\n')  # kept as written
    settings = unyo.load_settings(profile="openai", api_key=FAKE_KEY)
    assert settings.profile.resolve_model("main") == (job["fine_tuned_model"], "main")
    not_yet = run_cli("finetune", "use", "ftjob-nope", "--role", "main", env=env_for(fault))
    assert not_yet.returncode == 7 and "NotFound" in not_yet.stderr


def test_the_local_profile_has_no_fine_tuning(clean_env: Path) -> None:
    result = run_cli("finetune", "create", str(good_dataset(clean_env)), "--model", MODEL)
    assert result.returncode == 3 and "has no fine-tuning API" in result.stderr


def test_a_lost_create_answer_never_makes_a_second_job(fault: FaultServer, clean_env: Path) -> None:
    fault.fine_tuning.seconds, fault.fine_tuning.lose_created = 0.5, 1  # the job is made, its answer lost (502)
    path = good_dataset(clean_env)
    result = run_cli(
        "finetune", "create", str(path), "--model", MODEL, "--poll", "0.05",
        env=env_for(fault, UNYO_BUDGET_DAILY_USD="5"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "the create call failed (ServerError) but the provider had created" in result.stderr
    (job,) = fault.fine_tuning.jobs.values()
    assert job_requests(fault) == 1  # not sent again
    spent, reserved, holds = counters()
    assert spent == job["trained_tokens"] * TRAINING / 1_000_000 and reserved == 0 and holds == []


def test_the_async_client_reserves_and_hands_over_the_hold(fault: FaultServer) -> None:
    from unyo._records._ledger import ledger_for

    settings = fast_settings(fault, budget_daily_usd="5")

    async def main() -> Any:
        client = unyo.AsyncOpenAI(settings=settings)
        data = (json.dumps(example(1), ensure_ascii=False) + "\n").encode() * 12
        upload = await client.files.create(file=("t.jsonl", data), purpose="fine-tune")
        return await client.fine_tuning.jobs.create(
            model=MODEL,
            training_file=upload.id,
            method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}},
            unyo_training_tokens=300,
        )

    job = asyncio.run(main())
    (hold,) = ledger_for(settings).reservations()
    data = (json.dumps(example(1), ensure_ascii=False) + "\n").encode() * 12
    tokens = max(300, file_tokens(data))  # counted from the upload, as on the sync client
    assert hold["owner"] == f"fine-tune:{job.id}"
    assert hold["amount"] == Decimal(math.ceil(tokens * 1.02) + 16) * TRAINING / 1_000_000


def test_usage_mistakes_exit_2_before_anything_is_sent(fault: FaultServer, clean_env: Path) -> None:
    path = str(good_dataset(clean_env))
    for args in (["create"], ["create", path, "--epochs", "0"], ["create", path, "--max-cost", "two"],
                 ["create", path, "--suffix", "x" * 65], ["use", "ftjob-1"], ["show"]):  # fmt: skip
        result = run_cli("finetune", *args, env=env_for(fault))
        assert result.returncode == 2 and "UsageError" in result.stderr, (args, result.stderr)
    assert fault.requests == []


def test_the_fault_server_speaks_the_spec_shapes(fault: FaultServer) -> None:
    """Required fields of FineTuningJob, FineTuningJobEvent and the list responses, as in OpenAI's spec."""
    import httpx2

    job_fields = {"created_at", "error", "finished_at", "fine_tuned_model", "hyperparameters", "id", "model", "object",
                  "organization_id", "result_files", "status", "trained_tokens", "training_file", "validation_file",
                  "seed"}  # fmt: skip
    fault.fine_tuning.seconds, fault.fine_tuning.steps = 0.2, 120  # more events than one page
    with httpx2.Client(base_url=fault.url) as http:
        upload = http.post(
            "/files", files={"file": ("t.jsonl", (json.dumps(example(1)) + "\n") * 10)}, data={"purpose": "fine-tune"}
        ).json()
        job = http.post("/fine_tuning/jobs", json={"model": MODEL, "training_file": upload["id"]}).json()
        assert job_fields <= set(job) and job["object"] == "fine_tuning.job" and job["id"].startswith("ftjob-")
        assert job["status"] == "validating_files" and job["trained_tokens"] is None
        time.sleep(0.3)
        listed = http.get("/fine_tuning/jobs", params={"limit": 1}).json()
        assert listed["object"] == "list" and listed["has_more"] is False and listed["data"][0]["status"] == "succeeded"
        page = http.get(f"/fine_tuning/jobs/{job['id']}/events", params={"limit": 100}).json()
        assert page["has_more"] is True and len(page["data"]) == 100
        assert {"id", "object", "created_at", "level", "message"} <= set(page["data"][0])
        assert (
            http.post("/fine_tuning/jobs", json={"model": "davinci-002", "training_file": upload["id"]}).status_code
            == 400
        )
    client = unyo.OpenAI(settings=fast_settings(fault))
    from unyo._jobs._finetune._jobs import events

    steps = [e.data["step"] for e in events(client, job["id"]) if e.type == "metrics"]
    assert steps == list(range(1, 121))  # every page, oldest first


def test_an_upload_whose_job_is_refused_is_deleted(fault: FaultServer, clean_env: Path) -> None:
    result = run_cli("finetune", "create", str(good_dataset(clean_env)), "--model", "davinci-002", env=env_for(fault))
    assert result.returncode == 7 and "not available for fine-tuning" in result.stderr, result.stderr
    assert "no training price known" in result.stderr  # no budget set: sent, unpriced, knowingly
    assert job_requests(fault) == 1 and fault.files == {} and fault.fine_tuning.jobs == {}
    priced = run_cli(
        "finetune", "create", str(good_dataset(clean_env)), "--model", "davinci-002",
        env=env_for(fault, UNYO_BUDGET_DAILY_USD="5"),
    )  # fmt: skip
    assert priced.returncode == 3 and "UnpricedModel" in priced.stderr and job_requests(fault) == 1
    checked = unyo.finetune.validate(good_dataset(clean_env), model="davinci-002", epochs=1)
    assert checked.ok and [f.code for f in checked.warnings] == ["unknown_model"] and checked.estimate_usd is None
