"""Virtual keys: stored only as HMAC hashes, on SQLite and PostgreSQL; `unyo keys` as a user runs it."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.gateway_helpers import SECRET
from unyo._gateway._keys import KeyStore, key_hash, server_secret
from unyo._records._store import open_store
from unyo._types._errors import ConfigError


def test_keys_are_stored_only_as_keyed_hashes(db_url: str) -> None:
    store = open_store(db_url)
    keys = KeyStore(store, SECRET.encode())
    key, record = keys.create(
        "team-a", models=["main", "bulk"], budget_monthly=Decimal("50"), rpm=600, expires_in_s=90 * 86400
    )
    assert key.startswith("uk-") and len(key) > 40
    with store.tx(write=False) as tx:
        dumped = json.dumps(tx.execute("SELECT * FROM unyo_keys"), default=str)
    assert key not in dumped and key[7:20] not in dumped  # not even a long prefix
    assert key_hash(SECRET.encode(), key) in dumped
    found = keys.lookup(key)
    assert found is not None and found.id == record.id and found.models == ("main", "bulk")
    assert found.budget_monthly == Decimal("50") and found.rpm == 600 and found.state() == "active"
    assert KeyStore(store, b"another-secret-entirely!").lookup(key) is None  # the database alone is not enough
    assert keys.lookup(key + "x") is None and keys.lookup("") is None


def test_revoke_and_rotate_keep_the_budget_identity(db_url: str) -> None:
    keys = KeyStore(open_store(db_url), SECRET.encode())
    key, record = keys.create("ops", budget_daily=Decimal("1"))
    with pytest.raises(ConfigError, match="already named"):
        keys.create("ops")
    new_key, new = keys.rotate("ops")
    assert keys.lookup(key).state() == "revoked" and keys.lookup(key).rotated_to == new.id  # type: ignore[union-attr]
    assert keys.lookup(new_key).state() == "active" and new.ledger_user == record.ledger_user == "key:ops"  # type: ignore[union-attr]
    assert new.budget_daily == Decimal("1")
    keys.revoke(new.id)
    assert keys.lookup(new_key).state() == "revoked"  # type: ignore[union-attr]
    short, _ = keys.create("short", expires_in_s=0.01)
    time.sleep(0.05)
    assert keys.lookup(short).state() == "expired"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="no virtual key"):
        keys.get("nobody")


def test_the_server_secret_is_required_and_read_from_env_or_file(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="UNYO_GATEWAY_SECRET"):
        server_secret({})
    with pytest.raises(ConfigError, match="at least 16"):
        server_secret({"UNYO_GATEWAY_SECRET": "short"})
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    assert server_secret({"UNYO_GATEWAY_SECRET_FILE": str(secret_file)}) == SECRET.encode()
    with pytest.raises(ConfigError, match="cannot read"):
        server_secret({"UNYO_GATEWAY_SECRET_FILE": str(tmp_path / "missing")})


def test_unyo_keys_commands() -> None:
    env = {"UNYO_GATEWAY_SECRET": SECRET}
    made = run_cli(
        "keys", "create", "--name", "team-a", "--models", "main,bulk", "--budget-monthly", "50", "--rpm", "600",
        "--expires", "90d", "--json", env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    assert created["key"].startswith("uk-") and created["id"].startswith("vk_")
    listed = run_cli("keys", "list", "--json", env=env)
    assert created["key"] not in listed.stdout
    [row] = json.loads(listed.stdout)
    assert row["name"] == "team-a" and row["models"] == ["main", "bulk"] and row["budget_monthly"] == "50"
    assert row["expires_at"] - row["created_at"] == pytest.approx(90 * 86400, abs=5)
    shown = run_cli("keys", "show", "team-a", "--json", env=env)
    assert json.loads(shown.stdout)["id"] == created["id"]
    asks = run_cli("keys", "revoke", "team-a", env=env, input="")
    assert asks.returncode == 2 and "--yes" in asks.stderr  # not a terminal: it asks for --yes, changes nothing
    rotated = run_cli("keys", "rotate", "team-a", "--yes", "--json", env=env)
    assert rotated.returncode == 0 and json.loads(rotated.stdout)["key"] != created["key"]
    revoked = run_cli("keys", "revoke", "team-a", "--yes", env=env)
    assert revoked.returncode == 0 and "revoked" in revoked.stderr
    states = [r["state"] for r in json.loads(run_cli("keys", "list", "--all", "--json", env=env).stdout)]
    assert states == ["revoked", "revoked"]
    no_secret = run_cli("keys", "list")
    assert no_secret.returncode == 3 and "UNYO_GATEWAY_SECRET" in no_secret.stderr
    bad = run_cli("keys", "create", "--name", "x", "--expires", "soon", env=env)
    assert bad.returncode == 2 and "duration" in bad.stderr


def test_help_stays_fast_and_never_loads_the_server() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from unyo._cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'openai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_deploy_files_use_real_options() -> None:
    import re
    import shlex

    import yaml

    root = Path(__file__).resolve().parents[1] / "deploy"
    compose = yaml.safe_load((root / "compose.yaml").read_text())
    commands = [compose["services"]["unyo-a"]["command"]]
    commands += re.findall(r"^ExecStart=(.*)$", (root / "unyo-gateway.service").read_text(), re.M)
    help_text = run_cli("serve", "--help").stdout
    for command in commands:
        words = shlex.split(command.split("unyo serve", 1)[1].rstrip('"'))
        for flag in (w for w in words if w.startswith("--")):
            assert flag in help_text, (flag, command)
    assert compose["services"]["unyo-b"]["environment"]["UNYO_GATEWAY_SECRET_FILE"]


def test_serve_without_the_gateway_extra_says_what_to_install(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'fastapi':\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    out = run_cli("serve", "--port", "1", env={"PYTHONPATH": str(blocker), "UNYO_GATEWAY_SECRET": SECRET})
    assert out.returncode == 3 and "unyo[gateway]" in out.stderr, out.stderr
