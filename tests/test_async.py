"""Async all the way: under asyncio no ledger, audit or cache write blocks the event loop, and
every high-level function has an `a`-prefixed twin built on AsyncOpenAI."""

from __future__ import annotations

import asyncio
import gc
import inspect
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import unyo
from unyo._records._ledger import ledger_for
from unyo.testing import FaultServer

from .conftest import fast_settings

CALLS = 200
TICK_S = 0.010
MAX_DELAY_S = 0.050


async def _starve(client: unyo.AsyncOpenAI) -> tuple[float, list[Any]]:
    """200 concurrent calls while a ticker sleeps 10 ms in a loop: (its worst lateness, every response)."""
    done = asyncio.Event()
    worst = 0.0

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            began = time.perf_counter()
            await asyncio.sleep(TICK_S)
            worst = max(worst, time.perf_counter() - began - TICK_S)

    async def one(i: int) -> Any:
        return await client.responses.create(
            input=f"Summarise item {i}: the invoice was paid late.", max_output_tokens=40
        )

    # One call first: the process's cold start (the SDK's lazy imports, the in-process fault
    # server loading its BPE table while holding the GIL) is not what this measures.
    warm = await client.responses.create(input="warm up", max_output_tokens=40)
    # The heap pytest and earlier tests left behind is frozen out of the cyclic GC: a full
    # collection over it pauses every thread for ~100 ms here, whatever the calls do. The
    # burst's own garbage is still collected as it arises.
    gc.collect()
    gc.freeze()
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(TICK_S * 3)  # the ticker is running before the first call
    try:
        responses = [warm, *await asyncio.gather(*(one(i) for i in range(CALLS)))]
    finally:
        done.set()
        await tick
        gc.unfreeze()
    await client.close()
    return worst, responses


def _check_starvation(fault: FaultServer, db_url: str | None) -> None:
    options: dict[str, Any] = {"budget_daily_usd": "100"}
    if db_url:
        options["db_url"] = db_url
    client = unyo.AsyncOpenAI(settings=fast_settings(fault, **options))
    worst, responses = asyncio.run(_starve(client))
    infos = [unyo.call_info(r) for r in responses]
    print(
        f"\n{CALLS} concurrent AsyncOpenAI calls ({db_url.split(':')[0] if db_url else 'sqlite'}): "
        f"worst tick delay {worst * 1000:.1f} ms"
    )
    assert all(i.status == "completed" and i.budget == "reserved" for i in infos)
    periods = client.settings.budget.period_keys()
    spent, reserved = ledger_for(client.settings).counters([periods["day"]])[("all", periods["day"])]
    assert spent == sum((i.cost_usd for i in infos), Decimal(0)) and reserved == 0
    assert worst <= MAX_DELAY_S, f"the event loop was blocked for {worst * 1000:.1f} ms"


def test_200_concurrent_calls_never_block_the_loop_sqlite(fault: FaultServer) -> None:
    _check_starvation(fault, None)


def test_200_concurrent_calls_never_block_the_loop_postgresql(fault: FaultServer, pg_url: str) -> None:
    _check_starvation(fault, pg_url)


# --- the async twins, end to end on the fault server --------------------------------------

HIGH_LEVEL = ("ask", "stream", "ask_structured", "classify", "ask_with_tools", "run_task", "conversation")


def test_every_high_level_function_has_an_async_twin() -> None:
    public = set(unyo.__all__)
    for name in HIGH_LEVEL:
        assert (
            name in public
            and inspect.isfunction(getattr(unyo, name))
            and not inspect.iscoroutinefunction(getattr(unyo, name))
        )
        twin = getattr(unyo, f"a{name}")
        assert f"a{name}" in public and inspect.iscoroutinefunction(twin), f"a{name}"
    # and nothing public that is a plain function of this kind lacks one
    for name in public:
        value = getattr(unyo, name)
        if inspect.isfunction(value) and inspect.iscoroutinefunction(value):
            assert name[1:] in public and not inspect.iscoroutinefunction(getattr(unyo, name[1:])), name
    assert inspect.iscoroutinefunction(unyo.Conversation.asay)


def _audit_rows(home: Path) -> dict[str, tuple[Any, ...]]:
    with sqlite3.connect(home / "unyo.db") as db:
        return {r[0]: r[1:] for r in db.execute("SELECT id, api, status, tag, user_id FROM unyo_calls")}


@pytest.fixture
def aclient(fault: FaultServer) -> Any:
    return lambda **kw: unyo.AsyncOpenAI(settings=fast_settings(fault, budget_daily_usd="1"), **kw)


def test_aask_and_astream(fault: FaultServer, aclient: Any, clean_env: Path, tmp_path: Path) -> None:
    async def main() -> tuple[unyo.Answer, unyo.StreamResult, list[str]]:
        client = aclient(tag="async")
        answer = await unyo.aask("hello", client=client)
        deltas: list[str] = []
        stream = await unyo.astream("hello", client=client)
        async for delta in stream:
            deltas.append(delta)
        await client.close()
        return answer, stream.result, deltas

    answer, result, deltas = asyncio.run(main())
    assert answer.text and answer.status == "completed" and answer.call.budget == "reserved"
    assert result.status == "completed" and "".join(deltas) == result.text and result.text
    rows = _audit_rows(tmp_path / "unyo-home")
    assert rows[answer.call.call_id][:3] == ("responses", "completed", "async")
    assert rows[result.call.call_id][:3] == ("responses", "completed", "async")


