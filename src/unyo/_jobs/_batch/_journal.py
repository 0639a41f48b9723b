"""The batch journal: one SQLite file beside the output (`OUTPUT.journal`, 0600) recording each
row's outcome the moment it is known, in its own transaction. After Ctrl-C, a crash or
`kill -9`, the same command reads it and runs only what is missing, so every row is done once.

A row is keyed by a stable id (the `--id-column` value, else its position) and carries a hash of
its content: a resumed run refuses an input file whose rows changed under the journal.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from unyo._types._errors import BadInput

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    status TEXT NOT NULL,          -- ok | failed
    result TEXT,                   -- the task's output (JSON)
    error TEXT,
    cost TEXT,
    calls INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    updated REAL NOT NULL
);
-- `--via batch-api`: a submission is recorded before its batch is created, so a crash in between
-- is adopted on resume (the batch carries metadata unyo_submission = id), never submitted twice
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY,
    batch_id TEXT,                 -- the provider's, once created
    input_file_id TEXT,
    endpoint TEXT NOT NULL,
    hold TEXT,                     -- the ledger reservation for its worst case
    state TEXT NOT NULL,           -- open | collected | failed
    detail TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS submitted (
    submission TEXT NOT NULL,
    row_id TEXT NOT NULL,
    body_hash TEXT NOT NULL,       -- the request sent; a replay must rebuild exactly this request
    PRIMARY KEY (submission, row_id)
);
"""


class Journal:
    def __init__(self, path: Path, meta: dict[str, str]) -> None:
        self.path = path
        fresh = not path.exists()
        if fresh:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        stored = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if stored:
            for key in ("task", "column", "id_column"):
                if stored.get(key) != meta.get(key):
                    raise BadInput(
                        f"{path} belongs to another run ({key} {stored.get(key)!r}, now {meta.get(key)!r}); "
                        "use another --output, or --restart to discard it"
                    )
        else:
            with self._lock:
                self._db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(meta.items()))

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def done(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, hash, status, result, error, cost, calls, attempts FROM rows"
            ).fetchall()
        return {
            r[0]: {
                "hash": r[1],
                "status": r[2],
                "result": json.loads(r[3]) if r[3] else None,
                "error": r[4],
                "cost": Decimal(r[5]) if r[5] else None,
                "calls": r[6],
                "attempts": r[7],
            }
            for r in rows
        }

    def record(
        self,
        row_id: str,
        row_hash: str,
        status: str,
        result: Any,
        error: str | None,
        cost: Decimal | None,
        calls: int,
        attempts: int,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO rows (id, hash, status, result, error, cost, calls, attempts, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, status = excluded.status, "
                "result = excluded.result, error = excluded.error, cost = excluded.cost, "
                "calls = rows.calls + excluded.calls, attempts = rows.attempts + excluded.attempts, "
                "updated = excluded.updated",
                [
                    row_id,
                    row_hash,
                    status,
                    None if result is None else json.dumps(result, ensure_ascii=False, default=str),
                    error,
                    None if cost is None else str(cost),
                    calls,
                    attempts,
                    time.time(),
                ],
            )

    # --- provider batches ----------------------------------------------------------------------

    def add_submission(self, sub_id: str, endpoint: str, hold: str | None, rows: list[tuple[str, str]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO submissions (id, endpoint, hold, state, created) VALUES (?, ?, ?, 'open', ?)",
                [sub_id, endpoint, hold, time.time()],
            )
            self._db.executemany(
                "INSERT INTO submitted (submission, row_id, body_hash) VALUES (?, ?, ?)",
                [(sub_id, r, h) for r, h in rows],
            )
            self._db.execute("COMMIT")

    def set_batch(self, sub_id: str, batch_id: str, input_file_id: str | None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE submissions SET batch_id = ?, input_file_id = ? WHERE id = ?", [batch_id, input_file_id, sub_id]
            )

    def close_submission(self, sub_id: str, state: str, detail: str | None = None) -> None:
        with self._lock:
            self._db.execute("UPDATE submissions SET state = ?, detail = ? WHERE id = ?", [state, detail, sub_id])

    def open_submissions(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, batch_id, input_file_id, endpoint, hold, created FROM submissions WHERE state = 'open' "
                "ORDER BY created"
            ).fetchall()
        return [
            {"id": r[0], "batch_id": r[1], "input_file_id": r[2], "endpoint": r[3], "hold": r[4], "created": r[5]}
            for r in rows
        ]

    def in_open_submissions(self) -> set[str]:
        """Ids of the rows waiting in a provider batch (not to be sent again)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT row_id FROM submitted JOIN submissions ON submissions.id = submission WHERE state = 'open'"
            ).fetchall()
        return {r[0] for r in rows}

    def submitted(self, sub_id: str) -> dict[str, str]:
        """row id -> the hash of the request body sent for it."""
        with self._lock:
            return dict(
                self._db.execute("SELECT row_id, body_hash FROM submitted WHERE submission = ?", [sub_id]).fetchall()
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
