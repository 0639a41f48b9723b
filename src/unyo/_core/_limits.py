"""Budget limits as configuration: what is capped, per which scope and period, and the counter
rows a call's spend lands on. Read by settings (`budget_config`); enforced by `_money._budget`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from unyo._types._messages import Message

PERIODS = ("request", "day", "month", "total")
# the [unyo] settings that set a limit: name -> (scope, period)
LIMIT_KNOBS = {
    "max_request_usd": ("all", "request"),
    "budget_daily_usd": ("all", "day"),
    "budget_monthly_usd": ("all", "month"),
    "budget_user_daily_usd": ("user", "day"),
    "budget_user_monthly_usd": ("user", "month"),
}  # "total" never rolls over (a batch's --max-cost)


@dataclass(frozen=True)
class Limit:
    scope: str  # "all" | "user" (each user separately) | "tag:NAME"
    period: str  # "request" | "day" | "month"
    usd: Decimal

    def describe(self) -> str:
        """ "per-user day limit $5", in English (reports and JSON keep it)."""
        return self.label().en

    def label(self) -> Message:
        """The same phrase as a catalogue message, for text shown to people."""
        who = {"all": Message("empty"), "user": Message("budget.scope_user")}.get(
            self.scope, Message("budget.scope_named", scope=self.scope)
        )
        period = Message(f"budget.period_{self.period}") if self.period in PERIODS else self.period
        return Message("budget.limit", who=who, period=period, usd=self.usd)


@dataclass(frozen=True)
class BudgetConfig:
    limits: tuple[Limit, ...] = ()
    on_exceed: str = "stop"  # "stop" | "downgrade"
    downgrade_to: str = "bulk"
    soft_threshold: float = 0.8
    tz: str | None = None  # IANA name; None = the system's zone
    allow_unpriced: bool = False

    def now(self) -> datetime:
        if self.tz:
            from zoneinfo import ZoneInfo

            return datetime.now(ZoneInfo(self.tz))
        return datetime.now().astimezone()

    def period_keys(self, when: datetime | None = None) -> dict[str, str]:
        when = when or self.now()
        keys = {"day": f"day:{when:%Y-%m-%d}", "month": f"month:{when:%Y-%m}"}
        if any(limit.period == "total" for limit in self.limits):
            keys["total"] = "total"
        return keys


def scope_keys(user: str | None, tag: str | None) -> list[str]:
    """Every scope a call's spend counts toward (counters are kept for all of them, so a limit
    added later sees the spend made before it existed)."""
    keys = ["all", f"user:{user or '-'}"]
    if tag:
        keys.append(f"tag:{tag}")
    return keys


def counter_keys(user: str | None, tag: str | None, periods: dict[str, str]) -> list[tuple[str, str]]:
    return sorted((s, p) for s in scope_keys(user, tag) for p in periods.values())


@dataclass(frozen=True)
class Check:
    """One limit applied to one counter row."""

    scope: str
    period: str
    limit: Limit


def checks_for(config: BudgetConfig, user: str | None, tag: str | None, periods: dict[str, str]) -> list[Check]:
    out = []
    for limit in config.limits:
        if limit.period == "request":
            continue
        if limit.scope == "all":
            scope = "all"
        elif limit.scope == "user":
            scope = f"user:{user or '-'}"
        elif limit.scope == f"tag:{tag}":
            scope = limit.scope
        else:
            continue
        out.append(Check(scope, periods[limit.period], limit))
    return out


def budget_config(values: dict[str, Any], toml: dict[str, Any]) -> BudgetConfig:
    """Build the budget from resolved knobs and the `[budget.tags.NAME]` tables of unyo.toml."""
    from unyo._types._errors import ConfigError

    limits = []
    for name, (scope, period) in LIMIT_KNOBS.items():
        if values.get(name) is not None:
            limits.append(Limit(scope, period, values[name]))
    tags = toml.get("budget", {}).get("tags", {})
    for tag, table in tags.items() if isinstance(tags, dict) else ():
        for key, period in (("daily_usd", "day"), ("monthly_usd", "month")):
            if isinstance(table, dict) and table.get(key) is not None:
                limits.append(Limit(f"tag:{tag}", period, _money(table[key], f"[budget.tags.{tag}] {key}")))
    for limit in limits:
        if limit.usd < 0:
            raise ConfigError(Message("budget.negative", limit=limit.label()))
    if values["on_budget_exceeded"] not in ("stop", "downgrade"):
        raise ConfigError(Message("budget.on_exceeded", got=values["on_budget_exceeded"]))
    if not 0 < values["soft_threshold"] <= 1:
        raise ConfigError(Message("budget.soft_threshold", got=values["soft_threshold"]))
    if values.get("budget_tz"):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(values["budget_tz"])
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(Message("budget.tz", got=values["budget_tz"])) from None
    return BudgetConfig(
        limits=tuple(limits),
        on_exceed=values["on_budget_exceeded"],
        downgrade_to=values["downgrade_to"],
        soft_threshold=values["soft_threshold"],
        tz=values.get("budget_tz"),
        allow_unpriced=values["allow_unpriced"],
    )


def _money(raw: Any, origin: str) -> Decimal:
    from decimal import InvalidOperation

    from unyo._types._errors import ConfigError

    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ConfigError(Message("budget.not_an_amount", origin=origin, got=raw)) from None
    if not value.is_finite():
        raise ConfigError(Message("budget.not_an_amount", origin=origin, got=raw))
    return value