def test_astream_stops_and_still_settles(fault: FaultServer, aclient: Any, tmp_path: Path) -> None:
    fault.script({"action": "ok", "text": "one two three four five six seven eight nine ten " * 5, "delay": 0.01})

    async def main() -> unyo.StreamResult:
        client = aclient()
        stream = await unyo.astream("count", client=client, max_chars=20)
        result = await stream.until_done()
        await client.close()
        return result

    result = asyncio.run(main())
    assert result.status == "cancelled" and result.stop_reason == "max_chars"
    assert _audit_rows(tmp_path / "unyo-home")[result.call.call_id][1] == "cancelled"


def test_aask_structured_and_aclassify(fault: FaultServer, aclient: Any, tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    fault.script({"action": "ok", "text": "not json"}, {"action": "ok", "text": '{"city": "Tokyo"}'},
                 {"action": "ok", "text": '{"label": "billing", "confidence": 0.8, "reason": "invoice"}'})  # fmt: skip

    async def main() -> tuple[unyo.Parsed, unyo.Classification]:
        client = aclient()
        parsed = await unyo.aask_structured("Where?", schema, client=client)
        label = await unyo.aclassify("my invoice is wrong", ["billing", "bug"], client=client)
        await client.close()
        return parsed, label

    parsed, label = asyncio.run(main())
    assert parsed.parsed == {"city": "Tokyo"} and parsed.repairs == 1
    assert label.label == "billing" and label.source == "self_reported"
    rows = _audit_rows(tmp_path / "unyo-home")
    assert all(rows[c.call_id][1] == "completed" for c in [*parsed.calls, *label.calls])


def test_aask_with_tools(fault: FaultServer, aclient: Any, tmp_path: Path) -> None:
    ran: list[str] = []

    @unyo.tool
    def get_weather(city: str) -> dict[str, object]:
        """Current weather for a city."""
        ran.append(city)
        return {"city": city, "temp": 21}

    fault.script(
        {"action": "ok", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]},
        {"action": "ok", "text": "21 degrees."},
    )

    async def main() -> unyo.ToolAnswer:
        client = aclient(user="alice")
        answer = await unyo.aask_with_tools("Weather in Tokyo?", [get_weather], client=client)
        await client.close()
        return answer

    answer = asyncio.run(main())
    assert answer.text == "21 degrees." and ran == ["Tokyo"] and answer.rounds == 1 and len(answer.calls) == 2
    rows = _audit_rows(tmp_path / "unyo-home")
    assert all(rows[c.call_id][1] == "completed" for c in answer.calls)
    with sqlite3.connect(tmp_path / "unyo-home" / "unyo.db") as db:
        assert db.execute("SELECT name, outcome, call_id FROM unyo_tool_calls").fetchall() == [
            ("get_weather", "ok", answer.calls[0].call_id)
        ]


def test_arun_task(fault: FaultServer, aclient: Any, tmp_path: Path) -> None:
    fault.script({"action": "ok", "text": '{"category": "bug", "urgency": 3, "summary": "crash on save", '
                  '"reply_draft": "We are checking this for you.", "confidence": 0.9}'})  # fmt: skip

    async def main() -> unyo.TaskResult:
        client = aclient()
        result = await unyo.arun_task("triage", "crash on save", client=client)
        await client.close()
        return result

    result = asyncio.run(main())
    assert result.output["category"] == "bug" and result.output["needs_human"] is False
    assert _audit_rows(tmp_path / "unyo-home")[result.calls[0].call_id][1:3] == ("completed", "task:triage")


def test_aconversation_asay(fault: FaultServer, aclient: Any, tmp_path: Path) -> None:
    async def main() -> tuple[Any, Any, list[Any]]:
        client = aclient()
        conv = await unyo.aconversation("alice", client=client)
        first = await conv.asay("My name is Ken.")
        second = await conv.asay("What is my name?")
        turns = conv.turns()
        await client.close()
        return first, second, turns

    first, second, turns = asyncio.run(main())
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
    assert fault.requests[-1]["body"]["input"][0] == {
        "role": "user",
        "content": "My name is Ken.",
    }  # the history went along
    rows = _audit_rows(tmp_path / "unyo-home")
    assert (
        rows[first.call.call_id][1] == rows[second.call.call_id][1] == "completed"
        and rows[second.call.call_id][3] == "alice"
    )


def test_the_sync_and_async_apis_refuse_the_other_client(fault: FaultServer, aclient: Any) -> None:
    with pytest.raises(unyo.ConfigError, match="aask"):
        unyo.ask("hi", client=aclient())
    with pytest.raises(unyo.ConfigError, match="AsyncOpenAI"):
        asyncio.run(unyo.aask("hi", client=unyo.OpenAI(settings=fast_settings(fault))))
    assert fault.requests == []


def test_a_call_cancelled_while_it_is_prepared_releases_its_hold(
    fault: FaultServer, aclient: Any, tmp_path: Path
) -> None:
    """The reservation runs in the pool; a caller cancelled meanwhile must not leave a hold behind."""

    async def main() -> Any:
        client = aclient()
        task = asyncio.create_task(client.responses.create(input="hello"))
        await asyncio.sleep(0)  # submitted to the pool, not yet back
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.5)  # the orphaned call settles in the pool
        await client.close()
        return client

    client = asyncio.run(main())
    periods = client.settings.budget.period_keys()
    counters = ledger_for(client.settings).counters([periods["day"]])
    assert counters.get(("all", periods["day"]), (Decimal(0), Decimal(0)))[1] == 0  # nothing still reserved
    assert ledger_for(client.settings).reservations() == []
    assert [r[:2] for r in _audit_rows(tmp_path / "unyo-home").values()] == [
        ("responses", "cancelled")
    ] and fault.requests == []
