"""The CLI as a user runs it: separate processes, real exit codes, against the fault server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from unyo.testing import FaultServer

from .conftest import FAKE_KEY, run_cli


def _env(fault: FaultServer, **extra: str) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": FAKE_KEY,
        "OPENAI_BASE_URL": fault.url,
        "UNYO_MODEL": "gpt-4o-mini",
        "UNYO_BACKOFF_BASE_S": "0.01",
        "UNYO_BACKOFF_MAX_S": "0.02",
        **extra,
    }


@pytest.mark.parametrize(
    "action,code",
    [
        ("ok", 0),
        ("401", 3),
        ("403", 3),
        ("quota", 5),
        ("429", 5),
        ("500", 6),
        ("reset", 6),
        ("400", 7),
        ("404", 7),
        ("422", 7),
        ("context", 7),
    ],
)
def test_exit_code_per_error_family(fault: FaultServer, action: str, code: int) -> None:
    fault.script(action, action, action)
    result = run_cli("ask", "--no-stream", "hello", env=_env(fault))
    assert result.returncode == code, result.stderr
    if code:
        assert "error:" in result.stderr and "hint:" in result.stderr
    else:
        assert result.stdout.startswith("Hello from the fault server")


def test_hints_in_japanese(fault: FaultServer) -> None:
    fault.script("quota")
    result = run_cli("ask", "--no-stream", "hello", env=_env(fault, UNYO_LANG="ja"))
    assert result.returncode == 5 and "クォータ" in result.stderr


def test_ask_json_record_from_stdin(fault: FaultServer) -> None:
    fault.script("503", "ok")
    result = run_cli(
        "ask", "--json", "-", "--api", "chat", "--max-output-tokens", "50", env=_env(fault), input="こんにちは"
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["text"].startswith("Hello") and record["status"] == "completed" and record["provider"] == "openai"
    assert record["attempts"] == 2 and [a["outcome"] for a in record["attempt_log"]] == ["ServerError", "ok"]
    assert (
        record["input_tokens_bound"] and record["input_tokens_counted"] >= record["usage"]["input_tokens"] > 0
    )  # a byte bound
    assert record["request_id"].startswith("req_") and record["response_id"].startswith("chatcmpl_")
    body = fault.requests[-1]["body"]
    assert body["messages"] == [{"role": "user", "content": "こんにちは"}] and body["max_completion_tokens"] == 50


def test_ask_streams_to_stdout(fault: FaultServer) -> None:
    result = run_cli("ask", "--stream", "hello", "--system", "be brief", env=_env(fault))
    assert result.returncode == 0 and result.stdout.strip().startswith("Hello from the fault server")
    assert "completed" in result.stderr and fault.requests[-1]["body"]["instructions"] == "be brief"


def test_usage_errors_exit_2(fault: FaultServer) -> None:
    assert run_cli("ask", "--temperature", "hot", "x", env=_env(fault)).returncode == 2
    assert run_cli("nonsense").returncode == 2
    empty = run_cli("ask", "-", env=_env(fault), input="   ")
    assert empty.returncode == 2 and "prompt is empty" in empty.stderr


def test_help_lists_exit_codes() -> None:
    result = run_cli("--help")
    assert result.returncode == 0 and "exit codes:" in result.stdout and "130" in result.stdout
    assert "exit codes:" in run_cli("ask", "--help").stdout


def test_models_lists_served_models_and_roles(fault: FaultServer) -> None:
    result = run_cli("models", "--json", env=_env(fault))
    data = json.loads(result.stdout)
    by_id = {m["model"]: m for m in data["models"]}
    assert by_id["gpt-4o-mini"]["served"] and by_id["gpt-4o-mini"]["context_window"] == 128000
    assert by_id["gpt-5-mini"]["roles"] == ["main"] and not by_id["gpt-5-mini"]["served"]


def test_init_writes_templates_without_keys(clean_env: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=clean_env, check=True)
    result = run_cli("init", cwd=clean_env)
    assert result.returncode == 0
    assert (clean_env / ".env.example").read_text().count("OPENAI_API_KEY=\n") == 1
    assert "[unyo]" in (clean_env / "unyo.toml").read_text()
    assert ".env" in (clean_env / ".gitignore").read_text().splitlines()
    assert subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=clean_env).returncode == 0
    again = run_cli("init", cwd=clean_env)
    assert "kept" in again.stdout and (clean_env / ".gitignore").read_text().count(".env\n") == 1


def test_doctor_finds_problems_and_says_how_to_fix(fault: FaultServer, clean_env: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=clean_env, check=True)
    dotenv = clean_env / ".env"
    dotenv.write_text(f"OPENAI_API_KEY={FAKE_KEY}\nOPENAI_BASE_URL={fault.url}\n")
    os.chmod(dotenv, 0o644)
    result = run_cli("doctor", "--json", cwd=clean_env)
    findings = {f["check"]: f for f in json.loads(result.stdout)}
    assert result.returncode == 3
    assert findings[".env permissions"]["level"] == "fail" and findings[".env permissions"]["fix"] == "chmod 600 .env"
    assert findings[".env in git"]["level"] == "fail"
    assert findings["key"]["detail"] == f"from .env OPENAI_API_KEY, {len(FAKE_KEY)} characters"
    assert findings["reachable"]["level"] == "ok"
    assert findings["model main"]["level"] == "warn"  # gpt-5-mini is not served by the fault server
    assert FAKE_KEY not in result.stdout + result.stderr
    os.chmod(dotenv, stat.S_IRUSR | stat.S_IWUSR)
    (clean_env / ".gitignore").write_text(".env\n")
    fixed = json.loads(run_cli("doctor", "--json", cwd=clean_env).stdout)
    assert all(f["level"] != "fail" for f in fixed)


def test_doctor_reports_unreachable_endpoint(clean_env: Path) -> None:
    result = run_cli(
        "doctor",
        env={"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "UNYO_BACKOFF_BASE_S": "0.01"},
    )
    assert result.returncode == 3 and "FAIL  reachable: ConnectionFailed" in result.stdout and "fix:" in result.stdout
