"""Tools: strict schemas from typed functions, the allowlist, argument validation and guards,
timeouts, result caps, round caps, parallel calls, approval, audit — against the fault server
(scripted tool calls, hostile arguments) on both APIs, and on the real local model."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import Field

import unyo
from unyo._records._audit import tool_calls
from unyo._records._store import store_for
from unyo.guards import in_range, path_within, read_only_sql, url_host_in
from unyo.testing import FaultServer

from .conftest import fast_settings

RAN: list[tuple[str, dict[str, object]]] = []


@unyo.tool
def get_weather(city: str, unit: Literal["c", "f"] = "c") -> dict[str, object]:
    """Current weather for a city.

    Args:
        city: City name, e.g. Tokyo.
        unit: c or f.
    """
    RAN.append(("get_weather", {"city": city, "unit": unit}))
    return {"city": city, "temp": 21, "unit": unit}


@unyo.tool(guards={"url": url_host_in(["status.example.com"])})
def fetch_status(url: str, retries: Annotated[int, Field(ge=0, le=3)] = 0) -> str:
    """Fetch a status page."""
    RAN.append(("fetch_status", {"url": url}))
    return "all systems operational"


@unyo.tool(guards={"sql": read_only_sql("postgres")})
def run_sql(sql: str) -> str:
    """Run a read-only SQL query."""
    RAN.append(("run_sql", {"sql": sql}))
    return "[]"


DOCS = Path(__file__).resolve().parent


@unyo.tool(guards={"path": path_within(DOCS)})
def read_doc(path: str) -> str:
    """Read a document."""
    RAN.append(("read_doc", {"path": path}))
    return "contents"


@unyo.tool
def delete_everything(confirm: bool) -> str:
    """Delete all customer data."""
    RAN.append(("delete_everything", {}))
    return "deleted"


def client(fault: FaultServer, **kw: object) -> unyo.OpenAI:
    return unyo.OpenAI(settings=fast_settings(fault, **kw), user="alice", tag="tools")


def sent_outputs(fault: FaultServer, api: str, index: int = -1) -> list[str]:
    """The tool results the loop sent back to the model in request `index`."""
    body = fault.requests[index]["body"]
    if api == "responses":
        return [i["output"] for i in body["input"] if isinstance(i, dict) and i.get("type") == "function_call_output"]
    return [m["content"] for m in body["messages"] if m.get("role") == "tool"]


@pytest.fixture(autouse=True)
def _reset() -> None:
    RAN.clear()


def test_a_typed_function_becomes_a_strict_tool() -> None:
    spec = get_weather.spec("responses")
    assert spec["name"] == "get_weather" and spec["strict"] is True
    assert spec["description"] == "Current weather for a city."
    params = spec["parameters"]
    assert params["additionalProperties"] is False and params["required"] == ["city", "unit"]
    assert params["properties"]["city"]["description"] == "City name, e.g. Tokyo."
    assert params["properties"]["unit"]["enum"] == ["c", "f"] and "null" in params["properties"]["unit"]["type"]
    assert fetch_status.parameters["properties"]["retries"]["maximum"] == 3
    chat = get_weather.spec("chat")
    assert chat["type"] == "function" and chat["function"]["name"] == "get_weather"


def test_a_tool_needs_a_docstring_and_typed_arguments() -> None:
    with pytest.raises(unyo.ConfigError, match="docstring"):
        unyo.tool(lambda x: x)  # type: ignore[arg-type]

    def untyped(x):  # type: ignore[no-untyped-def]
        """Doc."""

    with pytest.raises(unyo.ConfigError, match="type hint"):
        unyo.tool(untyped)


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_the_loop_runs_a_tool_and_sends_the_result_back(fault: FaultServer, api: str) -> None:
    fault.script(
        {"action": "ok", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Tokyo", "unit": None}}]},
        {"action": "ok", "text": "It is 21 degrees in Tokyo."},
    )
    answer = unyo.ask_with_tools("Weather in Tokyo?", [get_weather], client=client(fault), api=api)
    assert answer.text == "It is 21 degrees in Tokyo."
    assert RAN == [("get_weather", {"city": "Tokyo", "unit": "c"})]  # null meant "the default"
    assert answer.rounds == 1 and len(answer.calls) == 2
    assert json.loads(sent_outputs(fault, api)[0]) == {"city": "Tokyo", "temp": 21, "unit": "c"}
    first = fault.requests[0]["body"]
    names = [t["name"] if api == "responses" else t["function"]["name"] for t in first["tools"]]
    assert names == ["get_weather"] and first["parallel_tool_calls"] is True
    if api == "responses":  # the model's own call item goes back with its output
        assert any(i.get("type") == "function_call" for i in fault.requests[1]["body"]["input"])
    else:
        assert fault.requests[1]["body"]["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_a_tool_outside_the_allowlist_is_refused_and_never_run(fault: FaultServer, api: str) -> None:
    fault.script(
        {
            "action": "ok",
            "tool_calls": [
                {"name": "delete_everything", "arguments": {"confirm": True}},
                {"name": "rm_rf", "arguments": {}},
            ],
        },
        "ok",
    )
    registry = unyo.ToolRegistry([get_weather, delete_everything])
    answer = unyo.ask_with_tools("Clean up", registry, allow=["get_weather"], client=client(fault), api=api)
    assert RAN == []
    assert [r.outcome for r in answer.tool_calls] == ["not_allowed", "not_allowed"]
    errors = [json.loads(o)["error"] for o in sent_outputs(fault, api)]
    assert [e["type"] for e in errors] == ["not_allowed", "not_allowed"] and "get_weather" in errors[0]["message"]
    offered = fault.requests[0]["body"]["tools"]
    assert len(offered) == 1  # only allowed tools are described to the model


HOSTILE = [
    ("get_weather", "{not json", "not valid JSON"),
    ("get_weather", '["Tokyo"]', "JSON object"),
    ("get_weather", '{"city": 5}', "city"),
    ("get_weather", '{"city": "Tokyo", "shell": "rm -rf /"}', "shell"),
    ("get_weather", '{"city": "Tokyo", "unit": "kelvin"}', "unit"),
    ("fetch_status", '{"url": "https://evil.example.net/x"}', "allowlist"),
    ("fetch_status", '{"url": "https://status.example.com@evil.net/"}', "credentials"),
    ("fetch_status", '{"url": "http://status.example.com/"}', "scheme"),
    ("fetch_status", '{"url": "https://status.example.com/", "retries": 99}', "retries"),
    ("run_sql", '{"sql": "DROP TABLE customers"}', "SELECT"),
    ("run_sql", '{"sql": "SELECT 1; DELETE FROM customers"}', "one statement"),
    ("run_sql", '{"sql": "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x"}', "DELETE"),
    ("run_sql", '{"sql": "SELECT pg_sleep(100)"}', "pg_sleep"),
    ("run_sql", '{"sql": "SELECT * INTO backup FROM customers"}', "INTO"),
    ("run_sql", '{"sql": "SELECT * FROM accounts FOR UPDATE"}', "LOCK"),
    ("run_sql", '{"sql": "SELECT pg_advisory_lock(42)"}', "pg_advisory_lock()"),
    ("run_sql", '{"sql": "SELECT lo_export(16384, \'/tmp/x\')"}', "lo_export()"),
    (
        "run_sql",
        '{"sql": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"}',
        "recursive",
    ),
    ("run_sql", '{"sql": "SELECT 1 /*! , pg_sleep(10) */"}', "executable comments"),
    ("read_doc", '{"path": "~/.ssh/id_rsa"}', "~"),
    ("read_doc", '{"path": "../../etc/passwd"}', "leaves"),
]


@pytest.mark.parametrize(("name", "arguments", "expect"), HOSTILE)
def test_hostile_arguments_are_refused_before_the_tool_runs(
    fault: FaultServer, name: str, arguments: str, expect: str
) -> None:
    fault.script({"action": "ok", "tool_calls": [{"name": name, "arguments": arguments}]}, "ok")
    answer = unyo.ask_with_tools("go", [get_weather, fetch_status, run_sql, read_doc], client=client(fault), api="chat")
    assert RAN == []
    record = answer.tool_calls[0]
    assert record.outcome == "invalid_arguments"
    assert expect.lower() in json.loads(record.output)["error"]["message"].lower()


def test_legitimate_arguments_pass_the_guards(fault: FaultServer) -> None:
    fault.script(
        {
            "action": "ok",
            "tool_calls": [
                {"name": "fetch_status", "arguments": {"url": "https://status.example.com/api", "retries": 2}},
                {
                    "name": "run_sql",
                    "arguments": {"sql": "WITH t AS (SELECT id FROM orders) SELECT count(*) FROM t UNION SELECT 1"},
                },
            ],
        },
        "ok",
    )
    answer = unyo.ask_with_tools("go", [fetch_status, run_sql], client=client(fault), api="responses")
    assert [r.outcome for r in answer.tool_calls] == ["ok", "ok"] and len(RAN) == 2


def test_a_guard_that_returns_a_value_hands_the_tool_that_value(fault: FaultServer) -> None:
    """The tool opens what the guard checked (the resolved path), not the model's text."""
    seen: list[str] = []

    @unyo.tool(
        guards={
            "code": lambda v: v.strip().upper(),
            "flag": lambda v: True,
            "ref": lambda v: re.fullmatch(r"[a-z]+", v),
        }
    )
    def lookup(code: str, flag: bool, ref: str) -> str:
        """Look a code up."""
        seen.append(code)
        assert flag is False and ref == "abc"
        return code

    fault.script(
        {
            "action": "ok",
            "tool_calls": [
                {"name": "read_doc", "arguments": {"path": "./conftest.py/../conftest.py"}},
                {"name": "lookup", "arguments": {"code": " ab ", "flag": False, "ref": "abc"}},
            ],
        },
        "ok",
    )
    answer = unyo.ask_with_tools("go", [read_doc, lookup], client=client(fault), api="chat", parallel=False)
    assert [r.outcome for r in answer.tool_calls] == ["ok", "ok"]
    assert RAN == [("read_doc", {"path": str(DOCS / "conftest.py")})]
    assert seen == ["AB"]  # a str replaces a str argument; True (flag) or a regex match (ref) keeps it


