"""Response cache, audit records, PII masking, retention and file permissions."""

from __future__ import annotations

import json
import os
import stat
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import unyo
from unyo._records._audit import prune, query
from unyo._records._mask import luhn_ok, mask, my_number_ok
from unyo._records._store import store_for
from unyo.testing import FaultServer

from .conftest import FAKE_KEY, fast_settings


def client(fault: FaultServer, **kw: Any) -> unyo.OpenAI:
    user = kw.pop("user", None)
    return unyo.OpenAI(settings=fast_settings(fault, **kw), user=user)


# --- cache -----------------------------------------------------------------------------------


def test_cache_hit_costs_nothing_and_is_not_sent(fault: FaultServer, db_url: str) -> None:
    c = client(fault, db_url=db_url, cache_ttl_s=60, budget_daily_usd="1")
    first = c.responses.create(input="What is 運用?", temperature=0, max_output_tokens=30)
    second = c.responses.create(input="What is 運用?", temperature=0, max_output_tokens=30)
    assert len(fault.requests) == 1
    assert type(second) is type(first) and second.output_text == first.output_text and second.id == first.id
    hit = unyo.call_info(second)
    assert hit.cache_hit and hit.cost_usd == 0 and hit.budget == "cache hit" and hit.usage.total_tokens == 0
    assert unyo.call_info(first).cost_usd > 0
    records = query(store_for(c.settings), oldest_first=True)
    assert [r["cache_hit"] for r in records] == [False, True]
    # a hit is billed nothing: the ledger still equals the server's bill
    assert (
        sum(r["input_tokens"] + r["output_tokens"] for r in records)
        == fault.billed["input_tokens"] + fault.billed["output_tokens"]
    )
    # and it is left out of latency statistics
    from unyo._records._rollup import read

    assert sum(read(store_for(c.settings), None).total.hist) == 1


def test_cache_key_covers_the_whole_request_and_the_caller(fault: FaultServer) -> None:
    c = client(fault, cache_ttl_s=60)
    c.chat.completions.create(messages=[{"role": "user", "content": "hi"}], max_tokens=20)
    c.chat.completions.create(messages=[{"role": "user", "content": "hi"}], max_tokens=21)  # other cap
    c.chat.completions.create(
        messages=[{"role": "system", "content": "terse"}, {"role": "user", "content": "hi"}], max_tokens=20
    )
    c.chat.completions.create(messages=[{"role": "user", "content": "hi"}], max_tokens=20, unyo_user="someone-else")
    assert len(fault.requests) == 4
    c.chat.completions.create(messages=[{"role": "user", "content": "hi"}], max_tokens=20)
    assert len(fault.requests) == 4  # the first one again: a hit


def test_cache_skips_temperature_above_zero_unless_forced_and_streams(fault: FaultServer) -> None:
    c = client(fault, cache_ttl_s=60)
    for _ in range(2):
        c.responses.create(input="poem", temperature=0.9, max_output_tokens=20)
    assert len(fault.requests) == 2
    for _ in range(2):
        c.responses.create(input="poem", temperature=0.9, max_output_tokens=20, unyo_cache="force")
    assert len(fault.requests) == 3
    for _ in range(2):
        list(c.responses.create(input="poem", stream=True, max_output_tokens=20))
    assert len(fault.requests) == 5
    c.responses.create(input="poem", temperature=0.9, max_output_tokens=20, unyo_cache="off")
    assert len(fault.requests) == 6


def test_cache_entries_expire(fault: FaultServer) -> None:
    c = client(fault, cache_ttl_s=0.3)
    c.responses.create(input="ttl", max_output_tokens=20)
    c.responses.create(input="ttl", max_output_tokens=20)
    assert len(fault.requests) == 1
    time.sleep(0.35)
    c.responses.create(input="ttl", max_output_tokens=20)
    assert len(fault.requests) == 2


def test_cache_is_off_by_default(fault: FaultServer) -> None:
    c = client(fault)
    c.responses.create(input="x", max_output_tokens=20)
    c.responses.create(input="x", max_output_tokens=20)
    assert len(fault.requests) == 2


