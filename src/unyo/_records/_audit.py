"""The audit log: one record per call — failures, retries, cancels and cache hits included.

Content policy (`audit_content`): `none` keeps no prompt or output text, `masked` (default) keeps
them after `_mask.mask` (personal data and secrets replaced), `full` keeps them as sent (keys are
still removed: nothing unyo writes ever holds a key). Records live in the same store as the
ledger, written in the same transaction as the call's settlement; `prune` enforces retention.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from unyo._records._store import Store
from unyo._records._store._base import money
from unyo._types._money_text import money_text
from unyo._types._redact import redact

if TYPE_CHECKING:
    from unyo._core._call import Call
    from unyo._core._limits import BudgetConfig

POLICIES = ("none", "masked", "full")
COLUMNS = (
    "id", "ts", "day", "month", "api", "profile", "host", "model", "role", "user_id", "tag", "status", "error",
    "attempts", "latency_s", "ttft_s", "input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens",
    "usage_reported", "cost", "worst_case", "cache_hit", "budget", "request_id", "response_id", "stream",
    "content_policy", "prompt", "output", "detail",
)  # fmt: skip


def prompt_text(api: str, params: dict[str, Any]) -> str:
    """The human-readable part of a request: instructions/system, then the input or messages."""
    parts: list[str] = []
    if params.get("instructions"):
        parts.append(f"[instructions] {params['instructions']}")
    media = params.get("prompt") if api in ("images", "transcriptions", "translations") else None
    if api == "speech":
        media = params.get("input")
    if isinstance(media, str):  # Images / Audio: the text sent (never the file)
        parts.append(media)
    raw = params.get("input") if api in ("responses", "embeddings") else params.get("messages")
    if isinstance(raw, str):
        parts.append(raw)
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict):
                content = item.get("content")
                if isinstance(content, list):
                    content = " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
                parts.append(
                    f"[{item.get('role', item.get('type', '?'))}] "
                    f"{content if content is not None else json.dumps(item, ensure_ascii=False)}"
                )
            else:
                parts.append(str(item))
    return "\n".join(parts)


def _content(policy: str, text: str | None) -> str | None:
    if policy == "none" or text is None:
        return None
    from unyo._records._mask import mask  # lazily: `unyo logs` and reports never mask

    return mask(text) if policy == "masked" else redact(text)


def record_for(call: Call, periods: dict[str, str]) -> dict[str, Any]:
    info = call.info
    usage = info.usage
    policy = call.settings.audit_content
    detail = {
        "attempts": [{**asdict(a), "cost_usd": money_text(a.cost_usd)} for a in info.attempt_log],
        "max_output_tokens": info.max_output_tokens,
        "input_tokens_counted": info.input_tokens,
        "input_tokens_exact": info.input_tokens_exact,
        "input_tokens_bound": info.input_tokens_bound,
        "limiter_wait_s": info.limiter_wait_s,
        "budget_warning": info.budget_warning,
        "error_message": _content("masked", info.error_message),
    }
    if info.tool_calls or info.tool_cost_usd is not None:  # hosted tools: calls made, their cost (in `cost`)
        detail["tool_calls"] = dict(info.tool_calls)
        detail["tool_cost_usd"] = None if info.tool_cost_usd is None else str(info.tool_cost_usd)
    return {
        "id": info.call_id,
        "ts": info.started_at,
        "day": periods["day"].split(":", 1)[1],
        "month": periods["month"].split(":", 1)[1],
        "api": info.api,
        "profile": info.profile,
        "host": info.host,
        "model": info.model or f"({info.api})",
        "role": info.role,
        "user_id": info.user,
        "tag": info.tag,
        "status": info.status,
        "error": info.error,
        "attempts": info.attempts,
        "latency_s": info.latency_s,
        "ttft_s": info.ttft_s,
        "input_tokens": usage.input_tokens if usage else 0,
        "cached_tokens": usage.cached_input_tokens if usage else 0,
        "output_tokens": usage.output_tokens if usage else 0,
        "reasoning_tokens": usage.reasoning_tokens if usage else 0,
        "usage_reported": bool(usage.reported) if usage else True,
        "cost": info.cost_usd,
        "worst_case": info.worst_case_usd,
        "cache_hit": info.cache_hit,
        "budget": info.budget,
        "request_id": info.request_id,
        "response_id": info.response_id,
        "stream": info.stream,
        "content_policy": policy,
        "prompt": _content(policy, prompt_text(info.api, call.params)),
        "output": _content(policy, call.output_text),
        "detail": json.dumps(detail, ensure_ascii=False, default=str),
    }


# --- reading ------------------------------------------------------------------------------------


def _row(values: Sequence[Any]) -> dict[str, Any]:
    record = dict(zip(COLUMNS, values, strict=True))
    for key in ("cost", "worst_case"):
        record[key] = money(record[key])
    for key in ("usage_reported", "cache_hit", "stream"):
        record[key] = bool(record[key])
    record["detail"] = json.loads(record["detail"] or "{}")
    record["time"] = datetime.fromtimestamp(record["ts"]).astimezone().isoformat(timespec="seconds")
    return record


def query(
    store: Store,
    *,
    limit: int | None = 20,
    status: str | None = None,
    model: str | None = None,
    user: str | None = None,
    tag: str | None = None,
    since: float | None = None,
    oldest_first: bool = False,
) -> list[dict[str, Any]]:
    return list(
        iter_query(
            store,
            limit=limit,
            status=status,
            model=model,
            user=user,
            tag=tag,
            since=since,
            oldest_first=oldest_first,
        )
    )


def models_with_prefix(tx: Any, prefix: str) -> list[str]:
    """The distinct models starting with `prefix`: one index probe per distinct model (a loose
    index scan on unyo_calls_model_ts), never a scan of the calls. Every model is visited, as a
    collation may sort a non-matching name between two matching ones."""
    out = []
    current = tx.execute("SELECT MIN(model) FROM unyo_calls")[0][0]
    while current is not None:
        if current.startswith(prefix):
            out.append(current)
        current = tx.execute("SELECT MIN(model) FROM unyo_calls WHERE model > ?", [current])[0][0]
    return out


def iter_query(
    store: Store,
    *,
    limit: int | None = 20,
    status: str | None = None,
    model: str | None = None,
    user: str | None = None,
    tag: str | None = None,
    since: float | None = None,
    oldest_first: bool = False,
) -> Iterator[dict[str, Any]]:
    """The records matching every filter given, newest first (oldest with `oldest_first`), read a
    page at a time: memory stays bounded however many match. `model` is a model id or its prefix."""
    with store.tx(write=False) as tx:
        found = query_sql(tx, limit, status, model, user, tag, since, oldest_first)
        if found is not None:
            for row in tx.stream(*found):
                yield _row(row)


def query_sql(
    tx: Any,
    limit: int | None = 20,
    status: str | None = None,
    model: str | None = None,
    user: str | None = None,
    tag: str | None = None,
    since: float | None = None,
    oldest_first: bool = False,
) -> tuple[str, list[Any]] | None:
    """The SELECT for `iter_query` (None when no model matches the prefix). Each filter has an index
    on (column, ts), so the newest `limit` rows are found without a scan; a model prefix that
    matches several models is one index range per model, each cut to `limit`, then merged."""
    where, params = [], []
    for column, value in (("status", status), ("user_id", user), ("tag", tag)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    order = f"ORDER BY ts {'ASC' if oldest_first else 'DESC'}, id"
    cap = f" LIMIT {int(limit)}" if limit is not None else ""
    if model is None:
        sql = f"SELECT {', '.join(COLUMNS)} FROM unyo_calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return f"{sql} {order}{cap}", params
    models = models_with_prefix(tx, model)
    if not models:
        return None
    one = f"SELECT {', '.join(COLUMNS)} FROM unyo_calls WHERE " + " AND ".join(["model = ?", *where])
    if len(models) == 1:
        return f"{one} {order}{cap}", [models[0], *params]
    parts = [f"SELECT * FROM ({one} {order}{cap}) AS m{i}" for i in range(len(models))]
    return " UNION ALL ".join(parts) + f" {order}{cap}", [value for m in models for value in (m, *params)]


def _month_start(when: datetime) -> float:
    return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0, fold=0).timestamp()


def prune_bounds(
    retention_days: float, now: float | None = None, budget: BudgetConfig | None = None
) -> tuple[float, float, str]:
    """(retention cutoff, keep_from, current budget month): records at or after `keep_from` — the
    start of the current month, in the budget time zone and in the system's, whichever is
    earlier — are never deleted, whatever the retention, because `unyo budget` (the ledger's
    counters) and `unyo usage` (these records) must agree on the current day and month."""
    from unyo._core._limits import BudgetConfig

    now = time.time() if now is None else now
    budget = budget or BudgetConfig()
    if budget.tz:
        from zoneinfo import ZoneInfo

        in_budget_tz = datetime.fromtimestamp(now, ZoneInfo(budget.tz))
    else:
        in_budget_tz = datetime.fromtimestamp(now).astimezone()
    local = datetime.fromtimestamp(now)  # naive local time: .timestamp() applies the zone's rules at the 1st
    keep_from = min(_month_start(in_budget_tz), _month_start(local))
    month = budget.period_keys(in_budget_tz)["month"].split(":", 1)[1]
    return now - retention_days * 86400, keep_from, month


def prune_counts(
    store: Store, retention_days: float, now: float | None = None, budget: BudgetConfig | None = None
) -> dict[str, Any]:
    """What `prune` would do: call records deleted, kept ones whose text is cleared, tool calls and
    conversations deleted."""
    cutoff, keep_from, month = prune_bounds(retention_days, now, budget)
    with store.tx(write=False) as tx:
        calls = tx.execute(f"SELECT COUNT(*) FROM unyo_calls WHERE {_PRUNABLE}", [cutoff, keep_from, month])[0][0]
        scrubbed = tx.execute(
            f"SELECT COUNT(*) FROM unyo_calls WHERE ts < ? AND NOT ({_PRUNABLE}) "
            "AND (prompt IS NOT NULL OR output IS NOT NULL)",
            [cutoff, cutoff, keep_from, month],
        )[0][0]
        tools = tx.execute("SELECT COUNT(*) FROM unyo_tool_calls WHERE ts < ?", [cutoff])[0][0]
        conversations = tx.execute("SELECT COUNT(*) FROM unyo_conversations WHERE updated_at < ?", [cutoff])[0][0]
    return {
        "calls": int(calls),
        "scrubbed": int(scrubbed),
        "tool_calls": int(tools),
        "conversations": int(conversations),
        "cutoff": cutoff,
        "keep_from": keep_from,
    }


# older than the retention, and outside the current budget month (by time and by the month it was charged to)
_PRUNABLE = "ts < ? AND ts < ? AND COALESCE(month, '') <> ?"


PRUNE_BATCH = 1000  # calls per write transaction: a reservation waits at most one batch


def prune(
    store: Store,
    retention_days: float,
    now: float | None = None,
    budget: BudgetConfig | None = None,
    batch: int = PRUNE_BATCH,
) -> int:
    """Delete records older than the retention period (budget counters are kept: spend stays).

    Call records of the current budget month (which holds the current day) are kept whatever
    the retention, so `unyo usage` keeps agreeing with `unyo budget`; those older than the
    retention lose their prompt and output text instead. Calls are deleted `batch` at a time,
    oldest first, each batch in its own short write transaction that also takes them out of
    the rollups, with a pause between batches where the store needs one (SQLite), so memory
    stays bounded and a reservation waits at most about one batch. Returns the call records
    deleted."""
    from unyo._records import _rollup

    cutoff, keep_from, month = prune_bounds(retention_days, now, budget)
    removed, after = 0, -1e18
    fields = ", ".join(_rollup.FIELDS)
    while True:
        with store.tx() as tx:
            rows = tx.execute(
                f"SELECT id, {fields} FROM unyo_calls WHERE ts >= ? AND {_PRUNABLE} ORDER BY ts LIMIT ?",
                [after, cutoff, keep_from, month, batch],
            )
            if not rows:
                break
            _rollup.remove(tx, store, (dict(zip(_rollup.FIELDS, row[1:], strict=True)) for row in rows))
            tx.executemany("DELETE FROM unyo_calls WHERE id = ?", [[row[0]] for row in rows])
        removed += len(rows)
        after = rows[-1][1]
        time.sleep(store.batch_pause_s)  # let waiting reservations in before the next batch
    after = -1e18
    while True:
        with store.tx() as tx:
            rows = tx.execute(
                "SELECT id, ts FROM unyo_calls WHERE ts >= ? AND ts < ? AND (prompt IS NOT NULL OR output IS NOT NULL) "
                "ORDER BY ts LIMIT ?",
                [after, cutoff, batch],
            )
            if not rows:
                break
            tx.executemany("UPDATE unyo_calls SET prompt = NULL, output = NULL WHERE id = ?", [[r[0]] for r in rows])
        after = rows[-1][1]
        time.sleep(store.batch_pause_s)
    with store.tx() as tx:
        tx.execute("DELETE FROM unyo_tool_calls WHERE ts < ?", [cutoff])
        tx.execute(
            "DELETE FROM unyo_turns WHERE conversation_id IN (SELECT id FROM unyo_conversations WHERE updated_at < ?)",
            [cutoff],
        )
        tx.execute("DELETE FROM unyo_conversations WHERE updated_at < ?", [cutoff])
        tx.execute("DELETE FROM unyo_cache WHERE expires_at < ?", [time.time() if now is None else now])
    return removed


TOOL_COLUMNS = (
    "id",
    "call_id",
    "ts",
    "user_id",
    "tag",
    "name",
    "arguments",
    "outcome",
    "error",
    "duration_s",
    "result_chars",
)


def record_tool_calls(store: Store, rows: Sequence[dict[str, Any]], policy: str) -> None:
    """One audit row per tool call, in one transaction; arguments follow the content policy like prompts."""
    values = [
        [
            {
                **row,
                "arguments": _content(policy, row.get("arguments")),
                "error": redact(row["error"]) if row.get("error") else None,
            }.get(c)
            for c in TOOL_COLUMNS
        ]
        for row in rows
    ]
    with store.tx() as tx:
        for value in values:
            tx.execute(
                f"INSERT INTO unyo_tool_calls ({', '.join(TOOL_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(TOOL_COLUMNS))})",
                value,
            )


def tool_calls(
    store: Store, limit: int = 20, since: float | None = None, user: str | None = None
) -> list[dict[str, Any]]:
    where, args = ["1=1"], []
    if since is not None:
        where.append("ts >= ?")
        args.append(since)
    if user is not None:
        where.append("user_id = ?")
        args.append(user)
    with store.tx(write=False) as tx:
        rows = tx.execute(
            f"SELECT {', '.join(TOOL_COLUMNS)} FROM unyo_tool_calls WHERE {' AND '.join(where)} "
            "ORDER BY ts DESC LIMIT ?",
            [*args, limit],
        )
    return [dict(zip(TOOL_COLUMNS, r)) for r in rows]


# C1 controls (a terminal may act on \x9b as on ESC [) and bidi overrides, escaped as \uXXXX:
# the same JSON value, but nothing a terminal acts on when the record is printed
_INERT = {
    c: f"\\u{c:04x}"
    for c in [*range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]
}


_INERT_RE = re.compile("[" + "".join(map(chr, _INERT)) + "]")  # a C-speed search: most records hold none


def to_json(record: Any) -> str:
    text = json.dumps(record, ensure_ascii=False, default=str)
    return _INERT_RE.sub(lambda m: _INERT[ord(m.group())], text) if _INERT_RE.search(text) else text