def test_guards_on_their_own(tmp_path: Path) -> None:
    guard = url_host_in([".example.com", "10.0.0.5"], schemes=["https"], ports=[8443])
    guard("https://api.example.com/x")
    guard("https://10.0.0.5:8443/")
    for bad in [
        "https://example.com.evil.net/",
        "https://api.example.com:22/",
        "https://api.example.com\\@evil/",
        "javascript:alert(1)",
        "https://127.0.0.1/",
        "https:// api.example.com",
    ]:
        with pytest.raises(ValueError):
            guard(bad)
    in_range(1, 5)(3)
    for bad in [0, 6, float("nan"), True, "3"]:
        with pytest.raises(ValueError):
            in_range(1, 5)(bad)
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("x")
    (root / "link").symlink_to(tmp_path / "secret.txt")
    inside = path_within(root)
    inside("sub/a.txt")
    inside(str(root / "sub"))
    for bad in ["../secret.txt", "/etc/passwd", "sub/../../secret.txt", "link", "a\x00b"]:
        with pytest.raises(ValueError):
            inside(bad)
    sql = read_only_sql()
    sql("select a, b from t where c = 'DROP TABLE x'")  # a string literal is data, not a statement
    for bad in [
        "UPDATE t SET a = 1",
        "INSERT INTO t VALUES (1)",
        "CREATE TABLE t (a int)",
        "PRAGMA writable_schema=1",
        "SELECT load_extension('x')",
        "",
        "SELEC * FRM",
    ]:
        with pytest.raises(ValueError):
            sql(bad)


