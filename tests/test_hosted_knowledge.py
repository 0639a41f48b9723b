"""Hosted tools against the fault server: web_search / file_search priced per call and budgeted
(reserved before sending, settled from the response's tool call items), vector stores recorded
at $0 per request, hosted knowledge bases synced from local files, `ask --web` with URL citations."""

from __future__ import annotations

import json
import os
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import unyo
from unyo.testing import FaultServer

from .conftest import FAKE_KEY, fast_settings, run_cli


def audit_rows() -> list[dict[str, Any]]:
    with sqlite3.connect(Path(os.environ["UNYO_HOME"]) / "unyo.db") as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT api, status, model, error, cost, worst_case, detail FROM unyo_calls ORDER BY ts")
        return [{**dict(r), "detail": json.loads(r["detail"] or "{}")} for r in rows]


def generations(fault: FaultServer) -> int:
    return sum(1 for r in fault.requests if r["path"] == "/responses")


def token_cost(model: str, usage: Any) -> Decimal:
    from unyo._providers._catalog import model_info

    return model_info(model).price.cost(unyo.Usage.from_api(usage))  # type: ignore[union-attr]


# --- pricing and budgets (the library) ---------------------------------------------------------------


def test_web_search_is_priced_per_call_reserved_before_and_settled_after(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    r = client.responses.create(input="How do rate limits and 429 work?", tools=[{"type": "web_search"}])
    info = unyo.call_info(r)
    sent = fault.requests[-1]["body"]
    assert sent["max_tool_calls"] == 4  # always sent: the worst case has a bound
    assert info.tool_calls == {"web_search_call": 1} and info.tool_cost_usd == Decimal("0.01")
    assert info.cost_usd == token_cost("gpt-4o-mini", r.usage) + Decimal("0.01")
    plain = client.responses.create(input="How do rate limits and 429 work?")
    assert r.usage.input_tokens > plain.usage.input_tokens + 10  # the search results were billed as input
    # worst case: (counted input + margin + 4 x 8000 result tokens) at the input price + cap + 4 x $0.01
    assert (
        info.worst_case_usd is not None
        and info.worst_case_usd > Decimal("0.04") + Decimal(32000) * Decimal("0.15") / 10**6
    )
    row = audit_rows()[0]
    assert Decimal(row["cost"]) == info.cost_usd and Decimal(row["worst_case"]) == info.worst_case_usd
    assert row["detail"]["tool_calls"] == {"web_search_call": 1} and row["detail"]["tool_cost_usd"] == "0.01"
    assert Decimal(info.to_dict()["tool_cost_usd"]) == Decimal("0.01")


def test_a_budget_that_cannot_cover_the_tool_calls_is_refused_before_sending(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, max_request_usd="0.03"))  # tokens fit, 4 searches do not
    assert unyo.call_info(client.responses.create(input="hi", max_output_tokens=50)).status == "completed"
    with pytest.raises(unyo.BudgetExceeded, match="up to 4 web_search calls"):
        client.responses.create(input="hi", max_output_tokens=50, tools=[{"type": "web_search"}])
    assert generations(fault) == 1
    r = client.responses.create(input="hi", max_output_tokens=50, tools=[{"type": "web_search"}], max_tool_calls=1)
    assert unyo.call_info(r).tool_calls == {"web_search_call": 1} and generations(fault) == 2
    assert audit_rows()[1]["error"] == "BudgetExceeded"


