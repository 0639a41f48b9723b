"""Spend and tokens from the ledger, grouped for reports (`unyo usage`, `unyo budget`)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from unyo._records._audit import query

if TYPE_CHECKING:
    from unyo._core._config import Settings

GROUPS = {"day": "day", "model": "model", "role": "role", "user": "user_id", "tag": "tag", "status": "status"}
ZERO = Decimal(0)


@dataclass
class Row:
    key: str
    calls: int = 0
    failed: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = ZERO
    unpriced: int = 0  # calls whose cost is unknown (model without a price)
    latencies: list[float] = field(default_factory=list)  # cache hits excluded

    def add(self, record: dict[str, Any]) -> None:
        self.calls += 1
        self.failed += record["status"] in ("failed", "interrupted")
        self.cache_hits += record["cache_hit"]
        for name in ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens"):
            setattr(self, name, getattr(self, name) + int(record[name] or 0))
        if record["cost"] is None:
            self.unpriced += 1
        else:
            self.cost += record["cost"]
        if not record["cache_hit"] and record["latency_s"] is not None and record["status"] != "failed":
            self.latencies.append(record["latency_s"])

    def to_dict(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {
            "key": self.key,
            "calls": self.calls,
            "failed": self.failed,
            "cache_hits": self.cache_hits,
            "input_tokens": self.input_tokens,
            "cached_tokens": self.cached_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost_usd": str(self.cost),
            "unpriced_calls": self.unpriced,
            "latency_p50_s": round(statistics.median(lat), 4) if lat else None,
            "latency_p95_s": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 4) if lat else None,
        }


def group(records: list[dict[str, Any]], by: str) -> list[Row]:
    column = GROUPS[by]
    rows: dict[str, Row] = {}
    for record in records:
        key = str(record[column] if record[column] is not None else "-")
        rows.setdefault(key, Row(key)).add(record)
    return sorted(rows.values(), key=lambda r: r.key)


def total(records: list[dict[str, Any]]) -> Row:
    row = Row("total")
    for record in records:
        row.add(record)
    return row


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


def records_since(settings: Settings, since: float | None) -> list[dict[str, Any]]:
    from unyo._records._store import store_for

    return query(store_for(settings), limit=None, since=since, oldest_first=True)
