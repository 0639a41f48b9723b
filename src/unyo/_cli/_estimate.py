"""`unyo estimate`: the monthly cost of a planned workload — a normal case and a worst case —
with the formula, for a quote."""

from __future__ import annotations

import json
from argparse import Namespace
from decimal import Decimal

from unyo._cli._shared import settings_for
from unyo._types._prices import Price


def estimate(
    price: Price,
    *,
    requests_per_day: float,
    days: float,
    input_tokens: float,
    output_tokens: float,
    output_cap: int,
    retry_rate: float,
    cache_hit_rate: float,
    cached_input_share: float,
) -> dict[str, object]:
    """Normal: average tokens, a `cached_input_share` of input at the cached price, cache hits
    free, retried requests billed again. Worst: every output at the cap, no cache of any kind,
    every retry billed."""
    from unyo._types._call import Usage

    d = lambda x: Decimal(str(x))  # noqa: E731
    requests = (d(requests_per_day) * d(days)).normalize()
    cached = int(round(input_tokens * cached_input_share))
    normal_one = price.cost(Usage(int(round(input_tokens)), cached, int(round(output_tokens))))
    worst_one = price.cost(Usage(int(round(input_tokens)), 0, output_cap))
    billed_normal = requests * (1 - d(cache_hit_rate)) * (1 + d(retry_rate))
    billed_worst = requests * (1 + d(retry_rate))
    return {
        "requests": requests,
        "per_request_normal": normal_one,
        "per_request_worst": worst_one,
        "billed_requests_normal": billed_normal,
        "billed_requests_worst": billed_worst,
        "monthly_normal": (billed_normal * normal_one).quantize(Decimal("0.01")),
        "monthly_worst": (billed_worst * worst_one).quantize(Decimal("0.01")),
    }


def run(args: Namespace) -> int:
    from unyo._providers._catalog import model_info, prices_as_of
    from unyo._types._errors import UnpricedModel, UsageError
    from unyo._types._messages import Message
    from unyo._types._prices import usd

    settings = settings_for(args.profile)
    model_id, role = settings.profile.resolve_model(args.model or settings.model)
    info = model_info(model_id, settings.models)
    price = (
        info.price if info.price is not None else (settings.profile.price(info) if settings.profile.free else None)
    )  # a listed model's price, even offline
    if price is None:
        raise UnpricedModel(Message("unpriced.estimate", model=model_id))
    for name in ("retry_rate", "cache_hit_rate", "cached_input_share"):
        if not 0 <= getattr(args, name) <= 1:
            raise UsageError(Message("estimate.share_range", name=name.replace("_", "-")))
    via = ""
    if args.via == "batch-api":
        from unyo._jobs._batch._provider import price_factor

        factor = price_factor(settings)
        price, via = price.scaled(factor), f", Batch API at {factor:%} of list prices"
    cap = args.max_output_tokens or settings.max_output_tokens
    result = estimate(
        price,
        requests_per_day=args.requests_per_day,
        days=args.days,
        input_tokens=args.input_tokens,
        output_tokens=args.output_tokens,
        output_cap=cap,
        retry_rate=args.retry_rate,
        cache_hit_rate=args.cache_hit_rate,
        cached_input_share=args.cached_input_share,
    )
    p = price
    formula = [
        f"price ({model_id}{f', role {role}' if role else ''}, list prices as of {prices_as_of()}{via}): "
        f"input ${p.input}, cached input ${p.cached_input}, output ${p.output} per 1M tokens",
        f"requests = {args.requests_per_day:g}/day × {args.days:g} days = {result['requests']:f}",
        f"normal per request = ({args.input_tokens:g} × (1 − {args.cached_input_share:g}) "
        f"× {p.input} + {args.input_tokens:g} × {args.cached_input_share:g} × {p.cached_input} + "
        f"{args.output_tokens:g} × {p.output}) / 1M = {usd(result['per_request_normal'])}",  # type: ignore[arg-type]
        f"normal month = requests × (1 − cache hit {args.cache_hit_rate:g}) × (1 + retry {args.retry_rate:g}) "
        f"× per request = ${result['monthly_normal']}",
        f"worst per request = ({args.input_tokens:g} × {p.input} + cap {cap} × {p.output}) "
        f"/ 1M = {usd(result['per_request_worst'])}",  # type: ignore[arg-type]
        f"worst month = requests × (1 + retry {args.retry_rate:g}) × worst per request = ${result['monthly_worst']}",
    ]
    hosted = _hosted_lines(args, model_id, p, result, formula)
    if args.json:
        print(
            json.dumps(
                {
                    "model": model_id,
                    "role": role,
                    "prices_as_of": prices_as_of(),
                    "output_cap": cap,
                    "via": args.via,
                    **{k: str(v) for k, v in result.items()},
                    **hosted,
                    "formula": formula,
                },
                ensure_ascii=False,
            )
        )
        return 0
    print(f"Estimated monthly cost: normal ${result['monthly_normal']}, worst case ${result['monthly_worst']}\n")
    for line in formula:
        print("  " + line)
    print(
        "\n  Set UNYO_BUDGET_MONTHLY_USD to the worst case (or lower) and unyo refuses calls before the bill passes it."
    )
    return 0


