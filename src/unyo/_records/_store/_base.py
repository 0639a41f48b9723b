"""The store interface and what both implementations share: migrations and row conversion."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from unyo._records._store._schema import BACKFILLS, MIGRATIONS

_ADAPTED = (bool, Decimal)  # the only parameter types `_adapt` changes


class Tx:
    """A transaction: `execute` runs portable SQL (`?` placeholders) and returns the rows."""

    def __init__(
        self,
        cursor: Any,
        placeholder: str,
        money_as_text: bool = False,
        stream_cursor: Callable[[], Any] | None = None,
    ) -> None:
        self._cursor = cursor
        self._placeholder = placeholder
        self._money_as_text = money_as_text  # SQLite has no exact decimal type: keep Decimals as TEXT
        self._stream_cursor = stream_cursor  # a cursor that fetches from the server in pages (PostgreSQL)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self._placeholder) if self._placeholder != "?" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(self._sql(sql), [self._adapt(p) for p in params])
        return list(self._cursor.fetchall()) if self._cursor.description else []

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """One statement for many parameter rows (the bulk write path)."""
        adapt = self._adapt
        self._cursor.executemany(
            self._sql(sql), [[adapt(p) if isinstance(p, _ADAPTED) else p for p in row] for row in rows]
        )

    def stream(self, sql: str, params: Sequence[Any] = (), page: int = 2000) -> Iterator[tuple[Any, ...]]:
        """The rows of a query a page at a time, never all in memory (exports, backfills)."""
        if self._stream_cursor is None:
            cursor = self._cursor.connection.cursor()
            try:
                cursor.execute(self._sql(sql), [self._adapt(p) for p in params])
                while rows := cursor.fetchmany(page):
                    yield from rows
            finally:
                cursor.close()
            return
        with self._stream_cursor() as cursor:
            cursor.itersize = page
            cursor.execute(self._sql(sql), [self._adapt(p) for p in params])
            yield from cursor

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
    # how long a long job writing in batches (logs prune) leaves the write lock free between two of
    # its transactions, so that writers waiting for it (budget reservations) get their turn
    batch_pause_s = 0.0

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

    def money_add(self, a: str, b: str) -> str:
        """SQL for the exact sum of two money columns (SQLite keeps them as TEXT)."""
        return f"{a} + {b}"

    def money_sum(self, column: str) -> str:
        """SQL for the exact SUM of a money column, as an aggregate."""
        return f"SUM({column})"

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
                if version in BACKFILLS:
                    import importlib

                    module, _, name = BACKFILLS[version].partition(":")
                    getattr(importlib.import_module(module), name)(tx, self)
                tx.execute("INSERT INTO unyo_schema (version) VALUES (?)", [version])

    def _lock_migrations(self, tx: Tx) -> None:
        pass

    def schema_version(self) -> int:
        with self.tx(write=False) as tx:
            return int(tx.execute("SELECT MAX(version) FROM unyo_schema")[0][0] or 0)
