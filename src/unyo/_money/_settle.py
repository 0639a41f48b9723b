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