@unyo.tool(timeout_s=0.3)
def slow(seconds: float) -> str:
    """Sleep."""
    time.sleep(seconds)
    return "slept"


@unyo.tool
def broken(x: int) -> str:
    """Always fails."""
    raise RuntimeError(f"database is down (x={x})")


@unyo.tool(max_result_chars=50)
def huge() -> str:
    """Returns a lot."""
    return "x" * 10_000


def test_exceptions_timeouts_and_huge_results_go_back_as_data(fault: FaultServer) -> None:
    fault.script(
        {
            "action": "ok",
            "tool_calls": [
                {"name": "broken", "arguments": {"x": 1}},
                {"name": "slow", "arguments": {"seconds": 5}},
                {"name": "huge", "arguments": {}},
            ],
        },
        "ok",
    )
    answer = unyo.ask_with_tools("go", [broken, slow, huge], client=client(fault), api="responses")
    by_name = {r.name: r for r in answer.tool_calls}
    assert (
        by_name["broken"].outcome == "error"
        and "database is down" in json.loads(by_name["broken"].output)["error"]["message"]
    )
    assert by_name["slow"].outcome == "timeout"
    assert by_name["huge"].outcome == "ok" and by_name["huge"].truncated and len(by_name["huge"].output) < 120
    assert answer.text  # the model still answered


