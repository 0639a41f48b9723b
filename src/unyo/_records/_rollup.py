"""Rollups: the calls summed per UTC day and hour and per dimension, so reports never read every call.

One row per (slot, budget day, dimension, value) in `unyo_rollups` (slot = UTC hour, `ts // 3600`
of the call's start) and in `unyo_rollups_daily` (slot = UTC day, `ts // 86400`); the dimensions
are `all`, `model`, `role`, `user`, `tag`, `status` and `api`. The rows change in the transaction
that writes or deletes the calls (`record`, `remove`), so they always equal a sum over
`unyo_calls`. A report since any moment reads the whole days from the daily rollups, the whole
hours before them from the hourly ones, and the part-hour before those from the calls
themselves (at most an hour of rows): a month is ~30 x 90 rows, not a million.

Listing models (api `models`) is not a billable call: such records count only under
(`api`, `models`), never in the totals or the other dimensions.

Latency percentiles come from a histogram of fixed log-spaced buckets, summed like the counts:
bucket 0 is under 10 ms, bucket i (1..64) is [10 ms * 2^((i-1)/4), 10 ms * 2^(i/4)), bucket 65
is 655.36 s and over. A percentile is reported as the geometric middle of its bucket, so it is
within a factor 2^(1/8) (about +-9 %) of the exact value between 10 ms and 655 s.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from unyo._records._store._base import money

if TYPE_CHECKING:
    from unyo._records._store import Store, Tx

ZERO = Decimal(0)
BUCKETS = 66
LOW_S = 0.01  # the top of bucket 0
STEPS_PER_DOUBLING = 4
DIMS = {"model": "model", "role": "role", "user": "user_id", "tag": "tag", "status": "status", "api": "api"}
NOT_BILLABLE = ("models",)  # apis whose records are not calls: listing models
# what a rollup needs from a call record (a row of unyo_calls, or the dict written for one)
FIELDS = (
    "ts", "day", "api", "model", "role", "user_id", "tag", "status", "cache_hit", "cost", "latency_s",
    "input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens",
)  # fmt: skip
COUNTS = ("calls", "failed", "cache_hits", "input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens")
HIST = tuple(f"h{i}" for i in range(BUCKETS))
KEY = ("slot", "day", "dim", "value")
HOURLY, DAILY = "unyo_rollups", "unyo_rollups_daily"


def bucket(latency_s: float) -> int:
    if latency_s < LOW_S:
        return 0
    return min(BUCKETS - 1, 1 + int(math.floor(math.log2(latency_s / LOW_S) * STEPS_PER_DOUBLING)))


def bucket_value(i: int) -> float:
    """What a percentile falling in bucket `i` is reported as."""
    if i == 0:
        return LOW_S
    if i == BUCKETS - 1:
        return LOW_S * 2 ** ((BUCKETS - 2) / STEPS_PER_DOUBLING)
    return LOW_S * 2 ** ((i - 0.5) / STEPS_PER_DOUBLING)


@dataclass
class Sums:
    calls: int = 0
    failed: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = ZERO
    unpriced: int = 0  # calls whose cost is unknown (model without a price)
    hist: list[int] = field(default_factory=lambda: [0] * BUCKETS)  # latencies, cache hits and failures excluded

    def add(self, record: dict[str, Any], sign: int = 1) -> None:
        self.calls += sign
        self.failed += sign * (record["status"] in ("failed", "interrupted"))
        self.cache_hits += sign * bool(record["cache_hit"])
        self.input_tokens += sign * int(record["input_tokens"] or 0)
        self.cached_tokens += sign * int(record["cached_tokens"] or 0)
        self.output_tokens += sign * int(record["output_tokens"] or 0)
        self.reasoning_tokens += sign * int(record["reasoning_tokens"] or 0)
        cost = money(record["cost"])
        if cost is None:
            self.unpriced += sign
        else:
            self.cost += sign * cost
        if not record["cache_hit"] and record["latency_s"] is not None and record["status"] != "failed":
            self.hist[bucket(float(record["latency_s"]))] += sign

    def merge(self, other: Sums) -> None:
        for name in (*COUNTS, "unpriced"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.cost += other.cost
        self.hist = list(map(operator.add, self.hist, other.hist))

    def percentile(self, q: float) -> float | None:
        """The bucket value holding the same rank as the in-memory report used: the lower median
        for p50, element int(0.95 n) for p95."""
        n = sum(self.hist)
        if not n:
            return None
        rank = (n - 1) // 2 if q == 0.5 else min(n - 1, int(q * n))
        seen = 0
        for i, count in enumerate(self.hist):
            seen += count
            if seen > rank:
                return bucket_value(i)
        return bucket_value(BUCKETS - 1)  # pragma: no cover - the counts add up to n

    def to_dict(self, key: str) -> dict[str, Any]:
        p50, p95 = self.percentile(0.5), self.percentile(0.95)
        return {
            "key": key,
            "calls": self.calls,
            "failed": self.failed,
            "cache_hits": self.cache_hits,
            "input_tokens": self.input_tokens,
            "cached_tokens": self.cached_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost_usd": str(self.cost),
            "unpriced_calls": self.unpriced,
            "latency_p50_s": round(p50, 4) if p50 is not None else None,
            "latency_p95_s": round(p95, 4) if p95 is not None else None,
        }


def _value(value: Any) -> str:
    return str(value) if value is not None else "-"


def contributions(record: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The (dimension, value) pairs a call is counted under."""
    yield "api", _value(record["api"])
    if record["api"] in NOT_BILLABLE:
        return
    yield "all", ""
    for dim, column in DIMS.items():
        if dim != "api":
            yield dim, _value(record[column])


