"""Conversations: stored per user on SQLite and PostgreSQL, three strategies, isolation between
users, the CLI — against the fault server (which keeps responses and conversations like the
real API) and the local model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import unyo
from unyo.testing import FaultServer

from .conftest import FAKE_KEY, fast_settings, run_cli


def client(fault: FaultServer, **kw: object) -> unyo.OpenAI:
    return unyo.OpenAI(settings=fast_settings(fault, **kw))


def test_history_is_stored_and_resumed_by_a_new_object(fault: FaultServer, db_url: str) -> None:
    c = client(fault, db_url=db_url)
    conv = unyo.conversation("alice", "c-1", system="You are terse.", client=c)
    fault.script({"action": "ok", "text": "Hi Alice."}, {"action": "ok", "text": "Blue."})
    assert conv.say("Hello, I am Alice.").text == "Hi Alice."
    assert conv.say("My favourite colour is blue. Which is it?").text == "Blue."
    again = unyo.conversation("alice", "c-1", client=client(fault, db_url=db_url))  # as another process would
    again.say("And my name?")
    messages = fault.requests[-1]["body"]["input"]
    assert [m["content"] for m in messages] == [
        "Hello, I am Alice.",
        "Hi Alice.",
        "My favourite colour is blue. Which is it?",
        "Blue.",
        "And my name?",
    ]
    assert fault.requests[-1]["body"]["instructions"] == "You are terse."
    assert [t.role for t in again.turns()] == ["user", "assistant"] * 3
    assert fault.requests[-1]["body"].get("user") is None  # the user id is unyo's, not sent to the provider


def test_another_users_conversation_is_refused(fault: FaultServer, db_url: str) -> None:
    c = client(fault, db_url=db_url)
    unyo.conversation("alice", "secret-1", client=c).say("My card ends in 4242.")
    sent = len(fault.requests)
    for attempt in (
        lambda: unyo.conversation("bob", "secret-1", client=c),  # open or create with alice's id
        lambda: unyo.conversation("bob", "secret-1", create=False, client=c),
        lambda: unyo.conversation("bob", "no-such-id", create=False, client=c),
    ):
        with pytest.raises(unyo.ConversationDenied) as caught:
            attempt()
        assert "not available to user 'bob'" in str(caught.value) and caught.value.exit_code == 3
    from unyo._quality._conversations import delete_conversation, list_conversations
    from unyo._records._store import store_for

    store = store_for(c.settings)
    with pytest.raises(unyo.ConversationDenied):
        delete_conversation(store, "bob", "secret-1")
    assert list_conversations(store, "bob") == []
    assert [r["turns"] for r in list_conversations(store, "alice")] == [2]
    assert len(fault.requests) == sent  # nothing was sent on bob's behalf


def test_history_is_trimmed_to_the_token_budget_keeping_the_system_text(fault: FaultServer) -> None:
    conv = unyo.conversation("alice", system="Stay polite.", max_history_tokens=60, client=client(fault))
    for i in range(6):
        fault.script({"action": "ok", "text": f"answer {i} " + "words " * 8})
        conv.say(f"question {i} " + "padding " * 8)
    body = fault.requests[-1]["body"]
    contents = [m["content"] for m in body["input"]]
    assert body["instructions"] == "Stay polite."
    assert contents[-1].startswith("question 5") and not any(c.startswith("question 0") for c in contents)
    assert body["input"][0]["role"] == "user"  # never starts mid-exchange
    assert len(conv.turns()) == 12  # trimming limits what is sent, not what is kept


def test_trim_summarize_folds_old_turns_into_a_summary(fault: FaultServer) -> None:
    conv = unyo.conversation("alice", system="Be brief.", max_history_tokens=60, trim="summarize", client=client(fault))
    for i in range(4):
        fault.script({"action": "ok", "text": f"answer {i} " + "words " * 8})
        conv.say(f"question {i} " + "padding " * 8)
    summaries = [r for r in fault.requests if "Summarise the conversation" in json.dumps(r["body"])]
    assert summaries, "a summary call was made"
    last = fault.requests[-1]["body"]
    assert (
        last["instructions"].startswith("Be brief.") and "Summary of the earlier conversation" in last["instructions"]
    )
    assert conv.summary


def test_previous_response_strategy_sends_only_the_new_turn_and_budgets_the_chain(fault: FaultServer) -> None:
    conv = unyo.conversation("alice", strategy="previous_response", client=client(fault))
    first = conv.say("Remember the number 7.")
    second = conv.say("What number?")
    body = fault.requests[-1]["body"]
    assert body["previous_response_id"] == first.response_id
    assert body["input"] == [{"role": "user", "content": "What number?"}]
    billed_second = fault.billed["input_tokens"] - first.usage.input_tokens
    assert second.usage.input_tokens == billed_second
    assert second.call.input_tokens >= billed_second - 8  # the pre-send count included the chain
    assert conv.last_response_id == second.response_id


def test_conversation_strategy_uses_the_providers_conversation(fault: FaultServer) -> None:
    conv = unyo.conversation("alice", strategy="conversation", client=client(fault))
    conv.say("One.")
    conv.say("Two.")
    posts = [r for r in fault.requests if r["path"] == "/conversations"]
    assert len(posts) == 1
    ids = {r["body"]["conversation"] for r in fault.requests if r["path"] == "/responses"}
    assert ids == {conv.provider_id}
    assert len(fault.stored[conv.provider_id]) == 4  # the provider holds both exchanges
    reopened = unyo.conversation("alice", conv.id, client=client(fault))
    assert reopened.provider_id == conv.provider_id and reopened.strategy == "conversation"


def test_strategy_errors_are_clear(fault: FaultServer) -> None:
    with pytest.raises(unyo.ConfigError, match="Responses API"):
        unyo.conversation("alice", strategy="previous_response", client=client(fault)).say("hi", api="chat")
    with pytest.raises(unyo.ConfigError, match="strategy"):
        unyo.conversation("alice", strategy="magic", client=client(fault))  # type: ignore[arg-type]


def test_stream_reply_is_stored_even_when_cancelled(fault: FaultServer) -> None:
    conv = unyo.conversation("alice", client=client(fault))
    fault.script({"action": "ok", "text": "one two three four five six seven eight", "delay": 0.05})
    ts = conv.stream("count", max_chars=8)
    text = "".join(ts)
    assert ts.result.status == "cancelled"
    turns = conv.turns()
    assert [t.role for t in turns] == ["user", "assistant"] and turns[1].content == text


@pytest.mark.local_model
def test_local_model_history_and_a_clear_error_for_server_state() -> None:
    c = unyo.OpenAI(profile="local")
    conv = unyo.conversation("alice", client=c, max_history_tokens=500)
    conv.say("My name is Aiko.", max_output_tokens=20, temperature=0)
    conv.say("What is my name?", max_output_tokens=20, temperature=0)
    assert len(conv.turns()) == 4
    with pytest.raises(unyo.ConfigError, match="no server-side state"):
        unyo.conversation("alice", strategy="previous_response", client=c)
    with pytest.raises(unyo.BadRequest, match="no server-side state"):  # and the wire refuses it too
        c.responses.create(model="main", input="again", previous_response_id="resp_x", max_output_tokens=10)


def test_cli_chat_resumes_and_conversations_command(fault: FaultServer, clean_env: Path) -> None:
    env = {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url, "UNYO_MODEL": "gpt-4o-mini"}
    first = run_cli("chat", "--user", "alice", "--conversation", "c7", input="hello there\nexit\n", env=env)
    assert first.returncode == 0, first.stderr
    assert "conversation c7 (history, 0 stored turns)" in first.stderr
    second = run_cli("chat", "--user", "alice", "--conversation", "c7", input="again\n", env=env)
    assert "2 stored turns" in second.stderr
    assert [m["content"] for m in fault.requests[-1]["body"]["input"]][0] == "hello there"
    shown = run_cli("conversations", "show", "c7", "--user", "alice", "--json", env=env)
    assert [t["content"] for t in json.loads(shown.stdout)["turns"]][::2] == ["hello there", "again"]
    denied = run_cli("conversations", "show", "c7", "--user", "bob", env=env)
    assert denied.returncode == 3 and "ConversationDenied" in denied.stderr
    denied_chat = run_cli("chat", "--user", "bob", "--conversation", "c7", input="hi\n", env=env)
    assert denied_chat.returncode == 3
    listed = run_cli("conversations", "list", "--json", env=env)
    assert [(r["id"], r["user"], r["turns"]) for r in json.loads(listed.stdout)] == [("c7", "alice", 4)]
    assert json.loads(run_cli("conversations", "list", "--user", "bob", "--json", env=env).stdout) == []
    assert run_cli("conversations", "rm", "c7", "--user", "bob", "--yes", env=env).returncode == 3
    removed = run_cli("conversations", "rm", "c7", "--user", "alice", "--yes", env=env)
    assert removed.returncode == 0 and "4 turns" in removed.stdout
    assert json.loads(run_cli("conversations", "list", "--json", env=env).stdout) == []
