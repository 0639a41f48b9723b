"""`unyo reconcile` against the fault server's organization usage and costs API (issue 19): one
month with a cancelled stream, a killed process, a foreign client on the same key, a second key
in another project and a price that differs from unyo's table."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai

import unyo
from tests.conftest import FAKE_KEY, fast_settings, run_cli
from unyo.testing import FaultServer

ADMIN = "sk-admin-PLANTEDadmin0123456789XYZ"
PROMPT = "Please summarise the following notes. " + "The quarterly figures were reviewed in detail. " * 40
LONG = " ".join(f"w{i}" for i in range(300))


def _env(fault: FaultServer, db_url: str, admin: str | None = ADMIN) -> dict[str, str]:
    env = {
        "OPENAI_API_KEY": FAKE_KEY,
        "OPENAI_BASE_URL": fault.url,
        "UNYO_DB_URL": db_url,
        "UNYO_BUDGET_MONTHLY_USD": "5",
    }
    if admin:
        env["OPENAI_ADMIN_KEY"] = admin
    return env


def _month(fault: FaultServer, db_url: str) -> None:
    fault.org.admin_key = ADMIN
    fault.org.prices["gpt-4o-mini"] = {"input": "0.16", "output": "0.60"}  # unyo's table says 0.15
    client = unyo.OpenAI(settings=fast_settings(fault, db_url=db_url))
    for _ in range(3):
        client.responses.create(input=PROMPT, max_output_tokens=200)
    fault.script({"action": "ok", "delay": 0.03, "text": LONG})  # a stream the user stops
    with client.responses.create(input="hi", stream=True) as stream:
        for i, _ in enumerate(stream):
            if i == 8:
                break
    deadline = time.monotonic() + 5
    while not fault.disconnects and time.monotonic() < deadline:
        time.sleep(0.02)
    # a foreign program on the same key, straight through the official SDK: unyo never sees it
    foreign = openai.OpenAI(api_key=FAKE_KEY, base_url=fault.url, max_retries=0)
    foreign.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}])
    # a second key in another project, and a day last week billed on our key that unyo never saw
    fault.org.projects["sk-other-PLANTED999"] = "proj_other"
    openai.OpenAI(api_key="sk-other-PLANTED999", base_url=fault.url, max_retries=0).embeddings.create(
        model="text-embedding-3-small", input=PROMPT
    )
    fault.org.add("gpt-4o-mini", 700, 120, key=FAKE_KEY, ts=time.time() - 6 * 86400)


def _killed_call(fault: FaultServer, db_url: str) -> None:
    """A process killed mid-call: the provider answers (and bills) after it is gone."""
    fault.script({"action": "ok", "delay": 1.0})
    code = "import unyo\nc = unyo.OpenAI()\nc.responses.create(input='killed mid-call', max_output_tokens=50)\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "UNYO_"))}
    env.update(_env(fault, db_url), UNYO_HOME=os.environ["UNYO_HOME"])
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 20
    while (
        not any(r["body"] and r["body"].get("input") == "killed mid-call" for r in fault.requests)
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    billed = fault.billed["requests"]
    while fault.billed["requests"] == billed and time.monotonic() < deadline:
        time.sleep(0.02)


def _server_bill(fault: FaultServer) -> tuple[dict[str, tuple[int, int]], Decimal]:
    tokens: dict[str, tuple[int, int]] = {}
    cost = Decimal(0)
    for e in fault.org.entries:
        i, o = tokens.get(e["model"], (0, 0))
        tokens[e["model"]] = (i + e["input_tokens"], o + e["output_tokens"])
        price_in, price_out = fault.org.price(e["model"])
        cost += (e["input_tokens"] * price_in + e["output_tokens"] * price_out) / Decimal(1_000_000)
    return tokens, cost


def _ledger(db_url: str) -> tuple[dict[str, tuple[int, int]], Decimal]:
    from unyo._records._audit import query
    from unyo._records._store import open_store

    tokens: dict[str, tuple[int, int]] = {}
    cost = Decimal(0)
    for r in query(open_store(db_url), limit=None):
        i, o = tokens.get(r["model"], (0, 0))
        tokens[r["model"]] = (i + r["input_tokens"], o + r["output_tokens"])
        cost += r["cost"] or 0
    return tokens, cost


def test_reconcile_names_each_discrepancy_and_apply_matches_the_bill(fault: FaultServer, db_url: str) -> None:
    _month(fault, db_url)
    _killed_call(fault, db_url)
    env = _env(fault, db_url)
    out = run_cli("reconcile", "--since", "30d", env=env)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "cancelled stream" in text and "bills what it generated" in text
    assert "never saw" in text and "other software using the same key" in text
    assert "price table says $0.15/1M input for gpt-4o-mini; the bill implies $0.16" in text
    assert '[models."gpt-4o-mini"]' in text and 'input = "0.16"' in text
    assert "proj_other" in text  # the second key's embeddings: billed, never seen, attributed
    assert "verdict: a drift of $" in text
    assert "partial:" in text  # today is still in progress
    assert ADMIN not in text + out.stderr and FAKE_KEY not in text + out.stderr

    page = Path(os.environ["UNYO_HOME"]).parent / "reconcile.html"
    html = run_cli("reconcile", "--html", str(page), env=env)
    assert html.returncode == 0 and "verdict" in html.stdout and stat.S_IMODE(page.stat().st_mode) == 0o600
    body = page.read_text(encoding="utf-8")
    assert "the bill implies $0.16" in body and "Billed but never seen" in body and "verdict" in body
    assert "<script" not in body and ADMIN not in body

    report = json.loads(run_cli("reconcile", "--json", env=env).stdout)
    days = {u["day"] for u in report["unseen"]}
    assert len(days) == 2 and not report["within_tolerance"] and Decimal(report["drift"]) > 0

    applied = run_cli("reconcile", "--apply", env=env)
    assert applied.returncode == 0, applied.stderr
    assert "applied adj:" in applied.stdout
    server_tokens, server_cost = _server_bill(fault)
    ledger_tokens, ledger_cost = _ledger(db_url)
    assert ledger_tokens == server_tokens  # to the token, per model
    assert ledger_cost == server_cost  # to the cent (exactly)

    again = run_cli("reconcile", "--apply", "--json", env=env)
    assert json.loads(again.stdout)["applied"] == []  # idempotent
    after = json.loads(again.stdout)
    assert after["within_tolerance"] and Decimal(after["drift"]) == 0
    assert _ledger(db_url) == (server_tokens, server_cost)

    usage = json.loads(run_cli("usage", "--json", env=env).stdout)  # budgets and `unyo usage` see the bill
    month = next(b for b in usage["budgets"] if b["scope"] == "all")
    assert Decimal(month["spent"]) == server_cost  # adjustments count in the current period
    doctor = run_cli("doctor", "--offline", env=env)
    assert "last reconciliation" in doctor.stdout


def test_non_admin_key_is_refused_clearly(fault: FaultServer, db_url: str) -> None:
    fault.org.admin_key = ADMIN
    out = run_cli("reconcile", env=_env(fault, db_url, admin=FAKE_KEY))
    assert out.returncode == 3
    assert "not an admin key" in out.stderr and "OPENAI_ADMIN_KEY" in out.stderr and "403" in out.stderr
    assert FAKE_KEY not in out.stderr + out.stdout
    missing = run_cli("reconcile", env=_env(fault, db_url, admin=None))
    assert missing.returncode == 3 and "OPENAI_ADMIN_KEY" in missing.stderr and "admin key" in missing.stderr


def test_gap_and_paging(fault: FaultServer, tmp_path: Any) -> None:
    db_url = f"sqlite:///{tmp_path / 'gap.db'}"
    fault.org.admin_key = ADMIN
    now = time.time()
    gap = int(now - 3 * 86400) - int(now - 3 * 86400) % 86400
    fault.org.drop_days.add(gap)
    fault.org.add("gpt-4o-mini", 1000, 10, key=FAKE_KEY, ts=gap + 100)
    report = json.loads(
        run_cli("reconcile", "--since", "60d", "--json", env=_env(fault, db_url)).stdout
    )  # 61 days: 2 pages of 31
    assert time.strftime("%Y-%m-%d", time.gmtime(gap)) in report["gaps"]
    assert not report["truncated"] and all(t["day"] not in report["gaps"] for t in report["tokens"])
    capped = json.loads(
        run_cli("reconcile", "--since", "60d", "--max-pages", "1", "--json", env=_env(fault, db_url)).stdout
    )
    assert capped["truncated"]