@unyo.tool
def leaky(x: int) -> str:
    """Fails with secrets in the message."""
    raise RuntimeError(
        "connect failed: postgresql://app:hunter2@10.1.2.3/db key=sk-proj-abcdefghijklmnop1234 owner=taro@example.co.jp"
    )


def test_a_tool_error_is_masked_before_it_goes_back_to_the_model(fault: FaultServer) -> None:
    fault.script({"action": "ok", "tool_calls": [{"name": "leaky", "arguments": {"x": 1}}]}, "ok")
    c = client(fault)
    answer = unyo.ask_with_tools("go", [leaky], client=c, api="chat")
    record = answer.tool_calls[0]
    sent = sent_outputs(fault, "chat")[0]
    for text in (record.output, sent, record.error or "", tool_calls(store_for(c.settings))[0]["error"]):
        assert "RuntimeError: connect failed" in text
        for secret in ("sk-proj-abcdefghijklmnop1234", "taro@example.co.jp", "10.1.2.3", "hunter2"):
            assert secret not in text, text


def test_a_timed_out_tool_is_audited_as_still_running(fault: FaultServer) -> None:
    release = threading.Event()

    @unyo.tool(timeout_s=0.2)
    def stuck() -> str:
        """Never finishes in time."""
        release.wait(10)
        return "late"

    fault.script({"action": "ok", "tool_calls": [{"name": "stuck", "arguments": {}}]}, "ok")
    c = client(fault)
    try:
        answer = unyo.ask_with_tools("go", [stuck], client=c, api="responses")
        alive = [t for t in threading.enumerate() if t.name == "unyo-tool-stuck"]
        assert alive, "the abandoned tool is still running"
    finally:
        release.set()
    record = answer.tool_calls[0]
    assert record.outcome == "timeout" and "still running in the background" in (record.error or "")
    row = tool_calls(store_for(c.settings))[0]
    assert row["outcome"] == "timeout" and "still running in the background" in row["error"]
    assert json.loads(record.output)["error"]["type"] == "timeout"


def test_parallel_calls_run_concurrently(fault: FaultServer) -> None:
    barrier = threading.Barrier(3, timeout=10)  # both tools and nobody else: fails unless they overlap

    @unyo.tool
    def lookup(key: str) -> str:
        """Look a key up."""
        barrier.wait()
        return key.upper()

    fault.script(
        {
            "action": "ok",
            "tool_calls": [
                {"name": "lookup", "arguments": {"key": "a"}},
                {"name": "lookup", "arguments": {"key": "b"}},
            ],
        },
        "ok",
    )
    waiter = threading.Thread(target=barrier.wait, daemon=True)
    waiter.start()
    answer = unyo.ask_with_tools("go", [lookup], client=client(fault), api="chat")
    assert [r.output for r in answer.tool_calls] == ["A", "B"]
    assert sent_outputs(fault, "chat") == ["A", "B"]


