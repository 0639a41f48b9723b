from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from unyo import load_settings
from unyo.testing import FaultServer

FAKE_KEY = "sk-test-PLANTED0123456789abcdefXYZ"
ENV_PREFIXES = ("OPENAI_", "UNYO_", "GEMINI_", "XAI_", "PLAMO_")


@pytest.fixture(scope="session")
def server() -> Any:
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def fault(server: FaultServer) -> FaultServer:
    """The session's server, reset: and, since it is a fresh provider to this test, the limits this
    process learned from earlier tests' answers (one shared limiter per host, key and model) go too."""
    from unyo._core import _limiter

    server.reset()
    with _limiter._lock:
        _limiter._shared.clear()
    return server


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test starts with no provider configuration, in an empty directory."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    home = tmp_path / "unyo-home"
    monkeypatch.setenv("UNYO_HOME", str(home))
    monkeypatch.setenv("UNYO_LANG", "en")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-config"))  # never the real ~/.config/unyo
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def fast_settings(fault: FaultServer, **overrides: Any) -> Any:
    """Settings pointing at the fault server with short waits, so retry tests run fast."""
    options: dict[str, Any] = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "model": "gpt-4o-mini"}
    options.update(overrides)
    return load_settings(profile="openai", api_key=FAKE_KEY, base_url=fault.url, **options)


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `unyo` as a user does: a separate process, real stdin/stdout/stderr."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    full_env.update(
        {"UNYO_HOME": os.environ["UNYO_HOME"], "UNYO_LANG": "en", "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"]}
    )
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "unyo", *args],
        env=full_env,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,  # a user's empty stdin, never the runner's
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


PG_BASE = os.environ.get("UNYO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Any:
    """A PostgreSQL URL on a fresh schema of the machine's real server, dropped afterwards."""
    import uuid

    import psycopg

    schema = f"unyo_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    from unyo._records import _store

    _store._stores.clear()
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each ledger test runs on both stores: SQLite in a fresh UNYO_HOME, and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger' / 'unyo.db'}"
    return str(request.getfixturevalue("pg_url"))
