"""Where unyo keeps state shared between calls, threads and processes: the ledger, the audit log,
the response cache. One interface, two implementations:

    SQLite      default, `UNYO_HOME/unyo.db` (dir 0700, file 0600, WAL): threads, asyncio tasks
                and several processes on one host
    PostgreSQL  `UNYO_DB_URL=postgresql://...`: several hosts sharing one budget

Callers write portable SQL with `?` placeholders inside `store.tx()`; the dialect differences
(placeholders, write locks, column types) live in this package and nowhere else.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from unyo._records._store._base import Store, Tx
from unyo._types._errors import ConfigError
from unyo._types._messages import Message

if TYPE_CHECKING:
    from unyo._core._config import Settings

__all__ = ["Store", "Tx", "open_store", "store_for"]

_stores: dict[str, Store] = {}
_lock = threading.Lock()


def open_store(url: str) -> Store:
    """A store for `sqlite:///path` or `postgresql://...`, shared within the process."""
    with _lock:
        store = _stores.get(url)
        if store is None:
            if url.startswith(("postgresql://", "postgres://")):
                from unyo._records._store._postgres import PostgresStore

                store = PostgresStore(url)
            elif url.startswith("sqlite:///"):
                from unyo._records._store._sqlite import SqliteStore

                store = SqliteStore(Path(url.removeprefix("sqlite:///")))
            else:
                raise ConfigError(Message("store.bad_url", scheme=url.split(":", 1)[0]))
            store.migrate()
            _stores[url] = store
        return store


def url_for(settings: Settings) -> str:
    return settings.db_url or f"sqlite:///{settings.home / 'unyo.db'}"


def store_for(settings: Settings) -> Store:
    return open_store(url_for(settings))