def test_the_round_cap_forces_an_answer_then_gives_up(fault: FaultServer) -> None:
    call = {"action": "ok", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Osaka"}}]}
    fault.script(call, call, {"action": "ok", "text": "Osaka is sunny."})
    answer = unyo.ask_with_tools("go", [get_weather], client=client(fault), max_rounds=2, api="responses")
    assert answer.text == "Osaka is sunny." and answer.rounds == 2
    assert fault.requests[-1]["body"]["tool_choice"] == "none"
    fault.reset()
    fault.script(call, call)
    with pytest.raises(unyo.ToolLoopExceeded) as caught:
        unyo.ask_with_tools("go", [get_weather], client=client(fault), max_rounds=1, api="responses")
    assert len(caught.value.calls) == 2 and len(caught.value.tool_calls) == 1


def test_approval_hook_can_veto(fault: FaultServer) -> None:
    guarded = unyo.tool(needs_approval=True)(delete_everything.fn)
    seen: list[unyo.ToolRequest] = []

    def reviewer(req: unyo.ToolRequest) -> bool:
        seen.append(req)
        return req.arguments["confirm"] is False

    script = {"action": "ok", "tool_calls": [{"name": "delete_everything", "arguments": {"confirm": True}}]}
    fault.script(script, "ok")
    answer = unyo.ask_with_tools("go", [guarded], approve=reviewer, client=client(fault), api="chat")
    assert answer.tool_calls[0].outcome == "denied" and RAN == [] and seen[0].arguments == {"confirm": True}
    fault.script(script, "ok")
    answer = unyo.ask_with_tools("go", [guarded], client=client(fault), api="chat")  # no hook: fail closed
    assert answer.tool_calls[0].outcome == "denied" and RAN == []


def test_tool_calls_are_audited_masked_and_budgeted(fault: FaultServer) -> None:
    fault.script(
        {"action": "ok", "tool_calls": [{"name": "get_weather", "arguments": {"city": "mail taro@example.co.jp"}}]},
        "ok",
    )
    c = client(fault, budget_daily_usd="5")
    answer = unyo.ask_with_tools("go", [get_weather], client=c, api="responses")
    store = store_for(c.settings)
    rows = tool_calls(store)
    assert len(rows) == 1
    row = rows[0]
    assert (
        row["name"] == "get_weather" and row["outcome"] == "ok" and row["user_id"] == "alice" and row["tag"] == "tools"
    )
    assert "taro@example.co.jp" not in row["arguments"] and "[EMAIL]" in row["arguments"]
    assert row["call_id"] == answer.calls[0].call_id and row["result_chars"] > 0
    from unyo._records._ledger import ledger_for

    counters = ledger_for(c.settings).counters([c.settings.budget.period_keys()["day"]])
    spent = sum(v[0] for (scope, _), v in counters.items() if scope == "all")
    assert spent == answer.cost_usd and answer.cost_usd > 0
    with store.tx(write=False) as tx:
        assert tx.execute("SELECT COUNT(*) FROM unyo_calls WHERE user_id = 'alice'")[0][0] == 2


@pytest.mark.local_model
@pytest.mark.parametrize("api", ["responses", "chat"])
def test_tool_loop_on_the_local_model(api: str) -> None:
    """The grammar makes the small local model emit a well-formed call to an offered tool; the
    loop validates and runs it, then the model answers."""
    c = unyo.OpenAI(profile="local")
    answer = unyo.ask_with_tools(
        "What is the weather in Tokyo? Use the tool.",
        [get_weather],
        tool_choice="required",
        max_rounds=1,
        client=c,
        api=api,
        temperature=0,
        max_output_tokens=60,
    )
    assert answer.rounds == 1 and answer.tool_calls[0].name == "get_weather"
    assert answer.tool_calls[0].outcome == "ok" and RAN and isinstance(RAN[0][1]["city"], str), answer.tool_calls[0]
    assert (
        answer.text and not answer.text.lstrip().startswith("{") and len(answer.calls) == 2
    )  # an answer, not call syntax


def test_cli_logs_tools(fault: FaultServer) -> None:
    from .conftest import run_cli

    fault.script(
        {
            "action": "ok",
            "tool_calls": [{"name": "get_weather", "arguments": {"city": "Nagoya"}}, {"name": "nope", "arguments": {}}],
        },
        "ok",
    )
    unyo.ask_with_tools("go", [get_weather], client=client(fault), api="chat")
    result = run_cli("logs", "--tools", "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((r["name"], r["outcome"]) for r in rows) == [("get_weather", "ok"), ("nope", "not_allowed")]
    table = run_cli("logs", "--tools")
    assert "get_weather" in table.stdout and "not_allowed" in table.stdout
