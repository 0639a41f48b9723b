"""Spend and tokens from the ledger, grouped for reports (`unyo usage`, `unyo budget`)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from unyo._records._rollup import read

if TYPE_CHECKING:
    from unyo._core._config import Settings

GROUPS = ("day", "model", "role", "user", "tag", "status")
ZERO = Decimal(0)


def usage_report(settings: Settings, since: float | None, by: list[str]) -> dict[str, Any]:
    """Totals and groups of the billable calls since `since`, summed in the database (rollups):
    the same figures as a sum over every record, in time and memory that do not grow with the
    ledger. Records that are not calls (listing models) are counted apart, in `not_billable`."""
    from unyo._records._store import store_for

    report = read(store_for(settings), since)
    return {
        "total": report.total.to_dict("total"),
        "groups": {
            name: [sums.to_dict(key) for key, sums in sorted(report.groups.get(name, {}).items())] for name in by
        },
        "not_billable": report.not_billable,
    }


def budget_status(settings: Settings, user: str | None = None) -> list[dict[str, Any]]:
    """Each configured limit with what is spent, reserved and left in the current period."""
    from unyo._records._ledger import ledger_for

    config = settings.budget
    periods = config.period_keys()
    counters = ledger_for(settings).counters(list(periods.values()))
    out = []
    for limit in config.limits:
        if limit.period == "request":
            out.append({"limit": limit.describe(), "scope": limit.scope, "period": "request", "usd": str(limit.usd)})
            continue
        period_key = periods[limit.period]
        if limit.scope == "user":  # the named user, else every user seen this period
            scopes = (
                [f"user:{user}"]
                if user
                else sorted(s for (s, p) in counters if s.startswith("user:") and p == period_key)
            )
        else:
            scopes = [limit.scope]
        for scope in scopes:
            period = period_key
            spent, reserved = counters.get((scope, period), (ZERO, ZERO))
            out.append(
                {
                    "limit": limit.describe(),
                    "scope": scope,
                    "period": period.partition(":")[2] or period,
                    "usd": str(limit.usd),
                    "spent": str(spent),
                    "reserved": str(reserved),
                    "remaining": str(max(ZERO, limit.usd - spent - reserved)),
                    "used": float((spent + reserved) / limit.usd) if limit.usd else 1.0,
                }
            )
    return out
