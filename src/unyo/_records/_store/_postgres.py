"""PostgreSQL store: one budget and one audit log shared by several hosts.

Reservations lock the counter rows they check (`SELECT ... FOR UPDATE`, always in key order so
two reservations cannot deadlock), so concurrent reservations from any host are serialised
per counter while unrelated ones proceed in parallel.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from unyo._records._store._base import Store, Tx
from unyo._types._errors import ConfigError
from unyo._types._messages import Message

MIGRATION_LOCK = 7_311_975_101  # pg_advisory_xact_lock key: one migrator at a time
_names = itertools.count()  # server-side cursors of one connection need distinct names


class PostgresStore(Store):
    dialect = "postgresql"
    placeholder = "%s"
    types = {"money": "NUMERIC", "real": "DOUBLE PRECISION", "bigint": "BIGINT"}

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    @property
    def location(self) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        return f"postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}"  # never the password

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            detail = str(exc).strip().splitlines()[0]
            raise ConfigError(Message("store.pg_unreachable", where=self.location, detail=detail)) from None

    @contextmanager
    def tx(self, write: bool = True) -> Iterator[Tx]:
        conn = self._connection()
        with conn.transaction(), conn.cursor() as cursor:
            yield Tx(cursor, "%s", stream_cursor=lambda: conn.cursor(name=f"unyo_stream_{next(_names)}"))

    def lock_rows(self) -> str:
        return " FOR UPDATE"

    def _lock_migrations(self, tx: Tx) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(?)", [MIGRATION_LOCK])
