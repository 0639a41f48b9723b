"""The finisher that settles a call: what it cost, added to the ledger with its audit record."""

from __future__ import annotations

from decimal import Decimal

from unyo._core._call import Call
from unyo._core._limits import counter_keys
from unyo._money._budget import price_of
from unyo._records._audit import record_for
from unyo._records._ledger import ledger_for

ZERO = Decimal(0)


def price_call(call: Call) -> Decimal | None:
    """Set (and return) what the call cost: its usage at its model's price; nothing billed is 0,
    no price is None."""
    info = call.info
    price = price_of(call) if info.model else None
    if info.cache_hit:
        info.cost_usd = ZERO
    elif info.usage is not None and price is not None:
        info.cost_usd = price.cost(info.usage)
    elif info.usage is None:
        info.cost_usd = ZERO if price is not None else None  # nothing was billed
    if call.request_free:  # a recorded management call (vector stores): nothing billed per request
        info.cost_usd = ZERO
    _add_tool_cost(call)
    return info.cost_usd


def settle(call: Call) -> None:
    """Pipeline finisher: settle the call's cost and write its audit record, atomically."""
    info = call.info
    price_call(call)
    if call.settings.db_url == "off":
        return
    periods = call.periods or call.settings.budget.period_keys()
    keys = counter_keys(info.user, info.tag, periods)
    ledger_for(call.settings).settle(
        info.call_id, info.cost_usd, keys, record_for(call, periods), once=call.settle_once
    )


def release(call: Call) -> None:
    """A call that goes on as another (a fallback hop that failed before any answer): release its
    hold, write no record. The call it continues as (`Pipeline.prepare(carry=...)`) reserves
    again and is settled once, with every hop in its attempts. Nothing is billed for a hop that
    ended without an answer (no usage), so nothing is added to `spent`."""
    if call.settings.db_url == "off" or call.reserved_usd is None:
        return
    periods = call.periods or call.settings.budget.period_keys()
    keys = counter_keys(call.info.user, call.info.tag, periods)
    ledger_for(call.settings).settle(call.info.call_id, None, keys, None)
    call.reserved_usd = None


def _add_tool_cost(call: Call) -> None:
    """Hosted tool calls the response made (web_search_call / file_search_call items), billed
    per call on top of the tokens (their results are in the reported input tokens)."""
    from unyo._providers._hosted_tools import cost

    info = call.info
    if call.api == "chat" and call.tools and not info.cache_hit:  # a chat search model searches every time
        info.tool_calls = info.tool_calls or {"web_search_call": 1}
    if info.cache_hit or not info.tool_calls:
        info.tool_cost_usd = ZERO if call.tools else None
        return
    priced = call.settings.profile.hosted_tools  # data/tools.toml holds that provider's prices only
    quoted = call.tools.tools if call.tools else ()
    info.tool_cost_usd = cost(info.tool_calls, quoted, info.model) if priced else None
    if info.cost_usd is not None:
        info.cost_usd = None if info.tool_cost_usd is None else info.cost_usd + info.tool_cost_usd