def _tool_counts(given: list[str]) -> dict[str, float]:
    """`--tool-calls web_search=2 --tool-calls file_search=1` -> {tool: calls per request}."""
    from unyo._providers._hosted_tools import is_priced
    from unyo._types._errors import UsageError
    from unyo._types._messages import Message

    counts: dict[str, float] = {}
    for item in given:
        tool, _, number = item.partition("=")
        try:
            counts[tool.strip()] = float(number)
        except ValueError:
            raise UsageError(Message("estimate.tool_calls_form", got=item)) from None
        if not is_priced(tool.strip()) or counts[tool.strip()] < 0:
            raise UsageError(Message("estimate.tool_calls_unknown", got=item))
    return counts


def _hosted_lines(
    args: Namespace, model: str, p: Price, result: dict[str, object], formula: list[str]
) -> dict[str, str]:
    """Tool calls (per call, by tool and model) and vector-store storage (per GB-day after the
    free GB): added to both months, with their formula lines."""
    from unyo._providers._hosted_tools import default_max_tool_calls, price, prices_as_of, storage_cost
    from unyo._types._errors import UsageError
    from unyo._types._messages import Message
    from unyo._types._prices import usd

    if args.storage_gb is not None and args.storage_gb < 0:
        raise UsageError(Message("estimate.storage_gb", got=args.storage_gb))
    counts = _tool_counts(args.tool_calls or [])
    if not counts and not args.storage_gb:
        return {}
    extra: dict[str, Decimal] = {"monthly_tools_normal": Decimal(0), "monthly_tools_worst": Decimal(0)}
    cap = args.max_tool_calls or default_max_tool_calls()
    for tool, per_request in counts.items():
        found = price(tool, model)
        assert found is not None  # checked by _tool_counts
        normal = Decimal(str(per_request)) * found.per_call * result["billed_requests_normal"]  # type: ignore[operator]
        worst_one = cap * (found.per_call + found.content_tokens * p.input / 1_000_000)
        worst = worst_one * result["billed_requests_worst"]  # type: ignore[operator]
        extra["monthly_tools_normal"] += normal
        extra["monthly_tools_worst"] += worst
        formula.append(
            f"{tool} = {per_request:g} calls/request × ${found.per_call} per call × billed requests = {usd(normal)}; "
            f"worst {cap} calls × (${found.per_call} + {found.content_tokens} result tokens × {p.input}/1M) "
            f"per request × billed requests = {usd(worst)} (OpenAI's tool prices as of {prices_as_of()})"
        )
    per_day, free, storage = storage_cost(args.storage_gb or 0, args.days)
    if args.storage_gb:
        formula.append(f"vector-store storage = max(0, {args.storage_gb:g} GB − {free} free) × ${per_day} per GB-day "
                       f"× {args.days:g} days = {usd(storage)}")  # fmt: skip
    cent = Decimal("0.01")
    for key in ("normal", "worst"):
        total = Decimal(str(result[f"monthly_{key}"])) + extra[f"monthly_tools_{key}"] + storage
        result[f"monthly_{key}"] = total.quantize(cent)
    out = {k: str(v.quantize(cent)) for k, v in extra.items()}
    out["monthly_storage"] = str(storage.quantize(cent))
    out["tool_calls_per_request"] = counts  # type: ignore[assignment]
    out["max_tool_calls"] = cap  # type: ignore[assignment]
    formula.append(
        f"months with tools and storage: normal ${result['monthly_normal']}, worst ${result['monthly_worst']}"
    )
    return out
