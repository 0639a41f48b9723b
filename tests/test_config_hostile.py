"""Configuration as an attacker's repository or a careless set-up would have it: a cloned
unyo.toml that redirects the key, caps that stop applying one directory down, a database path
that loosens directory modes, and a --dry-run that spends money."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

import unyo
from unyo import load_settings
from unyo.testing import FaultServer

from .conftest import FAKE_KEY, run_cli

ENV = {"OPENAI_API_KEY": FAKE_KEY}


@pytest.mark.parametrize(
    "toml",
    [
        '[profiles.openai]\nbase_url = "{url}"\n',
        '[unyo]\nbase_url = "{url}"\n',
        '[profiles.evil]\nbase_url = "{url}"\nkey_env = "OPENAI_API_KEY"\n[unyo]\nprofile = "evil"\n',
    ],
)
def test_a_cloned_unyo_toml_cannot_send_the_key_elsewhere(fault: FaultServer, clean_env: Path, toml: str) -> None:
    (clean_env / "unyo.toml").write_text(toml.format(url=fault.url))
    result = run_cli("ask", "hi", "--no-stream", "-m", "gpt-4o-mini", env=ENV, cwd=clean_env)
    assert result.returncode == 3, result.stderr
    assert "unyo config trust" in result.stderr and "OPENAI_API_KEY" in result.stderr
    assert not fault.requests  # nothing reached the "attacker", so neither did the key
    assert FAKE_KEY not in result.stdout + result.stderr


def test_trusting_the_host_once_lets_the_project_file_apply(fault: FaultServer, clean_env: Path) -> None:
    (clean_env / "unyo.toml").write_text(f'[profiles.openai]\nbase_url = "{fault.url}"\n')
    trusted = run_cli("config", "trust", fault.url, cwd=clean_env)
    assert trusted.returncode == 0 and "trusted http://127.0.0.1:" in trusted.stdout
    record = Path(os.environ["XDG_CONFIG_HOME"]) / "unyo" / "trusted_hosts"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    result = run_cli("ask", "hi", "--no-stream", "-m", "gpt-4o-mini", env=ENV, cwd=clean_env)
    assert result.returncode == 0, result.stderr
    assert len(fault.requests) == 1


def test_the_base_url_from_the_environment_or_the_user_config_is_trusted(fault: FaultServer, clean_env: Path) -> None:
    (clean_env / "unyo.toml").write_text('[profiles.openai]\nbase_url = "http://127.0.0.1:9/v1"\n')
    s = load_settings(env={**ENV, "OPENAI_BASE_URL": fault.url})
    assert s.base_url == fault.url and s.origins["base_url"] == "env OPENAI_BASE_URL"
    (clean_env / "unyo.toml").unlink()
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "unyo"
    user.mkdir(parents=True)
    (user / "unyo.toml").write_text(f'[profiles.openai]\nbase_url = "{fault.url}"\n')
    assert load_settings(env=ENV).base_url == fault.url
    assert load_settings(env=ENV, base_url="http://127.0.0.1:7/v1").base_url == "http://127.0.0.1:7/v1"  # an argument


def test_a_project_profile_may_not_name_any_secret_until_its_host_is_trusted(
    fault: FaultServer, clean_env: Path
) -> None:
    """A project's own profile could name any variable (GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY ...)."""
    (clean_env / "unyo.toml").write_text(f'[profiles.team]\nbase_url = "{fault.url}"\nkey_env = "GITHUB_TOKEN"\n')
    with pytest.raises(unyo.ConfigError, match="unyo config trust"):
        load_settings(profile="team", env={"GITHUB_TOKEN": "ghp_secret_0123456789abcdef"})
    (clean_env / "unyo.toml").write_text(
        '[profiles.openai]\nkey_env = "GITHUB_TOKEN"\n'
    )  # a built-in host, another secret
    with pytest.raises(unyo.ConfigError, match="GITHUB_TOKEN"):
        load_settings(profile="openai", env={"GITHUB_TOKEN": "ghp_secret_0123456789abcdef"})
    (clean_env / "unyo.toml").write_text(f'[profiles.team]\nbase_url = "{fault.url}"\nkey_env = "TEAM_PROXY_KEY"\n')
    assert run_cli("config", "trust", fault.url, cwd=clean_env).returncode == 0
    s = load_settings(profile="team", env={"TEAM_PROXY_KEY": "team-key-0123456789"})
    assert s.base_url == fault.url and s.key_source == "env TEAM_PROXY_KEY"