Changes = dict[tuple[int, str, str, str], Sums]


def deltas(records: Iterable[dict[str, Any]], sign: int = 1) -> Changes:
    """What the calls add to the hourly rollups (`sign=-1`: what removing them takes away)."""
    out: Changes = {}
    for record in records:
        hour, day = int(record["ts"] // 3600), str(record["day"])
        for dim, value in contributions(record):
            key = (hour, day, dim, value)
            sums = out.get(key)
            if sums is None:
                sums = out[key] = Sums()
            sums.add(record, sign)
    return out


def daily(hourly: Changes) -> Changes:
    out: Changes = {}
    for (hour, day, dim, value), sums in hourly.items():
        out.setdefault((hour // 24, day, dim, value), Sums()).merge(sums)
    return out


def _upsert_sql(store: Store, table: str, buckets: tuple[int, ...]) -> str:
    hist = [HIST[i] for i in buckets]  # only the buckets that change: the others start at 0 and stay
    columns = (*KEY, *COUNTS, "cost", "unpriced", *hist)
    updates = [f"{c} = {table}.{c} + excluded.{c}" for c in (*COUNTS, "unpriced", *hist)]
    updates.append(f"cost = {store.money_add(f'{table}.cost', 'excluded.cost')}")
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
        f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {', '.join(updates)}"
    )


def _apply(tx: Tx, store: Store, table: str, changes: Changes) -> None:
    keys = sorted(changes)  # in key order: concurrent writers lock rows in one order
    buckets = tuple(i for i, counts in enumerate(zip(*(changes[k].hist for k in keys))) if any(counts))
    tx.executemany(
        _upsert_sql(store, table, buckets),
        (
            [*key, *(getattr(s, c) for c in COUNTS), s.cost, s.unpriced, *(s.hist[i] for i in buckets)]
            for key in keys
            for s in (changes[key],)
        ),
    )
    emptied = [key for key in keys if changes[key].calls < 0]
    if emptied:
        tx.executemany(
            f"DELETE FROM {table} WHERE slot = ? AND day = ? AND dim = ? AND value = ? AND calls = 0", emptied
        )


def apply(tx: Tx, store: Store, changes: Changes) -> None:
    """Add hourly changes to both rollups; rows left with no calls are deleted. One call changes
    one histogram bucket, so settling it sends 14 values per row, not 80."""
    if changes:
        _apply(tx, store, DAILY, daily(changes))
        _apply(tx, store, HOURLY, changes)


def record(tx: Tx, store: Store, records: Iterable[dict[str, Any]]) -> None:
    """Count calls just written to unyo_calls (same transaction)."""
    apply(tx, store, deltas(records))


def remove(tx: Tx, store: Store, records: Iterable[dict[str, Any]]) -> None:
    """Uncount calls being deleted from unyo_calls (same transaction)."""
    apply(tx, store, deltas(records, sign=-1))


def backfill(tx: Tx, store: Store) -> None:
    """Migration 4: the rollups of the calls already recorded, read a page at a time."""
    rows = tx.stream(f"SELECT {', '.join(FIELDS)} FROM unyo_calls")
    apply(tx, store, deltas(dict(zip(FIELDS, row, strict=True)) for row in rows))


# --- reading ------------------------------------------------------------------------------------


@dataclass
class Report:
    total: Sums
    groups: dict[str, dict[str, Sums]]  # 'day' and every dimension -> value -> sums
    not_billable: dict[str, int]  # api -> records that are not calls (listing models)


def _sums(values: tuple[Any, ...]) -> Sums:
    counts = [int(v or 0) for v in values[: len(COUNTS)]]
    cost = money(values[len(COUNTS)]) or ZERO
    unpriced = int(values[len(COUNTS) + 1] or 0)
    hist = [int(v or 0) for v in values[len(COUNTS) + 2 :]]
    return Sums(*counts, cost=cost, unpriced=unpriced, hist=hist)  # type: ignore[arg-type]


def _aggregates(store: Store) -> str:
    return ", ".join(
        [*(f"SUM({c})" for c in COUNTS), store.money_sum("cost"), "SUM(unpriced)", *(f"SUM({h})" for h in HIST)]
    )


def read(store: Store, since: float | None) -> Report:
    """Totals and groups of the calls since `since` (all when None): whole UTC days from the
    daily rollups, whole hours before them from the hourly ones, the part-hour before those
    from the calls themselves."""
    if since is None:
        parts = [(DAILY, "1 = 1", [])]
    else:
        first_day, first_hour = math.ceil(since / 86400), math.ceil(since / 3600)
        parts = [(DAILY, "slot >= ?", [first_day]), (HOURLY, "slot >= ? AND slot < ?", [first_hour, first_day * 24])]
    groups: dict[str, dict[str, Sums]] = {"day": {}}

    def add(dim: str, value: str, sums: Sums) -> None:
        found = groups.setdefault(dim, {}).get(value)
        if found is None:
            groups[dim][value] = sums
        else:
            found.merge(sums)

    aggregates = _aggregates(store)
    with store.tx(write=False) as tx:
        for table, where, params in parts:
            for dim, value, *values in tx.execute(
                f"SELECT dim, value, {aggregates} FROM {table} WHERE {where} AND dim <> 'all' GROUP BY dim, value",
                params,
            ):
                add(dim, value, _sums(tuple(values)))
            for day, *values in tx.execute(
                f"SELECT day, {aggregates} FROM {table} WHERE {where} AND dim = 'all' GROUP BY day", params
            ):
                add("day", day, _sums(tuple(values)))
        if since is not None and since < first_hour * 3600:
            for row in tx.stream(
                f"SELECT {', '.join(FIELDS)} FROM unyo_calls WHERE ts >= ? AND ts < ?", [since, first_hour * 3600]
            ):
                rec = dict(zip(FIELDS, row, strict=True))
                for dim, value in contributions(rec):
                    key, value = ("day", str(rec["day"])) if dim == "all" else (dim, value)
                    groups.setdefault(key, {}).setdefault(value, Sums()).add(rec)
    total = Sums()
    for sums in groups["day"].values():
        total.merge(sums)
    not_billable = {api: groups.get("api", {}).pop(api).calls for api in NOT_BILLABLE if api in groups.get("api", {})}
    return Report(total, groups, not_billable)
