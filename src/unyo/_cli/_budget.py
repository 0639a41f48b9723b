"""`unyo budget`: each limit with spent, reserved and remaining in the current period."""

from __future__ import annotations

import json
from argparse import Namespace

from unyo._cli._shared import settings_for, table


def run(args: Namespace) -> int:
    from unyo._money._usage import budget_status
    from unyo._records._ledger import ledger_for
    from unyo._types._prices import usd

    settings = settings_for(args.profile)
    status = budget_status(settings, user=args.user)
    holds = ledger_for(settings).reservations()
    if args.json:
        print(
            json.dumps(
                {
                    "limits": status,
                    "open_reservations": len(holds),
                    "on_exceed": settings.budget.on_exceed,
                    "soft_threshold": settings.budget.soft_threshold,
                    "timezone": settings.budget.tz or "system",
                },
                ensure_ascii=False,
                default=str,
            )
        )
        return 0
    if not settings.budget.limits:
        print(
            "No budget is set. Set UNYO_BUDGET_DAILY_USD / UNYO_BUDGET_MONTHLY_USD / UNYO_MAX_REQUEST_USD, "
            "or [unyo] in unyo.toml."
        )
        return 0
    rows = []
    for s in status:
        if s["period"] == "request":
            rows.append([s["limit"], "-", "each call", usd(s["usd"]), "-", "-", "-", "-"])
        else:
            rows.append(
                [
                    s["limit"],
                    s["scope"],
                    s["period"],
                    usd(s["usd"]),
                    usd(s["spent"]),
                    usd(s["reserved"]),
                    usd(s["remaining"]),
                    f"{s['used']:.0%}",
                ]
            )
    table("unyo budget", ["limit", "scope", "period", "limit $", "spent", "reserved", "remaining", "used"], rows)
    print(
        f"on exceeding: {settings.budget.on_exceed}"
        + (f" (to role {settings.budget.downgrade_to!r})" if settings.budget.on_exceed == "downgrade" else "")
        + f" · warning at {settings.budget.soft_threshold:.0%} · open reservations: {len(holds)}"
    )
    return 0