def test_a_project_file_may_not_move_the_ledger_or_lift_the_users_caps(clean_env: Path) -> None:
    for line in ('db_url = "postgresql://attacker@evil.example/loot"', 'redis_url = "redis://evil.example"',
                 'audit_content = "full"', "allow_unpriced = true", 'local_model = "planted.gguf"'):  # fmt: skip
        (clean_env / "unyo.toml").write_text(f"[unyo]\n{line}\n")
        with pytest.raises(unyo.ConfigError, match="a project file may not set"):
            load_settings()
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "unyo"
    user.mkdir(parents=True)
    (user / "unyo.toml").write_text('[unyo]\nbudget_daily_usd = "2"\naudit_content = "full"\n')  # the user's own: fine
    (clean_env / "unyo.toml").write_text('[unyo]\nbudget_daily_usd = "100000"\nmax_request_usd = "0.5"\n')
    limits = {lim.period: lim.usd for lim in load_settings().budget.limits}
    assert limits["day"] == Decimal("2") and limits["request"] == Decimal("0.5")  # lifted: no; added or tightened: yes
    (clean_env / "unyo.toml").write_text('[unyo]\nbudget_daily_usd = "1"\n')
    assert {lim.period: lim.usd for lim in load_settings().budget.limits}["day"] == Decimal("1")


def test_a_dotenv_that_holds_both_key_and_url_is_its_own_author(fault: FaultServer, clean_env: Path) -> None:
    (clean_env / ".env").write_text(f"OPENAI_API_KEY={FAKE_KEY}\nOPENAI_BASE_URL={fault.url}\n")
    assert load_settings().base_url == fault.url
    (clean_env / ".env").write_text(f"OPENAI_BASE_URL={fault.url}\n")  # the key comes from elsewhere
    with pytest.raises(unyo.ConfigError, match="unyo config trust"):
        load_settings(env=ENV)


def test_doctor_says_which_host_each_key_goes_to(fault: FaultServer, clean_env: Path) -> None:
    result = run_cli(
        "doctor",
        "--offline",
        "--json",
        env={**ENV, "OPENAI_BASE_URL": fault.url, "GEMINI_API_KEY": "gm-0123456789abcdef"},
    )
    findings = {f["check"]: f for f in json.loads(result.stdout)}
    assert findings["key OPENAI_API_KEY"]["detail"].startswith(
        "goes to 127.0.0.1 (profile openai, base URL from env OPENAI_BASE_URL)"
    )
    assert findings["key GEMINI_API_KEY"]["detail"].startswith(
        "goes to generativelanguage.googleapis.com (profile gemini"
    )
    assert findings["budget"]["level"] == "warn" and "no budget applies" in findings["budget"]["detail"]
    (clean_env / "unyo.toml").write_text('[profiles.gemini]\nbase_url = "http://127.0.0.1:9/v1"\n')
    findings = {
        f["check"]: f
        for f in json.loads(
            run_cli("doctor", "--offline", "--json", env={**ENV, "GEMINI_API_KEY": "gm-0123456789abcdef"}).stdout
        )
    }
    assert findings["key GEMINI_API_KEY"]["level"] == "fail"


def test_budgets_in_a_parent_directory_apply_below_it(fault: FaultServer, clean_env: Path) -> None:
    proj = clean_env / "proj"
    (proj / "sub" / "deeper").mkdir(parents=True)
    (proj / "unyo.toml").write_text('[unyo]\nmax_request_usd = "0.0000001"\n')
    env = {**ENV, "OPENAI_BASE_URL": fault.url}
    for where in (proj, proj / "sub", proj / "sub" / "deeper"):
        result = run_cli("ask", "hi", "--no-stream", "-m", "gpt-4o-mini", env=env, cwd=where)
        assert result.returncode == 4, (where, result.stderr)  # BudgetExceeded everywhere below proj/
    assert not fault.requests


def test_discovery_stops_at_the_repository_root_and_config_overrides(fault: FaultServer, clean_env: Path) -> None:
    outer = clean_env / "outer"
    repo = outer / "repo"
    (repo / "src").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (outer / "unyo.toml").write_text("[unyo]\nmax_attempts = 9\n")
    assert load_settings(cwd=repo / "src").max_attempts == 3  # outside the repository: not this project's
    (repo / "unyo.toml").write_text("[unyo]\nmax_attempts = 5\n")
    assert load_settings(cwd=repo / "src").max_attempts == 5
    other = clean_env / "other.toml"
    other.write_text("[unyo]\nmax_attempts = 2\n")
    assert load_settings(cwd=repo / "src", env={"UNYO_CONFIG": str(other)}).max_attempts == 2
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "unyo"
    user.mkdir(parents=True)
    (user / "unyo.toml").write_text('[unyo]\nmax_attempts = 7\nbudget_daily_usd = "3"\n')
    s = load_settings(cwd=repo / "src")
    assert s.max_attempts == 5 and [
        lim.describe() for lim in s.budget.limits
    ]  # project over user; user's budget still applies
    assert load_settings(cwd=clean_env).max_attempts == 7  # anywhere else: the user's config


