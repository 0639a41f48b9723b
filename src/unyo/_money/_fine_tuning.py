"""Fine-tuning under a budget: the training cost is reserved before the job exists, and settled
from what the provider bills when the job ends.

    reserve  `fine_tuning.jobs.create(..., unyo_training_tokens=N)`: N tokens per epoch (what
             `unyo finetune validate` counts) x the epochs asked for, plus the margin every exact
             count gets, x the base model's training price, checked against every limit and held
             in one transaction (`_budget`). The request's metadata gets `unyo_id`, the id the
             job's cost is recorded under (`ft-` + the create call's id: who and what tag the
             job is charged to are read back from that call's audit record, never sent).
    keep     once the job exists, its create call hands the hold to the job (`Ledger.transfer`):
             the hold outlives this process, for up to HOLD_S.
    settle   a job that has ended (succeeded, failed, cancelled) is settled from its
             `trained_tokens` exactly once, however many processes see it end: the hold is
             released, the cost added to the budget periods it ends in, with an audit record
             (api `fine_tuning.jobs`, the job id as its response id).

Without a budget the same metadata is sent and the same settlement recorded. A request unyo cannot
price (no training price, no token count, n_epochs "auto", reinforcement fine-tuning, which is
billed per hour) is refused while a budget is set unless allow_unpriced is on.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from unyo._core._call import Call
from unyo._core._limits import counter_keys
from unyo._money._budget import _try_reserve, margin_tokens
from unyo._providers._catalog import ModelInfo
from unyo._providers._fine_tuning import training_cost, training_price
from unyo._types._call import CallInfo, Usage
from unyo._types._errors import BudgetExceeded, UnpricedModel
from unyo._types._messages import Message
from unyo._types._prices import Price, usd

CREATE = "fine_tuning.jobs.create"
HOLD_S = 14 * 86400.0  # a job may queue for days; `unyo finetune list/show/attach` settle it when it ends
TERMINAL = ("succeeded", "failed", "cancelled")
_STATUS = {"succeeded": "completed", "failed": "failed", "cancelled": "cancelled"}


def epochs_of(params: dict[str, Any]) -> int | None:
    """The epochs a create request asks for; None when "auto" or not given. Both places a request
    may name them (`method`'s hyperparameters and the deprecated top-level `hyperparameters`)
    are read: the provider may take either, so the larger counts, and "auto" in either is "auto"."""
    method = params.get("method") if isinstance(params.get("method"), dict) else {}
    kind = method.get("type") or "supervised"
    inner = method.get(kind) if isinstance(method.get(kind), dict) else {}
    found = [
        hyper["n_epochs"]
        for hyper in (inner.get("hyperparameters"), params.get("hyperparameters"))
        if isinstance(hyper, dict) and "n_epochs" in hyper
    ]
    if not found or not all(isinstance(e, int) and not isinstance(e, bool) and e > 0 for e in found):
        return None
    return max(found)


def _price(call: Call, base: str) -> Decimal | None:
    return Decimal(0) if call.settings.profile.free else training_price(base, call.settings.models)


def reserve_training(call: Call, options: dict[str, Any]) -> None:
    """The reservation of a `fine_tuning.jobs.create` call (in place of `reserve_budget`)."""
    params, info = call.params, call.info
    base = str(params.get("model") or "")
    params["metadata"] = {**(params.get("metadata") or {}), "unyo_id": f"ft-{info.call_id}"}
    price = _price(call, base)
    call.model = ModelInfo(base, price=Price(price, price, Decimal(0)) if price is not None else None)
    tokens, epochs = options.get("unyo_training_tokens"), epochs_of(params)
    if isinstance(tokens, int) and epochs is not None:
        info.input_tokens, info.max_output_tokens = tokens * epochs, 0
        if price is not None:
            info.worst_case_usd = training_cost(margin_tokens(info.input_tokens, True), price)
    config = call.settings.budget
    if not config.limits:
        info.budget = "no budget set"
        return
    problem = _unpriceable(params, base, price, tokens, epochs)
    if problem is not None:
        if config.allow_unpriced:
            info.budget = "unpriced, allowed"
            return
        raise UnpricedModel(Message("unpriced.fine_tuning", api=CREATE, problem=problem), model=base)
    refusal = _try_reserve(call, call.model.price)  # type: ignore[arg-type]
    if refusal is not None:
        info.budget = "refused"
        raise _training_refused(call, refusal)
    info.budget = "reserved"


def _unpriceable(
    params: dict[str, Any], base: str, price: Decimal | None, tokens: Any, epochs: int | None
) -> Message | None:
    if (params.get("method") or {}).get("type") == "reinforcement":
        return Message("unpriced.reinforcement")
    if price is None:
        return Message("unpriced.no_training_price", model=base)
    if not isinstance(tokens, int):
        return Message("unpriced.training_size")
    if epochs is None:
        return Message("unpriced.auto_epochs")
    return None


def _training_refused(call: Call, refusal: BudgetExceeded) -> BudgetExceeded:
    info = call.info
    period = refusal.period.partition(":")[2] or refusal.period
    when = Message("budget.exceeded_when", period=period) if refusal.period != "request" else Message("empty")
    return BudgetExceeded(
        Message(
            "budget.training_refused",
            scope=refusal.scope,
            limit=refusal.limit,
            when=when,
            spent=refusal.spent,
            reserved=refusal.reserved,
            asked=usd(refusal.asked),
            model=info.model,
            tokens=info.input_tokens,
        ),
        limit=refusal.limit,
        spent=refusal.spent,
        reserved=refusal.reserved,
        asked=refusal.asked,
        scope=refusal.scope,
        period=refusal.period,
    )


def keep_training_hold(call: Call, job: Any) -> None:
    """The job exists: its hold now belongs to the job, under the id its cost is settled with."""
    from unyo._records._ledger import ledger_for

    settle_id = (call.params.get("metadata") or {}).get("unyo_id")
    call.info.response_id = getattr(job, "id", None)
    if call.reserved_usd is None or call.settings.db_url == "off" or not settle_id:
        return
    if ledger_for(call.settings).transfer(call.info.call_id, settle_id, f"fine-tune:{job.id}", HOLD_S):
        call.info.budget = f"reserved {usd(call.reserved_usd)} for job {job.id} until it ends"


def settle_job(settings: Any, job: Any) -> Decimal | None:
    """Settle an ended job created through unyo, once: what it cost, or None when there was
    nothing to settle now (still running, not unyo's, or settled before)."""
    from unyo._records._audit import record_for
    from unyo._records._ledger import ledger_for

    meta = getattr(job, "metadata", None) or {}
    settle_id = meta.get("unyo_id")
    if job.status not in TERMINAL or not settle_id or settings.db_url == "off":
        return None
    base = str(job.model)
    user, tag = charged_to(settings, settle_id)
    info = CallInfo(
        api="fine_tuning.jobs", profile=settings.profile.name, host=settings.host, model=base, user=user, tag=tag
    )
    price = Decimal(0) if settings.profile.free else training_price(base, settings.models)
    call = Call(info.api, {}, settings, info, model=ModelInfo(base, price=None))
    tokens = int(getattr(job, "trained_tokens", None) or 0)
    info.call_id, info.response_id, info.usage = settle_id, job.id, Usage(tokens, 0, 0, 0)
    info.input_tokens, info.max_output_tokens = tokens, 0
    info.cost_usd = training_cost(tokens, price) if price is not None else None
    info.budget = f"fine-tuning job {job.status}"
    call.output_text = getattr(job, "fine_tuned_model", None)  # the tuned model's id, in the audit record
    call.end(_STATUS[job.status])
    info.latency_s = max(0.0, float((job.finished_at or job.created_at) - job.created_at))
    periods = settings.budget.period_keys()
    keys = counter_keys(info.user, info.tag, periods)
    done = ledger_for(settings).settle(settle_id, info.cost_usd, keys, record_for(call, periods), once=True)
    return info.cost_usd if done else None


def hold_for_job(settings: Any, job: Any, amount: Decimal | None) -> bool:
    """Hold `amount` for a job found after its create call failed (the provider had created it,
    the answer was lost): the create call's own hold was released with its failure. False when
    nothing was held (no budget, no price, or no room left: its cost is still settled when it ends)."""
    from unyo._money._budget import hold

    meta = getattr(job, "metadata", None) or {}
    if amount is None or not meta.get("unyo_id") or not settings.budget.limits or settings.db_url == "off":
        return False
    user, tag = charged_to(settings, meta["unyo_id"])
    _, outcome = hold(settings, meta["unyo_id"], amount, user, tag, HOLD_S, f"fine-tune:{job.id}")
    return outcome.refused is None


def charged_to(settings: Any, settle_id: str) -> tuple[str | None, str | None]:
    """(user, tag) of the create call behind `settle_id`, from its audit record; unknown: (None, None)."""
    from unyo._records._store import store_for

    with store_for(settings).tx(write=False) as tx:
        rows = tx.execute("SELECT user_id, tag FROM unyo_calls WHERE id = ?", [settle_id.removeprefix("ft-")])
    return (rows[0][0], rows[0][1]) if rows else (None, None)


def job_cost(settings: Any, job: Any) -> tuple[Decimal | None, Decimal | None]:
    """(what the job was charged once settled, what is held for it while it runs); None: nothing."""
    from unyo._records._store import store_for
    from unyo._records._store._base import money

    settle_id = (getattr(job, "metadata", None) or {}).get("unyo_id")
    if not settle_id or settings.db_url == "off":
        return None, None
    with store_for(settings).tx(write=False) as tx:
        spent = tx.execute("SELECT cost FROM unyo_calls WHERE id = ?", [settle_id])
        held = tx.execute("SELECT amount FROM unyo_reservations WHERE id = ?", [settle_id])
    return (money(spent[0][0]) if spent else None), (money(held[0][0]) if held else None)