def test_prompt_cache_parameters_pass_through_and_cached_tokens_are_reported(fault: FaultServer) -> None:
    c = client(fault)
    r = c.responses.create(
        input="long stable prefix", prompt_cache_key="tenant-42", prompt_cache_retention="24h", max_output_tokens=20
    )
    assert fault.requests[0]["body"]["prompt_cache_key"] == "tenant-42"
    assert fault.requests[0]["body"]["prompt_cache_retention"] == "24h"
    assert unyo.call_info(r).usage.cached_input_tokens == 0
    from unyo._types._call import Usage
    from unyo._types._prices import Price

    # cached tokens reported by a provider are priced at the cached rate, not twice
    usage = Usage.from_api({"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 800}, "output_tokens": 10})
    price = Price(Decimal("1.25"), Decimal("0.125"), Decimal("10"))
    assert price.cost(usage) == (200 * Decimal("1.25") + 800 * Decimal("0.125") + 10 * 10) / 1_000_000


# --- audit -----------------------------------------------------------------------------------

SAMPLE_JA = (
    "お世話になっております。株式会社サンプルの山田です。折り返しは 090-1234-5678 か 03-1234-5678、"
    "または yamada.taro@example.co.jp までお願いします。支払いはカード 4242 4242 4242 4242 で、"
    "マイナンバーは 1234 5678 9018 です。ＴＥＬ：０６－６１２３－４５６７。接続元 203.0.113.42"
)
SAMPLE_EN = (
    "Hi, this is Jane (jane.doe+billing@example.com, +1 415-555-0134, +44 20 7946 0958). Card 5555-5555-5555-4444 "
    f"was declined. Our key is {FAKE_KEY} and the header was 'Authorization: Bearer abcdefghijklmnop123'. "
    "Server 2001:db8::8a2e:370:7334. Order 2026-11-22, ticket 1234567890123, invoice #4521."
)


def test_mask_japanese_sample() -> None:
    out = mask(SAMPLE_JA)
    for secret in (
        "090-1234-5678",
        "03-1234-5678",
        "yamada.taro@example.co.jp",
        "4242 4242 4242 4242",
        "1234 5678 9018",
        "０６－６１２３－４５６７",
        "203.0.113.42",
    ):
        assert secret not in out
    for tag in ("[PHONE]", "[EMAIL]", "[CARD]", "[MYNUMBER]", "[IP]"):
        assert tag in out
    assert "株式会社サンプルの山田です" in out  # the rest is left readable


def test_mask_english_sample() -> None:
    unyo.load_settings(profile="openai", api_key=FAKE_KEY)  # registers the key, as a client does
    out = mask(SAMPLE_EN)
    for secret in (
        "jane.doe+billing@example.com",
        "415-555-0134",
        "20 7946 0958",
        "5555-5555-5555-4444",
        FAKE_KEY,
        "abcdefghijklmnop123",
        "2001:db8::8a2e:370:7334",
    ):
        assert secret not in out, secret
    assert out.count("[SECRET]") == 2
    # things that only look like numbers of interest stay: dates, a non-Luhn 13-digit ticket, an invoice number
    for kept in ("2026-11-22", "1234567890123", "#4521"):
        assert kept in out


def test_checksums() -> None:
    assert luhn_ok("4242424242424242") and not luhn_ok("4242424242424241")
    assert my_number_ok("123456789018") and not my_number_ok("123456789012")


def test_audit_record_per_call_with_masked_content(fault: FaultServer, db_url: str) -> None:
    c = client(fault, db_url=db_url, user="agent-7")
    fault.script({"action": "ok", "text": "Sure, we will call 090-1234-5678."})
    c.responses.create(input=SAMPLE_JA, instructions="Triage the inquiry.", max_output_tokens=40, unyo_tag="triage")
    fault.script("503", "ok")
    c.chat.completions.create(messages=[{"role": "user", "content": "retry me"}], max_tokens=20)
    records = query(store_for(c.settings), oldest_first=True)
    assert len(records) == 2
    first, second = records
    assert first["user_id"] == "agent-7" and first["tag"] == "triage" and first["status"] == "completed"
    assert (
        "090-1234-5678" not in first["prompt"]
        and "[PHONE]" in first["prompt"]
        and "[instructions] Triage" in first["prompt"]
    )
    assert first["output"] == "Sure, we will call [PHONE]."
    assert first["input_tokens"] > 0 and first["cost"] > 0 and first["request_id"] and first["response_id"]
    assert second["attempts"] == 2 and [a["outcome"] for a in second["detail"]["attempts"]] == ["ServerError", "ok"]


@pytest.mark.parametrize("policy", ["none", "full"])
def test_content_policy(fault: FaultServer, policy: str) -> None:
    c = client(fault, audit_content=policy)
    c.responses.create(input=f"mail me at a@example.com, key {FAKE_KEY}", max_output_tokens=20)
    record = query(store_for(c.settings))[0]
    if policy == "none":
        assert record["prompt"] is None and record["output"] is None
    else:
        assert "a@example.com" in record["prompt"] and FAKE_KEY not in record["prompt"]  # full, but never a key


def test_no_key_ever_reaches_the_database_file(fault: FaultServer) -> None:
    c = client(fault, audit_content="full", cache_ttl_s=60)
    fault.script("401")
    with pytest.raises(unyo.AuthenticationError):  # the server echoes the key in its error
        c.responses.create(input=f"my key is {FAKE_KEY}", max_output_tokens=20)
    c.responses.create(input=f"my key is {FAKE_KEY}", max_output_tokens=20)
    home = Path(os.environ["UNYO_HOME"])
    for path in home.iterdir():
        assert FAKE_KEY.encode() not in path.read_bytes(), path


def test_home_is_0700_and_database_0600(fault: FaultServer) -> None:
    client(fault).responses.create(input="x", max_output_tokens=20)
    home = Path(os.environ["UNYO_HOME"])
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in home.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_retention_prunes_old_records_but_keeps_spend(fault: FaultServer, db_url: str) -> None:
    c = client(fault, db_url=db_url, budget_daily_usd="1")
    for _ in range(3):
        c.responses.create(input="x", max_output_tokens=20)
    store = store_for(c.settings)
    assert prune(store, 90) == 0
    assert prune(store, 0, budget=c.settings.budget) == 0  # the current budget month is kept whatever the retention
    assert (
        prune(store, 1, now=time.time() + 40 * 86400, budget=c.settings.budget) == 3
    )  # from a later month, this one's may go
    assert query(store) == []
    periods = c.settings.budget.period_keys()
    from unyo._records._ledger import ledger_for

    assert ledger_for(c.settings).counters([periods["day"]])[("all", periods["day"])][0] > 0


def test_migrations_are_recorded_and_idempotent(db_url: str) -> None:
    from unyo._records._store import open_store
    from unyo._records._store._schema import MIGRATIONS

    store = open_store(db_url)
    store.migrate()
    store.migrate()
    assert store.schema_version() == MIGRATIONS[-1][0]


def test_export_jsonl(fault: FaultServer, tmp_path: Path) -> None:
    from .conftest import run_cli

    c = client(fault)
    for _ in range(3):
        c.responses.create(input="export me", max_output_tokens=20)
    out = tmp_path / "audit.jsonl"
    result = run_cli("logs", "export", str(out))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 3 and all(line["input_tokens"] > 0 for line in lines)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