def test_config_path_and_show_say_where_each_value_came_from(clean_env: Path) -> None:
    (clean_env / "unyo.toml").write_text('[unyo]\nmax_attempts = 5\nbudget_daily_usd = "2.50"\n')
    path = run_cli("config", "path", "--json", cwd=clean_env)
    assert path.returncode == 0
    applied = json.loads(path.stdout)["applied"]
    assert applied == [f"{clean_env / 'unyo.toml'} (project)"]
    shown = json.loads(run_cli("config", "show", "--json", cwd=clean_env, env={"UNYO_DEADLINE_S": "9"}).stdout)
    assert shown["max_attempts"] == {"value": 5, "from": f"{clean_env / 'unyo.toml'} (project) [unyo] max_attempts"}
    assert shown["deadline_s"]["from"] == "env UNYO_DEADLINE_S" and shown["read_timeout_s"]["from"] == "default"
    assert shown["budget_daily_usd"]["value"] == "2.50"
    table = run_cli("config", "show", cwd=clean_env)
    assert table.returncode == 0 and "max_attempts" in table.stdout
    explicit = clean_env / "ci.toml"
    explicit.write_text("[unyo]\nmax_attempts = 2\n")
    via_flag = json.loads(run_cli("config", "show", "--json", "--config", str(explicit), cwd=clean_env).stdout)
    assert via_flag["max_attempts"]["value"] == 2 and "(explicit)" in via_flag["max_attempts"]["from"]


def test_a_sqlite_url_never_loosens_or_tightens_an_existing_directory(clean_env: Path) -> None:
    shared = clean_env / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # a sticky, world-writable directory such as /tmp
    os.chmod(clean_env, 0o755)
    for folder in (clean_env, shared):
        db = folder / "x.db"
        result = run_cli("usage", "--json", env={"UNYO_DB_URL": f"sqlite:///{db}"}, cwd=clean_env)
        assert result.returncode == 0, result.stderr
        assert "other users can see" in result.stderr
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE(clean_env.stat().st_mode) == 0o755
    created = clean_env / "new" / "nested" / "x.db"
    assert run_cli("usage", "--json", env={"UNYO_DB_URL": f"sqlite:///{created}"}).returncode == 0
    assert (
        stat.S_IMODE(created.parent.stat().st_mode) == 0o700
        and stat.S_IMODE((clean_env / "new").stat().st_mode) == 0o700
    )


def test_dry_run_of_one_long_text_sends_nothing(fault: FaultServer, clean_env: Path) -> None:
    doc = clean_env / "long.md"
    doc.write_text("\n\n".join(f"## 第{i}章\n\n" + "売上は前年より増えた。" * 200 for i in range(12)), encoding="utf-8")
    env = {**ENV, "OPENAI_BASE_URL": fault.url, "UNYO_BUDGET_DAILY_USD": "5"}
    result = run_cli("run", "summarize", "--file", str(doc), "--dry-run", "--json", "-m", "gpt-4o-mini", env=env)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["dry_run"] and record["calls"] > 2 and record["input_tokens"] > 0 and record["worst_usd"]
    plain = run_cli("run", "triage", "請求書が二重に届きました", "--dry-run", "-m", "gpt-4o-mini", env=env)
    assert plain.returncode == 0 and "nothing sent" in plain.stdout
    assert fault.requests == []  # the server saw no request at all


def test_doctor_says_a_committed_dotenv_is_published(clean_env: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=clean_env, check=True)
    (clean_env / ".env").write_text(f"OPENAI_API_KEY={FAKE_KEY}\n")
    os.chmod(clean_env / ".env", 0o600)
    subprocess.run(["git", "add", ".env"], cwd=clean_env, check=True)
    (clean_env / ".gitignore").write_text(".env\n")  # ignoring it now does not unpublish it
    findings = {f["check"]: f for f in json.loads(run_cli("doctor", "--offline", "--json", cwd=clean_env).stdout)}
    assert "is committed" in findings[".env in git"]["detail"] and "rotate" in findings[".env in git"]["fix"]
