"""Budgets that cannot be overshot: reserve the worst case before sending, settle after.

    reserve:  worst case = (counted input + margin) × input price + output cap × output price,
              checked against every applicable limit and reserved in ONE transaction
              (SQLite BEGIN IMMEDIATE / PostgreSQL SELECT ... FOR UPDATE) -> fail closed
    settle:   the actual cost (what the provider billed, partial streams included) is added to
              `spent`, the reservation is released (`_money._settle`)

Limits: per request, per day, per month (calendar in `budget_tz`, default the system's zone),
optionally per user and per task tag. On a refusal: `stop` raises BudgetExceeded, `downgrade`
retries the reservation with a cheaper role first.
"""

from __future__ import annotations

import math
import warnings
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from unyo._core._limits import Limit, checks_for, counter_keys
from unyo._types._errors import BudgetExceeded, UnpricedModel
from unyo._types._messages import Message

if TYPE_CHECKING:
    from unyo._core._call import Call
    from unyo._types._prices import Price


class BudgetWarning(UserWarning):
    """Spending in a period crossed the soft threshold (said once per period and scope)."""


def margin_tokens(input_tokens: int, exact: bool) -> int:
    """Counted input plus a margin for what the provider adds that unyo cannot see: 2 % + 16
    tokens for an exact tokenizer, 25 % + 16 for an estimated one."""
    return math.ceil(input_tokens * (1.02 if exact else 1.25)) + 16


def worst_case(call: Call, price: Price) -> Decimal:
    """Counted input (with margin) + the output cap, for every choice a Chat call asks for (`n`);
    an Images / Audio call: its quote's worst case (`_media`)."""
    if call.quote:
        return call.quote.worst_case(0, 0)  # type: ignore[no-any-return]
    info = call.info
    choices = max(1, int(call.params.get("n") or 1)) if call.api == "chat" else 1
    exact = info.input_tokens_exact or info.input_tokens_bound  # a byte bound already covers any tokenizer
    added = call.tools.content_tokens if call.tools else 0  # search results / chunks the tools add as input
    tokens = price.worst_case(
        margin_tokens(info.input_tokens or 0, exact) + added, (info.max_output_tokens or 0) * choices
    )
    return tokens + (call.tools.worst_usd if call.tools else 0)


def price_of(call: Call) -> Price | None:
    """The price of the call: the model's per-token price, or an Images / Audio call's quote."""
    from unyo._money._media import MEDIA_APIS, quote_for

    if call.api in MEDIA_APIS:
        return quote_for(call)  # type: ignore[return-value]
    return call.settings.profile.price(call.model)  # type: ignore[no-any-return]


def _unpriced(call: Call) -> UnpricedModel:
    model = call.info.model
    if call.quote and call.quote.worst is None:
        return UnpricedModel(Message("unpriced.audio_length", api=call.api, model=model), model=model)
    if call.api not in ("responses", "chat", "embeddings"):
        what = f"{call.api} ({model})" if model else call.api
        return UnpricedModel(Message("unpriced.api", what=what), model=model)
    return UnpricedModel(Message("unpriced.model", model=model), model=model)


def _downgrade(call: Call) -> bool:
    """Switch the call to the configured cheaper role; False if that changes nothing."""
    from unyo._core._steps import apply_output_cap, check_context_window, count_input_tokens, resolve_model

    config = call.settings.budget
    target, _ = call.settings.profile.resolve_model(config.downgrade_to)
    if target == call.info.model:
        return False
    was = call.info.model
    call.params["model"] = config.downgrade_to
    for step in (resolve_model, apply_output_cap, count_input_tokens, check_context_window):
        step(call)
    call.info.budget = f"downgraded from {was}"
    return True


def hosted_tools(call: Call) -> list[str]:
    """The provider-run tools a request asks for that unyo cannot price (image_generation,
    code_interpreter, ..., or any on a profile without `hosted_tools`). web_search and file_search
    on such a profile are priced per call (`_providers._hosted_tools`) and set `call.tools`."""
    from unyo._providers._hosted_tools import ToolQuote, chat_search, is_priced, requested

    kinds = requested(call.params)
    if call.api == "chat" and call.settings.profile.hosted_tools:
        call.tools = chat_search(call.params, call.info.model)
    if call.api != "responses" or not call.settings.profile.hosted_tools:
        return kinds
    unpriced = [k for k in kinds if not is_priced(k)]
    if kinds and not unpriced:
        call.tools = ToolQuote.of(call.params, call.info.model)
    return unpriced