def test_tool_prices_follow_the_table_by_tool_and_model(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5", model="gpt-4.1-mini"))
    fault.script({"action": "ok", "searches": 3})
    r = client.responses.create(input="Batch API price?", tools=[{"type": "web_search_preview"}], max_tool_calls=2)
    info = unyo.call_info(r)
    assert info.tool_calls == {"web_search_call": 2}  # the server honours max_tool_calls
    assert info.tool_cost_usd == Decimal("0.050")  # web_search_preview on gpt-4.1*: $25 per 1k calls
    store = client.vector_stores.create(name="kb")
    upload = client.files.create(file=("faq.txt", b"Refunds are paid within 14 days."), purpose="assistants")
    client.vector_stores.files.create(vector_store_id=store.id, file_id=upload.id)
    r = client.responses.create(input="refunds days?", tools=[{"type": "file_search", "vector_store_ids": [store.id]}])
    assert unyo.call_info(r).tool_cost_usd == Decimal("0.0025")  # file_search: $2.50 per 1k calls


def test_vector_store_writes_are_recorded_at_no_request_cost_under_a_budget(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    store = client.vector_stores.create(name="kb")
    upload = client.files.create(file=("a.txt", b"text"), purpose="assistants")
    attached = client.vector_stores.files.create(vector_store_id=store.id, file_id=upload.id)
    assert attached.status == "in_progress" and unyo.call_info(attached).cost_usd == 0
    assert client.vector_stores.files.retrieve(upload.id, vector_store_id=store.id).status == "completed"
    rows = [(r["api"], r["status"], r["cost"]) for r in audit_rows()]
    assert rows == [("vector_stores.create", "completed", "0"), ("vector_stores.files.create", "completed", "0")]
    with pytest.raises(unyo.UnpricedModel):  # searching a store directly is not priced: still refused
        client.vector_stores.search(store.id, query="x")


def test_recorded_methods_still_exist_in_the_sdk() -> None:
    """A renamed SDK method would make a RECORDED entry dead (and the new name unpriced)."""
    import openai

    from unyo._client._surface import RECORDED, classify

    sdk = openai.OpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")
    for path in RECORDED:
        target: Any = sdk
        for name in path:
            target = getattr(target, name)
        assert callable(target) and classify(path) == "recorded", path


def test_a_profile_without_hosted_tools_gets_no_prices_and_no_tool_cap(fault: FaultServer) -> None:
    xai = unyo.load_settings(profile="xai", api_key=FAKE_KEY, base_url=fault.url, model="gpt-4o-mini",
                             budget_daily_usd="5")  # fmt: skip
    with pytest.raises(unyo.UnpricedModel, match="hosted tools web_search"):
        unyo.OpenAI(settings=xai).responses.create(input="hi", tools=[{"type": "web_search"}])
    free = unyo.OpenAI(settings=unyo.load_settings(profile="xai", api_key=FAKE_KEY, base_url=fault.url))
    r = free.responses.create(input="hi", tools=[{"type": "web_search"}])
    assert "max_tool_calls" not in fault.requests[-1]["body"] and unyo.call_info(r).cost_usd is None
    from unyo._providers._profiles import get_profile, require

    with pytest.raises(unyo.ConfigError, match="profile 'xai' has none"):
        require(get_profile("xai"), "hosted_tools", "ask --web")


def test_streamed_tool_calls_are_counted_and_settled(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    with client.responses.stream(model="gpt-4o-mini", input="rate limits?", tools=[{"type": "web_search"}]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    searching = [k.rsplit(".", 1)[1] for k in kinds if k.startswith("response.web_search_call")]
    assert searching == ["in_progress", "searching", "completed"]
    assert "response.output_text.annotation.added" in kinds
    assert final.output[-1].content[0].annotations[0].type == "url_citation"
    row = audit_rows()[-1]
    assert row["detail"]["tool_calls"] == {"web_search_call": 1}
    assert Decimal(row["cost"]) == token_cost("gpt-4o-mini", final.usage) + Decimal("0.01")


# --- hosted knowledge bases and web search (the CLI, as a user runs it) --------------------------------


def env_for(fault: FaultServer, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url, "UNYO_MODEL": "gpt-4o-mini",
            "UNYO_BACKOFF_BASE_S": "0.01", **extra}  # fmt: skip


def seen(fault: FaultServer, method: str, prefix: str) -> list[str]:
    return [r["path"] for r in fault.requests if r["method"] == method and r["path"].startswith(prefix)]


@pytest.fixture
def docs(clean_env: Path) -> Path:
    folder = clean_env / "docs"
    folder.mkdir()
    (folder / "faq.txt").write_text(
        "Refunds are paid within 14 days of the request.\n\nShipping takes 3 business days.\n"
    )
    (folder / "travel.md").write_text("# Travel\n\nHotel costs are capped at 12000 yen per night.\n")
    return folder


def stored_files(fault: FaultServer) -> list[str]:
    (store,) = fault.vector_stores.attached.values()
    return sorted(fault.files[f]["filename"] for f in store)


def test_cli_hosted_kb_add_sync_and_rm_round_trip(fault: FaultServer, docs: Path) -> None:
    env = env_for(fault, UNYO_BUDGET_DAILY_USD="5")
    added = run_cli("kb", "add", str(docs), "--kb", "help", "--via", "openai", env=env)
    assert added.returncode == 0, added.stderr
    assert "indexed 2/2 completed" in added.stderr and "2 added" in added.stdout
    assert len(seen(fault, "POST", "/files")) == 2 and len(seen(fault, "POST", "/vector_stores")) == 3  # store + 2
    assert stored_files(fault) == ["faq.txt", "travel.md"]
    uploads = [r["body"] for r in fault.requests if r["path"] == "/files"]
    assert {u["purpose"] for u in uploads} == {"assistants"}
    (listed,) = json.loads(run_cli("kb", "ls", "--json", env=env).stdout)
    assert (
        listed["name"] == "help" and listed["where"].startswith("openai vector store vs_") and listed["documents"] == 2
    )
    again = run_cli("kb", "add", str(docs), "--kb", "help", "--json", env=env)  # sync: nothing changed
    assert again.returncode == 0, again.stderr
    assert {r["status"] for r in json.loads(again.stdout)["results"]} == {"unchanged"}
    assert len(seen(fault, "POST", "/files")) == 2
    (docs / "faq.txt").write_text("Refunds are paid within 30 days of the request.\n")  # changed: replaced
    old_id = next(f for f, o in fault.files.items() if o["filename"] == "faq.txt")
    (docs / "travel.md").unlink()  # gone from disk: removed from the store
    synced = run_cli("kb", "add", str(docs), "--kb", "help", "--json", env=env)
    statuses = {Path(r["source"]).name: r["status"] for r in json.loads(synced.stdout)["results"]}
    assert statuses == {"faq.txt": "updated", "travel.md": "removed"}, synced.stderr
    assert len(seen(fault, "POST", "/files")) == 3 and old_id not in fault.files
    assert stored_files(fault) == ["faq.txt"]
    assert run_cli("kb", "rm", str(docs / "faq.txt"), "--kb", "help", env=env).returncode == 0
    assert stored_files(fault) == []
    gone = run_cli("kb", "rm", "--kb", "help", env=env)
    assert gone.returncode == 0 and fault.vector_stores.stores == {} and "vector store" in gone.stdout
    assert json.loads(run_cli("kb", "ls", "--json", env=env).stdout) == []
    rows = {r["api"] for r in audit_rows()}
    assert {"vector_stores.create", "vector_stores.files.create"} <= rows  # audited, at $0, under the budget


def test_cli_ask_a_hosted_kb_maps_file_citations_and_refuses_without_evidence(fault: FaultServer, docs: Path) -> None:
    env = env_for(fault)
    assert run_cli("kb", "add", str(docs), "--kb", "help", "--via", "openai", env=env).returncode == 0
    asked = run_cli("ask", "--kb", "help", "How many days until refunds are paid?", "--json", env=env)
    assert asked.returncode == 0, asked.stderr
    record = json.loads(asked.stdout)
    (tool,) = fault.requests[-1]["body"]["tools"]
    assert tool["type"] == "file_search" and tool["vector_store_ids"] == [record["vector_store_id"]]
    assert record["refused"] is False and "[1]" in record["text"] and "14 days" in record["text"]
    (citation,) = record["citations"]
    assert citation["n"] == 1 and citation["source"] == str((docs / "faq.txt").resolve())
    assert "14 days" in citation["snippet"] and record["passages"][0]["source"] == citation["source"]
    assert record["tool_calls"] == {"file_search_call": 1} and Decimal(record["tool_cost_usd"]) == Decimal("0.0025")
    plain = run_cli("ask", "--kb", "help", "How many days until refunds are paid?", env=env)
    assert f"[1] {citation['source']}" in plain.stdout and "「Refunds are paid within 14 days" in plain.stdout
    assert "tool calls: 1 file_search" in plain.stderr
    unknown = json.loads(run_cli("ask", "--kb", "help", "What is the capital of Peru?", "--json", env=env).stdout)
    assert unknown["refused"] is True and unknown["text"] == "The documents don't say" and unknown["citations"] == []
    assert unknown["refusal_reason"] == "retrieval"


def test_cli_ask_web_cites_urls_and_prices_the_tool_calls(fault: FaultServer) -> None:
    env = env_for(fault, UNYO_BUDGET_DAILY_USD="5")
    asked = run_cli("ask", "--web", "How do rate limits and 429 retries work?", "--max-tool-calls", "2", "--json",
                    env=env)  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    record = json.loads(asked.stdout)
    sent = fault.requests[-1]["body"]
    assert sent["tools"] == [{"type": "web_search"}] and sent["max_tool_calls"] == 2
    (citation,) = record["citations"]
    assert citation["source"] == "https://example.com/rate-limits" and citation["heading"] == "Rate limits explained"
    assert citation["snippet"] in record["text"] and record["text"].endswith("[1]")
    assert record["tool_calls"] == {"web_search_call": 1} and Decimal(record["tool_cost_usd"]) == Decimal("0.01")
    (row,) = audit_rows()
    assert Decimal(row["cost"]) == Decimal(record["cost_usd"]) > Decimal("0.01")  # tokens + the search
    assert row["detail"]["tool_calls"] == {"web_search_call": 1}


def test_cli_ask_web_over_budget_is_refused_before_sending(fault: FaultServer) -> None:
    env = env_for(fault, UNYO_MAX_REQUEST_USD="0.02")
    refused = run_cli("ask", "--web", "rate limits?", env=env)
    assert refused.returncode == 4 and "up to 4 web_search calls" in refused.stderr
    assert generations(fault) == 0
    fits = run_cli("ask", "--web", "rate limits?", "--max-tool-calls", "1", env=env)
    assert fits.returncode == 0, fits.stderr
    assert generations(fault) == 1


def test_cli_profiles_without_hosted_tools_get_a_clear_error(fault: FaultServer, docs: Path) -> None:
    web = run_cli("ask", "--web", "rate limits?", "--profile", "local")
    assert web.returncode == 3 and "profile 'local' has none" in web.stderr and "hosted_tools" in web.stderr
    kb = run_cli("kb", "add", str(docs), "--kb", "help", "--via", "openai", "--profile", "local")
    assert kb.returncode == 3 and "profile 'local' has none" in kb.stderr
    assert fault.requests == [] and json.loads(run_cli("kb", "ls", "--json").stdout) == []
    both = run_cli("ask", "--web", "--kb", "x", "hi", env=env_for(fault))
    assert both.returncode == 2 and "choose one" in both.stderr


def test_estimate_adds_tool_call_and_storage_lines() -> None:
    base = ("estimate", "-m", "gpt-4o-mini", "--requests-per-day", "1000", "--input-tokens", "800",
            "--output-tokens", "200", "--retry-rate", "0")  # fmt: skip
    plain = json.loads(run_cli(*base, "--json").stdout)
    tools = ("--tool-calls", "web_search=1", "--tool-calls", "file_search=2", "--storage-gb", "3")
    result = run_cli(*base, *tools, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    normal_tools = 30000 * (Decimal("0.01") + 2 * Decimal("0.0025"))  # calls per request x price per call
    per_million = Decimal("0.15") / 10**6  # worst: 4 calls each, and the result tokens they may add as input
    worst_tools = 30000 * 4 * (Decimal("0.01") + 8000 * per_million + Decimal("0.0025") + 16000 * per_million)
    storage = (3 - 1) * Decimal("0.10") * 30  # the first GB is free
    assert Decimal(data["monthly_tools_normal"]) == normal_tools and Decimal(data["monthly_storage"]) == storage
    assert Decimal(data["monthly_tools_worst"]) == worst_tools
    assert Decimal(data["monthly_normal"]) == Decimal(plain["monthly_normal"]) + normal_tools + storage
    assert Decimal(data["monthly_worst"]) == Decimal(plain["monthly_worst"]) + worst_tools + storage
    text = run_cli(*base, "--tool-calls", "web_search=1", "--storage-gb", "0.5")
    assert "web_search = 1 calls/request × $0.01 per call" in text.stdout
    assert "vector-store storage = max(0, 0.5 GB − 1 free)" in text.stdout and "= $0" in text.stdout
    for bad in (("--tool-calls", "image_generation=1"), ("--tool-calls", "web_search"), ("--storage-gb", "-1")):
        refused = run_cli(*base, *bad)
        assert refused.returncode == 2 and "UsageError" in refused.stderr, bad


def test_cli_hosted_kb_add_reports_what_it_cannot_upload_and_adds_the_rest(fault: FaultServer, docs: Path) -> None:
    (docs / "empty.txt").write_text("")
    result = run_cli("kb", "add", str(docs / "faq.txt"), str(docs / "empty.txt"), "https://example.com/page",
                     "--kb", "help", "--via", "openai", env=env_for(fault))  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "2 of 3 sources not added" in result.stderr and "empty.txt: an empty file" in result.stderr
    assert "add URLs to a local one" in result.stderr
    assert stored_files(fault) == ["faq.txt"] and len(seen(fault, "POST", "/files")) == 1
    local = run_cli("kb", "add", str(docs / "travel.md"), "--kb", "team")  # a local base of another name
    assert local.returncode == 0, local.stderr
    clash = run_cli("kb", "add", str(docs / "faq.txt"), "--kb", "team", "--via", "openai", env=env_for(fault))
    assert clash.returncode == 2 and "is a local one" in clash.stderr
    search = run_cli("kb", "search", "refunds", "--kb", "help")
    assert search.returncode == 2 and "hosted knowledge base" in search.stderr


def test_unyo_answer_routes_a_hosted_base_to_file_search(fault: FaultServer, docs: Path) -> None:
    from unyo._knowledge._hosted import add_hosted

    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    report = add_hosted([str(docs)], "help", client, on_progress=lambda line: None)
    assert [r.status for r in report.results] == ["added", "added"]
    result = unyo.answer("How many days until refunds are paid?", kb="help", client=client)
    assert result.refused is False and result.citations[0].source == str((docs / "faq.txt").resolve())
    assert result.cost_usd == result.calls[-1].cost_usd and result.cost_usd > Decimal("0.0025")  # tokens + the call
    assert result.calls[-1].tool_calls == {"file_search_call": 1}
    assert fault.requests[-1]["body"]["tools"][0]["type"] == "file_search"


# --- review fixes: every way of asking for a search is reserved and settled ------------------------


def test_sdk_tool_objects_are_priced_capped_and_settled_like_dicts(fault: FaultServer) -> None:
    from openai.types.responses import WebSearchToolParam
    from openai.types.responses.web_search_tool import WebSearchTool

    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    for tools in ([WebSearchTool(type="web_search")], [WebSearchToolParam(type="web_search")]):
        r = client.responses.create(input="How do rate limits work?", tools=tools)  # type: ignore[arg-type]
        info = unyo.call_info(r)
        assert fault.requests[-1]["body"]["max_tool_calls"] == 4  # the bound is sent for an SDK object too
        assert info.tool_calls == {"web_search_call": 1} and info.tool_cost_usd == Decimal("0.01")
        assert info.cost_usd == token_cost("gpt-4o-mini", r.usage) + Decimal("0.01")  # tokens are not dropped
    over = unyo.OpenAI(settings=fast_settings(fault, max_request_usd="0.03"))
    with pytest.raises(unyo.BudgetExceeded, match="up to 4 web_search calls"):
        over.responses.create(input="hi", max_output_tokens=50, tools=[WebSearchTool(type="web_search")])


def test_a_call_the_request_did_not_name_is_still_priced_by_its_item() -> None:
    from unyo._providers._hosted_tools import cost

    assert cost({"web_search_call": 2}, (), "gpt-4o-mini") == Decimal("0.02")
    assert cost({"file_search_call": 1}, [], "gpt-4o-mini") == Decimal("0.0025")


def test_chat_search_models_reserve_and_settle_one_search(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    r = client.chat.completions.create(
        model="gpt-4o-search-preview", messages=[{"role": "user", "content": "news?"}], max_tokens=30
    )
    info = unyo.call_info(r)
    assert info.tool_calls == {"web_search_call": 1} and info.tool_cost_usd == Decimal("0.025")  # $25 per 1k
    assert info.worst_case_usd is not None and info.worst_case_usd >= Decimal("0.025")
    assert audit_rows()[-1]["detail"]["tool_cost_usd"] == "0.025"
    r = client.chat.completions.create(
        messages=[{"role": "user", "content": "news?"}], max_tokens=30, web_search_options={}
    )
    assert unyo.call_info(r).tool_cost_usd == Decimal("0.025")  # gpt-4o-mini with web_search_options
    tight = unyo.OpenAI(settings=fast_settings(fault, max_request_usd="0.02"))
    sent = len(fault.requests)
    with pytest.raises(unyo.BudgetExceeded):
        tight.chat.completions.create(
            model="gpt-4o-search-preview", messages=[{"role": "user", "content": "news?"}], max_tokens=30
        )
    assert len(fault.requests) == sent  # refused before sending


def test_a_base_whose_files_all_vanished_keeps_them_in_the_store(fault: FaultServer, docs: Path) -> None:
    """An unmounted share or a moved folder must not empty the vector store: only `kb rm` does."""
    import shutil

    env = env_for(fault, UNYO_BUDGET_DAILY_USD="5")
    assert run_cli("kb", "add", str(docs / "faq.txt"), str(docs / "travel.md"), "--kb", "h", "--via", "openai",
                   env=env).returncode == 0  # fmt: skip
    moved = docs.parent / "moved"
    shutil.move(str(docs), str(moved))
    moved.joinpath("other.txt").write_text("Something else entirely.\n")
    synced = run_cli("kb", "add", str(moved / "other.txt"), "--kb", "h", env=env)
    assert synced.returncode == 0, synced.stderr
    assert "none of the 2 files of this base is on disk now" in synced.stderr
    assert stored_files(fault) == ["faq.txt", "other.txt", "travel.md"]


def test_two_concurrent_adds_to_one_base_keep_every_file(fault: FaultServer, docs: Path) -> None:
    """The registry has one writer at a time: neither run's uploads are lost (and billed unknown)."""
    from concurrent.futures import ThreadPoolExecutor

    env = env_for(fault, UNYO_BUDGET_DAILY_USD="5")
    groups = []
    for g in ("a", "b"):
        paths = []
        for i in range(3):
            path = docs / f"{g}{i}.txt"
            path.write_text(f"Document {g}{i}: the office opens at {i + 8} o'clock.\n")
            paths.append(str(path))
        groups.append(paths)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda paths: run_cli("kb", "add", *paths, "--kb", "team", "--via", "openai", env=env),
                             groups))  # fmt: skip
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert len(fault.vector_stores.stores) == 1  # one store, not one per racing run
    assert stored_files(fault) == sorted(Path(p).name for paths in groups for p in paths)
    registry = json.loads((Path(os.environ["UNYO_HOME"]) / "knowledge-hosted.json").read_text())
    assert sorted(Path(s).name for s in registry["team"]["files"]) == stored_files(fault)


def test_file_search_with_more_results_reserves_their_chunks() -> None:
    from unyo._providers._hosted_tools import ToolQuote

    default = ToolQuote.of({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "gpt-4o-mini")
    more = ToolQuote.of(
        {"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"], "max_num_results": 50}], "max_tool_calls": 2},
        "gpt-4o-mini",
    )
    assert default is not None and more is not None
    assert default.content_tokens == 4 * 16000  # 20 results of 800 tokens, 4 calls
    assert more.content_tokens == 2 * 50 * 800
