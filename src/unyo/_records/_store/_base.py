"""The store interface and what both implementations share: migrations and row conversion."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from unyo._records._store._schema import MIGRATIONS


class Tx:
    """A transaction: `execute` runs portable SQL (`?` placeholders) and returns the rows."""

    def __init__(self, cursor: Any, placeholder: str, money_as_text: bool = False) -> None:
        self._cursor = cursor
        self._placeholder = placeholder
        self._money_as_text = money_as_text  # SQLite has no exact decimal type: keep Decimals as TEXT

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._placeholder != "?":
            sql = sql.replace("?", self._placeholder)
        self._cursor.execute(sql, [self._adapt(p) for p in params])
        return list(self._cursor.fetchall()) if self._cursor.description else []

    def _adapt(self, value: Any) -> Any:
        if isinstance(value, bool):
            return int(value)
        if self._money_as_text and isinstance(value, Decimal):
            return str(value)
        return value


def money(value: Any) -> Decimal | None:
    """A money column as Decimal, whatever the backend stored (TEXT or NUMERIC)."""
    return None if value is None else Decimal(str(value))


class Store:
    """Base class: a connection per thread (and per process, so a fork never shares one)."""

    dialect = "?"
    placeholder = "?"
    types: dict[str, str] = {}

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def location(self) -> str:
        raise NotImplementedError

    def _connect(self) -> Any:
        raise NotImplementedError

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid() or getattr(conn, "closed", False):
            conn = self._connect()
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def tx(self, write: bool = True) -> Iterator[Tx]:
        """One transaction. `write=True` takes the write lock up front (no upgrade deadlocks)."""
        raise NotImplementedError
        yield  # pragma: no cover

    def lock_rows(self) -> str:
        """The clause that locks selected rows until commit ("" where the tx already serialises)."""
        return ""

    def migrate(self) -> None:
        """Apply the append-only migrations not yet applied, under the write lock."""
        with self.tx() as tx:
            self._lock_migrations(tx)
            tx.execute("CREATE TABLE IF NOT EXISTS unyo_schema (version INTEGER NOT NULL)")
            rows = tx.execute("SELECT MAX(version) FROM unyo_schema")
            current = rows[0][0] or 0
            for version, sql in MIGRATIONS:
                if version <= current:
                    continue
                for statement in sql.format(**self.types).split(";"):
                    if statement.strip():
                        tx.execute(statement)
                tx.execute("INSERT INTO unyo_schema (version) VALUES (?)", [version])

    def _lock_migrations(self, tx: Tx) -> None:
        pass

    def schema_version(self) -> int:
        with self.tx(write=False) as tx:
            return int(tx.execute("SELECT MAX(version) FROM unyo_schema")[0][0] or 0)