def reserve_budget(call: Call) -> None:
    """Pipeline step: price the worst case and reserve it against every applicable limit."""
    if call.api == "models" or call.info.cache_hit:
        return
    config = call.settings.budget
    hosted = hosted_tools(call)
    if hosted and config.limits and not config.allow_unpriced:
        raise UnpricedModel(Message("unpriced.hosted_tools", tools=", ".join(hosted)), model=call.info.model)
    if not call.prior_known and config.limits and not config.allow_unpriced:
        raise UnpricedModel(Message("unpriced.stored_context"), model=call.info.model)
    while True:
        price = price_of(call)
        call.info.worst_case_usd = worst_case(call, price) if price else None
        if not config.limits:
            call.info.budget = call.info.budget or "no budget set"
            return
        if price is None or (call.quote and call.quote.worst is None):
            if config.allow_unpriced:
                call.info.budget = "unpriced, allowed"
                return
            raise _unpriced(call)
        refusal = _try_reserve(call, price)
        if refusal is not None and _refine(call):
            continue  # the byte bound did not fit: price the exact count instead
        if refusal is None:
            call.info.budget = call.info.budget or "reserved"
            return
        if config.on_exceed == "downgrade" and not call.quote and _downgrade(call):
            hosted_tools(call)  # the tools' price follows the model
            continue
        call.info.budget = "refused"
        raise refusal


def _refine(call: Call) -> bool:
    from unyo._core._steps import count_exactly

    return count_exactly(call)


def _try_reserve(call: Call, price: Price) -> BudgetExceeded | None:
    config = call.settings.budget
    asked = call.info.worst_case_usd or Decimal(0)
    for limit in config.limits:
        if limit.period == "request" and asked > limit.usd:
            return _exceeded(call, limit, Decimal(0), Decimal(0), asked)
    periods, outcome = hold(
        call.settings, call.info.call_id, asked, call.info.user, call.info.tag, call.settings.deadline_s
    )
    call.periods = periods
    if outcome.refused is not None:
        check, spent, reserved = outcome.refused
        return _exceeded(call, check.limit, spent, reserved, asked, check.period)
    call.reserved_usd = asked
    call.info.budget_warning = outcome.warning or call.info.budget_warning
    return None


def hold(
    settings: Any,
    rid: str,
    asked: Decimal,
    user: str | None,
    tag: str | None,
    deadline_s: float,
    owner: str | None = None,
) -> tuple[dict[str, str], Any]:
    """Reserve `asked` against every limit on (user, tag) for this period, in one transaction.
    Returns the period keys and the ledger's Outcome; a soft threshold crossed is warned here
    (BudgetWarning) and its message kept on `outcome.warning`."""
    from unyo._records._ledger import ledger_for

    config = settings.budget
    periods = config.period_keys()
    checks = checks_for(config, user, tag, periods)
    outcome = ledger_for(settings).reserve(
        rid, asked, checks, counter_keys(user, tag, periods), config.soft_threshold, deadline_s, owner=owner
    )
    for check, spent, reserved in outcome.crossed:
        outcome.warning = Message(
            "budget.warning",
            limit=check.limit.label(),
            period=check.period.partition(":")[2] or check.period,
            share=float((spent + reserved) / check.limit.usd),
            spent=spent,
            reserved=reserved,
        ).render()
        warnings.warn(outcome.warning, BudgetWarning, stacklevel=3)
    return periods, outcome


def _asked(call: Call) -> Message | str:
    if call.quote:
        return str(call.quote.what)
    info = call.info
    if call.tools:
        t = call.tools
        return Message("budget.asked_tools", input=info.input_tokens, cap=info.max_output_tokens, calls=t.max_calls,
                       tools=t.names, usd=t.worst_usd, tokens=t.content_tokens)  # fmt: skip
    return Message("budget.asked_tokens", input=info.input_tokens, cap=info.max_output_tokens)


def _exceeded(
    call: Call, limit: Limit, spent: Decimal, reserved: Decimal, asked: Decimal, period: str = ""
) -> BudgetExceeded:
    when = Message("budget.exceeded_when", period=period.partition(":")[2] or period) if period else Message("empty")
    return BudgetExceeded(
        Message(
            "budget.exceeded",
            limit=limit.label(),
            when=when,
            spent=spent,
            reserved=reserved,
            asked=asked,
            model=call.info.model,
            what=_asked(call),
        ),
        limit=limit.usd,
        spent=spent,
        reserved=reserved,
        asked=asked,
        scope=limit.scope,
        period=period or "request",
    )
