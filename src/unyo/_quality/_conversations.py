"""Conversations per user, stored with the ledger (SQLite / PostgreSQL), in one of three strategies:

    history             unyo sends the stored turns, trimmed to `max_history_tokens`: the system
                        text always stays; the oldest turns are dropped (`trim="drop"`) or folded
                        into a running summary made by the model (`trim="summarize"`, budgeted)
    previous_response   the provider keeps the context; each call sends only the new turn with
                        `previous_response_id` (Responses API; the budget counts the whole chain)
    conversation        the provider's Conversations API: one provider conversation id per
                        conversation, each call sends the new turn with `conversation=`

Every turn is also stored locally (for `unyo conversations show`, audits and deletion). A
conversation belongs to exactly one user: opening it as anyone else raises ConversationDenied,
with the same message whether the id exists or not.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from unyo._records._store import Store, store_for
from unyo._types._errors import ConfigError, ConversationDenied
from unyo._types._messages import Message

Strategy = Literal["history", "previous_response", "conversation"]
STRATEGIES = ("history", "previous_response", "conversation")
SUMMARY_PROMPT = (
    "Summarise the conversation below for your own memory in at most {words} words: keep names, numbers, "
    "decisions and open questions; no preamble.\n\n{text}"
)
_COLUMNS = "id, user_id, strategy, system, summary, last_response_id, provider_id, chain_tokens, created_at, updated_at"


@dataclass
class Turn:
    seq: int
    role: str
    content: str
    tokens: int
    ts: float
    response_id: str | None = None


def _count(text: str) -> int:
    from unyo._providers._tokens import bpe_counter

    return bpe_counter("o200k_base").count_text(text) + 4  # + per-message framing


class Conversation:
    """One user's conversation. `say(text)` returns an Answer (`await asay(text)` when it was opened
    with an AsyncOpenAI: `unyo.aconversation`); `stream(text)` a TextStream whose reply is stored
    when the stream ends (completed, cut or cancelled: what arrived is kept)."""

    def __init__(
        self, store: Store, row: tuple[Any, ...], client: Any, max_history_tokens: int, trim: str, model: str | None
    ) -> None:
        (
            self.id,
            self.user,
            self.strategy,
            self.system,
            summary,
            self.last_response_id,
            self.provider_id,
            self.chain_tokens,
            self.created_at,
            self.updated_at,
        ) = row
        self._summary = json.loads(summary) if summary else None  # {"upto": seq, "text": ...}
        self._store, self._client = store, client
        self.max_history_tokens, self.trim, self.model = max_history_tokens, trim, model

    # --- reading ---------------------------------------------------------------------------

    def turns(self) -> list[Turn]:
        with self._store.tx(write=False) as tx:
            rows = tx.execute(
                "SELECT seq, role, content, tokens, ts, response_id FROM unyo_turns "
                "WHERE conversation_id = ? ORDER BY seq",
                [self.id],
            )
        return [Turn(*r) for r in rows]

    @property
    def summary(self) -> str | None:
        return self._summary["text"] if self._summary else None

    def context(self) -> tuple[list[dict[str, str]], list[Turn]]:
        """(the turns to send for the history strategy, the stored turns that no longer fit)."""
        turns = [t for t in self.turns() if not self._summary or t.seq > self._summary["upto"]]
        kept: list[Turn] = []
        used = _count(self.system or "") + (_count(self.summary) if self.summary else 0)
        for turn in reversed(turns):
            if used + turn.tokens > self.max_history_tokens and kept:
                break
            kept.insert(0, turn)
            used += turn.tokens
        while kept and kept[0].role != "user":  # never start mid-exchange
            kept.pop(0)
        dropped = turns[: len(turns) - len(kept)]
        return [{"role": t.role, "content": t.content} for t in kept], dropped

    # --- talking ---------------------------------------------------------------------------

    def _instructions(self) -> str | None:
        if self.summary:
            return f"{self.system or ''}\n\nSummary of the earlier conversation: {self.summary}".strip()
        return self.system

    def _request(self, text: str, kwargs: dict[str, Any]) -> Any:
        """(api, turns, extra) for the next call: a flow (see `_flow`), as it reads the store."""
        from unyo._quality._ask import _api_for
        from unyo._quality._flow import Blocking, Method

        api = _api_for(self._client, kwargs.pop("api", None))
        extra: dict[str, Any] = {"unyo_user": self.user, "model": self.model, **kwargs}
        if self.strategy == "history":
            history, dropped = yield Blocking(self.context)
            if dropped and self.trim == "summarize":
                yield from self._summarise(dropped)
                history, _ = yield Blocking(self.context)
            return api, history + [{"role": "user", "content": text}], extra
        if api != "responses":
            raise ConfigError(Message("conversations.needs_responses_api", strategy=self.strategy, api=api))
        if self.strategy == "previous_response" and self.last_response_id:
            extra.update(previous_response_id=self.last_response_id, unyo_prior_tokens=self.chain_tokens)
        if self.strategy == "conversation":
            if not self.provider_id:
                self.provider_id = (
                    yield Method(("conversations", "create"), {"metadata": {"unyo_user": self.user[:512]}})
                ).id
                yield Blocking(self._update, provider_id=self.provider_id)
            extra.update(conversation=self.provider_id, unyo_prior_tokens=self.chain_tokens)
        return api, [{"role": "user", "content": text}], extra

    def _say(self, text: str, kwargs: dict[str, Any]) -> Any:
        from unyo._quality._ask import ask_flow
        from unyo._quality._flow import Blocking

        api, turns, extra = yield from self._request(text, kwargs)
        answer = yield from ask_flow(self._client, turns, api=api, system=self._instructions(), **extra)
        yield Blocking(self._append, text, answer.text, answer.call)
        return answer

    def say(self, text: str, **kwargs: Any) -> Any:
        """Send `text` in this conversation; the turn and the reply are stored. kwargs as for unyo.ask."""
        from unyo._quality._flow import run

        return run(self._say(text, kwargs), self._client)

    async def asay(self, text: str, **kwargs: Any) -> Any:
        """The async twin of `say`, for a conversation opened with an AsyncOpenAI (unyo.aconversation)."""
        from unyo._quality._flow import arun

        return await arun(self._say(text, kwargs), self._client)

    def stream(self, text: str, **kwargs: Any) -> Any:
        """Stream the reply (a TextStream: stop it any way a TextStream stops); stored at the end."""
        from unyo._quality._ask import stream
        from unyo._quality._flow import run

        api, turns, extra = run(self._request(text, kwargs), self._client)
        return stream(
            turns,
            client=self._client,
            api=api,
            system=self._instructions(),
            on_close=lambda ts: self._append(text, ts.text, ts.call),
            **extra,
        )

    # --- writing ---------------------------------------------------------------------------

    def _append(self, user_text: str, reply: str, info: Any) -> None:
        now = time.time()
        usage = info.usage
        chain = (
            (usage.input_tokens + usage.output_tokens)
            if usage
            else self.chain_tokens + _count(user_text) + _count(reply)
        )
        with self._store.tx() as tx:
            locked = tx.execute(
                f"SELECT user_id FROM unyo_conversations WHERE id = ?{self._store.lock_rows()}", [self.id]
            )
            if not locked or locked[0][0] != self.user:
                raise ConversationDenied(Message("conversations.denied", id=self.id, user=self.user))
            seq = int(
                tx.execute("SELECT COALESCE(MAX(seq), 0) FROM unyo_turns WHERE conversation_id = ?", [self.id])[0][0]
            )
            tx.execute(
                "INSERT INTO unyo_turns (conversation_id, seq, role, content, tokens, ts, response_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [self.id, seq + 1, "user", user_text, _count(user_text), now, None],
            )
            if reply or info.status == "completed":
                tx.execute(
                    "INSERT INTO unyo_turns (conversation_id, seq, role, content, tokens, ts, response_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [self.id, seq + 2, "assistant", reply, _count(reply), now, info.response_id],
                )
            if info.response_id and info.status in ("completed", "incomplete"):
                self.last_response_id = info.response_id
            self.chain_tokens = chain
            tx.execute(
                "UPDATE unyo_conversations SET last_response_id = ?, chain_tokens = ?, updated_at = ? WHERE id = ?",
                [self.last_response_id, self.chain_tokens, now, self.id],
            )

    def _update(self, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._store.tx() as tx:
            tx.execute(
                f"UPDATE unyo_conversations SET {sets}, updated_at = ? WHERE id = ? AND user_id = ?",
                [*fields.values(), time.time(), self.id, self.user],
            )

    def _summarise(self, dropped: list[Turn]) -> Any:
        from unyo._quality._ask import ask_flow
        from unyo._quality._flow import Blocking

        text = "\n".join(f"{t.role}: {t.content}" for t in dropped)
        if self.summary:
            text = f"(earlier summary) {self.summary}\n{text}"
        words = max(30, self.max_history_tokens // 8)
        answer = yield from ask_flow(
            self._client,
            SUMMARY_PROMPT.format(words=words, text=text),
            model=self.model,
            max_output_tokens=words * 2,
            unyo_user=self.user,
            unyo_tag="conversation-summary",
        )
        self._summary = {"upto": dropped[-1].seq, "text": answer.text.strip()}
        yield Blocking(self._update, summary=json.dumps(self._summary, ensure_ascii=False))


def owned_row(store: Store, conversation_id: str, user: str) -> tuple[Any, ...] | None:
    with store.tx(write=False) as tx:
        rows = tx.execute(f"SELECT {_COLUMNS} FROM unyo_conversations WHERE id = ?", [conversation_id])
    if rows and rows[0][1] != user:
        raise ConversationDenied(Message("conversations.denied", id=conversation_id, user=user))
    return rows[0] if rows else None


def _check(user: str, strategy: str, trim: str) -> None:
    if not user or not isinstance(user, str):
        raise ConfigError(Message("conversations.needs_user"))
    if strategy not in STRATEGIES:
        raise ConfigError(Message("conversations.bad_strategy", strategies=STRATEGIES, got=strategy))
    if trim not in ("drop", "summarize"):
        raise ConfigError(Message("conversations.bad_trim"))


def _open(
    client: Any, user: str, conversation_id: str | None, strategy: str, system: str | None, create: bool
) -> tuple[Store, tuple[Any, ...]]:
    """(the store, the conversation's row), created if missing and `create`: blocking (storage)."""
    if client.settings.db_url == "off":
        raise ConfigError(Message("conversations.needs_ledger"))
    if strategy != "history" and not client.settings.profile.server_state:
        raise ConfigError(
            Message("conversations.no_server_state", profile=client.settings.profile.name, strategy=strategy)
        )
    store = store_for(client.settings)
    conversation_id = conversation_id or f"conv-{uuid.uuid4().hex[:16]}"
    row = owned_row(store, conversation_id, user)
    if row is None:
        if not create:
            raise ConversationDenied(Message("conversations.denied", id=conversation_id, user=user))
        now = time.time()
        row = (conversation_id, user, strategy, system, None, None, None, 0, now, now)
        with store.tx() as tx:
            if tx.execute("SELECT user_id FROM unyo_conversations WHERE id = ?", [conversation_id]):
                raise ConversationDenied(Message("conversations.denied", id=conversation_id, user=user))
            tx.execute(f"INSERT INTO unyo_conversations ({_COLUMNS}) VALUES ({', '.join('?' * 10)})", list(row))
    return store, row


def conversation(
    user: str,
    conversation_id: str | None = None,
    *,
    strategy: Strategy = "history",
    system: str | None = None,
    create: bool = True,
    max_history_tokens: int = 2000,
    trim: Literal["drop", "summarize"] = "drop",
    model: str | None = None,
    client: Any = None,
    profile: str | None = None,
) -> Conversation:
    """Open `user`'s conversation `conversation_id` (created if missing and `create`), or start a
    new one with a random id. The strategy and system text are fixed when it is created."""
    from unyo._quality._ask import default_client

    _check(user, strategy, trim)
    client = client or default_client(profile)
    store, row = _open(client, user, conversation_id, strategy, system, create)
    return Conversation(store, row, client, max_history_tokens, trim, model)


async def aconversation(
    user: str,
    conversation_id: str | None = None,
    *,
    strategy: Strategy = "history",
    system: str | None = None,
    create: bool = True,
    max_history_tokens: int = 2000,
    trim: Literal["drop", "summarize"] = "drop",
    model: str | None = None,
    client: Any = None,
    profile: str | None = None,
) -> Conversation:
    """The async twin of `conversation`: opened on an AsyncOpenAI (the store read in the storage
    pool); talk in it with `await conv.asay(...)`."""
    from unyo._core._offload import offload
    from unyo._quality._flow import default_async_client

    _check(user, strategy, trim)
    client = client or default_async_client(profile)
    store, row = await offload(_open, client, user, conversation_id, strategy, system, create)
    return Conversation(store, row, client, max_history_tokens, trim, model)


def list_conversations(store: Store, user: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    where, args = ("WHERE c.user_id = ?", [user]) if user else ("", [])
    with store.tx(write=False) as tx:
        rows = tx.execute(
            f"SELECT c.id, c.user_id, c.strategy, c.created_at, c.updated_at, COUNT(t.seq) FROM unyo_conversations c "
            f"LEFT JOIN unyo_turns t ON t.conversation_id = c.id {where} "
            f"GROUP BY c.id, c.user_id, c.strategy, c.created_at, c.updated_at ORDER BY c.updated_at DESC LIMIT ?",
            [*args, limit],
        )
    return [
        {"id": r[0], "user": r[1], "strategy": r[2], "created_at": r[3], "updated_at": r[4], "turns": int(r[5])}
        for r in rows
    ]


def delete_conversation(store: Store, user: str, conversation_id: str, client: Any = None) -> int:
    """Delete a conversation and its turns (and, given a client, the provider's copy). Returns
    the number of turns deleted."""
    row = owned_row(store, conversation_id, user)
    if row is None:
        raise ConversationDenied(Message("conversations.denied", id=conversation_id, user=user))
    provider_id = row[6]
    with store.tx() as tx:
        count = tx.execute("SELECT COUNT(*) FROM unyo_turns WHERE conversation_id = ?", [conversation_id])[0][0]
        tx.execute("DELETE FROM unyo_turns WHERE conversation_id = ?", [conversation_id])
        tx.execute("DELETE FROM unyo_conversations WHERE id = ? AND user_id = ?", [conversation_id, user])
    if client is not None and provider_id:
        client.conversations.delete(provider_id)
    return int(count)
