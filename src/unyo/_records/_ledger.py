"""The ledger: money reserved and spent, per scope and period, and one record per call.

    reserve(call)  -> in one write transaction: release expired reservations' holds, lock the
                      counter rows, check every limit (spent + reserved + asked <= limit), add
                      the hold to every counter, remember the reservation
    settle(...)    -> in one write transaction: release the hold (if it still exists), add the
                      actual cost to `spent` on every counter, write the call's audit record
                      (the pipeline's finisher that prices the call is `_money._settle`)

Counters exist for every scope a call touches (all, user:U, tag:T × day, month), whether a limit
is set or not, so a limit added mid-month sees the month's spend. A reservation whose process
died (kill -9) is released when it expires, or at once when its owner pid is gone on this host.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from unyo._core._limits import Check
from unyo._records import _rollup
from unyo._records._store import Store, Tx, store_for
from unyo._records._store._base import money

if TYPE_CHECKING:
    from unyo._core._config import Settings

ZERO = Decimal(0)
HOLD_GRACE_S = 600.0  # a reservation outlives its call's deadline by this much (streams run on)
SWEEP_EVERY_S = 30.0  # how often a process looks for expired holds (not on every call)
OWNER = f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Outcome:
    refused: tuple[Check, Decimal, Decimal] | None = None  # the check that failed, spent, reserved
    crossed: list[tuple[Check, Decimal, Decimal]] = field(default_factory=list)  # soft threshold
    warning: str | None = None  # the message for the last threshold crossed (see _budget.hold)


class Ledger:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._next_sweep = 0.0  # when this process next releases expired and orphaned holds

    # --- holds ------------------------------------------------------------------------------

    def reserve(
        self,
        rid: str,
        asked: Decimal,
        checks: Sequence[Check],
        keys: Sequence[tuple[str, str]],
        soft: float,
        deadline_s: float,
        owner: str | None = None,
    ) -> Outcome:
        """`owner` is host:pid for a call (released when that process is gone); a hold that must
        outlive its process (a provider batch) names something else."""
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_EVERY_S
            self.release_orphans()
            self.expire()
        outcome = Outcome()
        with self.store.tx() as tx:
            # lock every row this reservation touches, in one global order, before anything else:
            # two reservations can then never hold each other's rows (no deadlock on PostgreSQL)
            rows = self._counters(tx, sorted(set(keys) | {(c.scope, c.period) for c in checks}))
            for check in checks:
                spent, reserved = rows[(check.scope, check.period)]
                if spent + reserved + asked > check.limit.usd:
                    outcome.refused = (check, spent, reserved)
                    return outcome  # the transaction commits nothing but the expiry
            self._shift(tx, keys, reserved=asked)
            now = time.time()
            tx.execute(
                "INSERT INTO unyo_reservations (id, amount, keys, owner, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [rid, asked, json.dumps(keys), owner or OWNER, now, now + deadline_s + HOLD_GRACE_S],
            )
            for check in checks:
                spent, reserved = rows[(check.scope, check.period)]
                used = spent + reserved + asked
                if check.limit.usd and used >= check.limit.usd * Decimal(str(soft)) and self._first_warning(tx, check):
                    outcome.crossed.append((check, spent, reserved + asked))
        return outcome

    def _counters(self, tx: Tx, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
        """Lock (PostgreSQL) and read the counter rows, creating missing ones at zero."""
        self._ensure(tx, keys)
        out = {}
        for scope, period in keys:  # sorted: every transaction locks rows in the same order
            row = tx.execute(
                f"SELECT spent, reserved FROM unyo_counters WHERE scope = ? AND period = ?{self.store.lock_rows()}",
                [scope, period],
            )
            out[(scope, period)] = (money(row[0][0]) or ZERO, money(row[0][1]) or ZERO)
        return out

    def _ensure(self, tx: Tx, keys: Sequence[tuple[str, str]]) -> None:
        for scope, period in keys:
            tx.execute(
                "INSERT INTO unyo_counters (scope, period, spent, reserved) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [scope, period, ZERO, ZERO],
            )

    def _shift(self, tx: Tx, keys: Sequence[tuple[str, str]], reserved: Decimal = ZERO, spent: Decimal = ZERO) -> None:
        """Add to the counters (read-modify-write in Python keeps SQLite's TEXT decimals exact)."""
        for scope, period in sorted(keys):
            row = tx.execute(
                f"SELECT spent, reserved FROM unyo_counters WHERE scope = ? AND period = ?{self.store.lock_rows()}",
                [scope, period],
            )
            new_spent = (money(row[0][0]) or ZERO) + spent
            new_reserved = max(ZERO, (money(row[0][1]) or ZERO) + reserved)
            tx.execute(
                "UPDATE unyo_counters SET spent = ?, reserved = ? WHERE scope = ? AND period = ?",
                [new_spent, new_reserved, scope, period],
            )

    def _release(self, tx: Tx, rid: str) -> bool:
        row = tx.execute(f"SELECT amount, keys FROM unyo_reservations WHERE id = ?{self.store.lock_rows()}", [rid])
        if not row:
            return False
        amount, keys = money(row[0][0]) or ZERO, [tuple(k) for k in json.loads(row[0][1])]
        self._shift(tx, keys, reserved=-amount)
        tx.execute("DELETE FROM unyo_reservations WHERE id = ?", [rid])
        return True

    def transfer(self, rid: str, new_rid: str, owner: str, hold_s: float) -> bool:
        """Hand a call's hold to something that outlives the call (a fine-tuning job): a new id,
        owner and expiry, the same amount on the same counters. False: no such hold."""
        with self.store.tx() as tx:
            if not tx.execute(f"SELECT 1 FROM unyo_reservations WHERE id = ?{self.store.lock_rows()}", [rid]):
                return False
            tx.execute(
                "UPDATE unyo_reservations SET id = ?, owner = ?, expires_at = ? WHERE id = ?",
                [new_rid, owner, time.time() + hold_s, rid],
            )
        return True

    def expire(self) -> int:
        """Release holds past their expiry, one transaction per hold (so lock order stays global)."""
        with self.store.tx(write=False) as tx:
            expired = [
                rid for (rid,) in tx.execute("SELECT id FROM unyo_reservations WHERE expires_at < ?", [time.time()])
            ]
        released = 0
        for rid in expired:
            with self.store.tx() as tx:
                released += self._release(tx, rid)
        return released

    def release_orphans(self) -> int:
        """Release holds of processes on this host that no longer exist (a crashed batch)."""
        host = socket.gethostname()
        released = 0
        with self.store.tx(write=False) as tx:
            rows = tx.execute("SELECT id, owner FROM unyo_reservations")
        for rid, owner in rows:
            owner_host, _, pid = str(owner).rpartition(":")
            if owner_host == host and pid.isdigit() and not _alive(int(pid)):
                with self.store.tx() as tx:
                    released += self._release(tx, rid)
        return released

    def _first_warning(self, tx: Tx, check: Check) -> bool:
        before = tx.execute("SELECT 1 FROM unyo_warnings WHERE scope = ? AND period = ?", [check.scope, check.period])
        if before:
            return False
        tx.execute(
            "INSERT INTO unyo_warnings (scope, period) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [check.scope, check.period],
        )
        return True

    # --- settle -----------------------------------------------------------------------------

    def settle(
        self,
        rid: str,
        cost: Decimal | None,
        keys: Sequence[tuple[str, str]],
        record: dict[str, Any] | None,
        once: bool = False,
    ) -> bool:
        """False (and nothing written) when `once` and the call is already recorded: a replayed
        batch answer is charged exactly once however often its collection is resumed."""
        with self.store.tx() as tx:
            if once and tx.execute("SELECT 1 FROM unyo_calls WHERE id = ?", [rid]):
                return False
            self._release(tx, rid)
            if cost:
                self._ensure(tx, keys)
                self._shift(tx, keys, spent=cost)
            if record is not None:
                self._insert(tx, record)
        return True

    def _insert(self, tx: Tx, record: dict[str, Any]) -> None:
        columns = list(record)
        tx.execute(
            f"INSERT INTO unyo_calls ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
            [record[c] for c in columns],
        )
        _rollup.record(tx, self.store, [record])

    def record_many(self, entries: Sequence[tuple[Decimal | None, Sequence[tuple[str, str]], dict[str, Any]]]) -> None:
        """The bulk write path: settle many calls that held no reservation (an import, a benchmark's
        ledger) in one transaction: their records in one statement, their spend added to the
        counters and rollups once per key instead of once per call."""
        if not entries:
            return
        spend: dict[tuple[str, str], Decimal] = {}
        for cost, keys, _record in entries:
            for key in keys:
                spend[key] = spend.get(key, ZERO) + (cost or ZERO)
        columns = list(entries[0][2])
        with self.store.tx() as tx:
            self._ensure(tx, sorted(spend))
            for key in sorted(spend):
                self._shift(tx, [key], spent=spend[key])
            tx.executemany(
                f"INSERT INTO unyo_calls ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                ([record[c] for c in columns] for _cost, _keys, record in entries),
            )
            _rollup.record(tx, self.store, (record for _cost, _keys, record in entries))

    # --- reading ----------------------------------------------------------------------------

    def counters(self, periods: Sequence[str]) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
        with self.store.tx(write=False) as tx:
            rows = tx.execute(
                "SELECT scope, period, spent, reserved FROM unyo_counters "
                f"WHERE period IN ({', '.join('?' for _ in periods)})",
                list(periods),
            )
        return {(r[0], r[1]): (money(r[2]) or ZERO, money(r[3]) or ZERO) for r in rows}

    def reservations(self) -> list[dict[str, Any]]:
        with self.store.tx(write=False) as tx:
            rows = tx.execute(
                "SELECT id, amount, owner, created_at, expires_at FROM unyo_reservations ORDER BY created_at"
            )
        return [
            {"id": r[0], "amount": money(r[1]), "owner": r[2], "created_at": r[3], "expires_at": r[4]} for r in rows
        ]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_ledgers: dict[int, Ledger] = {}


def ledger_for(settings: Settings) -> Ledger:
    store = store_for(settings)
    ledger = _ledgers.get(id(store))
    if ledger is None:
        ledger = _ledgers[id(store)] = Ledger(store)
    return ledger
