"""SQLite store: one file in UNYO_HOME, safe across threads and processes on one host.

Writes use `BEGIN IMMEDIATE`, which takes the database's write lock before reading, so a
read-check-write sequence (a budget reservation) is atomic against every other connection,
in this process or another. WAL lets readers proceed meanwhile.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from unyo._records._store._base import Store, Tx
from unyo._types._errors import ConfigError
from unyo._types._messages import Message, os_reason

BUSY_TIMEOUT_S = 60.0


def _private_file(path: Path) -> None:
    """The database file 0600, created that way (no window where it is readable by others).

    Directories unyo creates on the way are made 0700. A directory that already existed is
    the user's (the working directory, a shared /srv/data, a sticky /tmp): its mode is left
    alone, with a warning when other users can list it."""
    try:
        missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        for folder in reversed(missing):
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)
        if not missing:
            mode = stat.S_IMODE(path.parent.stat().st_mode)
            if mode & 0o077:
                import warnings

                warnings.warn(
                    f"{path.parent} is mode {mode:o}: other users can see that unyo keeps a database there "
                    f"(the file itself is 0600). Point UNYO_DB_URL / UNYO_HOME at a private directory, or chmod 700 it",
                    UserWarning,
                    stacklevel=4,
                )
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
    except OSError as exc:
        raise ConfigError(Message("store.sqlite_unwritable", path=path, reason=os_reason(exc))) from None


def _money_add(a: str | None, b: str | None) -> str:
    """Exact decimal addition for money kept as TEXT (SQLite's own `+` would go through floats)."""
    return str(Decimal(a or 0) + Decimal(b or 0))


class _MoneySum:
    """Exact SUM of a TEXT money column."""

    def __init__(self) -> None:
        self.total = Decimal(0)
        self.seen = False

    def step(self, value: str | None) -> None:
        if value is not None:
            self.total += Decimal(value)
            self.seen = True

    def finalize(self) -> str | None:
        return str(self.total) if self.seen else None


class SqliteStore(Store):
    dialect = "sqlite"
    placeholder = "?"
    types = {"money": "TEXT", "real": "REAL", "bigint": "INTEGER"}
    # SQLite has no queue for its write lock: a waiting connection retries every <= 100 ms, so a
    # job that takes the lock again at once could keep it from a reservation for seconds
    batch_pause_s = 0.1

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        _private_file(path)

    @property
    def location(self) -> str:
        return str(self.path)

    def money_add(self, a: str, b: str) -> str:
        return f"unyo_money_add({a}, {b})"

    def money_sum(self, column: str) -> str:
        return f"unyo_money_sum({column})"

    def _connect(self) -> Any:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # durable at every checkpoint; no fsync per commit
        conn.create_function("unyo_money_add", 2, _money_add, deterministic=True)
        conn.create_aggregate("unyo_money_sum", 1, _MoneySum)
        for suffix in ("-wal", "-shm"):
            sidecar = Path(f"{self.path}{suffix}")
            if sidecar.exists():
                os.chmod(sidecar, 0o600)
        return conn

    @contextmanager
    def tx(self, write: bool = True) -> Iterator[Tx]:
        conn = self._connection()
        cursor = conn.cursor()
        cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield Tx(cursor, "?", money_as_text=True)
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cursor.close()
