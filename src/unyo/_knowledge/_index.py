"""Where knowledge bases live: one SQLite file, `UNYO_HOME/knowledge.db` (0600, WAL), or, when
UNYO_DB_URL is postgresql://, PostgreSQL with pgvector (`_pg_index`); `shared_index()` picks.
Both have the methods of `Storage`, which is all ingest, search and answer use.

    kb_bases      name, embedding model, dimensions, generation (bumped on every change)
    kb_documents  one row per source (path or URL) with its content hash
    kb_chunks     the passages: text, heading path, page/place, float32 vector
    kb_terms      FTS5 over the passages' keyword terms (see `_terms`), rowid = chunk id

A document and all its chunks are written (or replaced, or removed) in one transaction, so a
failure part-way leaves the previous version whole. Dense search scans the vectors with NumPy:
an (n, d) float32 matrix loaded once per generation and kept in the process.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from unyo._knowledge._chunk import Chunk
from unyo._knowledge._terms import index_terms, query_terms
from unyo._types._errors import ConfigError
from unyo._types._messages import Message

if TYPE_CHECKING:
    import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS kb_bases (
    name TEXT PRIMARY KEY, embed_model TEXT NOT NULL, dims INTEGER NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS kb_documents (
    id INTEGER PRIMARY KEY, kb TEXT NOT NULL REFERENCES kb_bases(name) ON DELETE CASCADE,
    source TEXT NOT NULL, sha256 TEXT NOT NULL, chars INTEGER NOT NULL, chunks INTEGER NOT NULL,
    added REAL NOT NULL, UNIQUE (kb, source));
CREATE TABLE IF NOT EXISTS kb_chunks (
    id INTEGER PRIMARY KEY, kb TEXT NOT NULL,
    doc_id INTEGER NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL, heading TEXT NOT NULL, page INTEGER, place TEXT, text TEXT NOT NULL,
    vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS kb_chunks_kb ON kb_chunks (kb, id);
CREATE INDEX IF NOT EXISTS kb_chunks_doc ON kb_chunks (doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS kb_terms USING fts5 (terms, kb UNINDEXED);
"""


@dataclass
class Document:
    kb: str
    source: str
    sha256: str
    chars: int
    chunks: int
    added: float


@dataclass
class Hit:
    """One stored passage with what a search found for it."""

    id: int
    source: str
    heading: str
    page: int | None
    place: str | None
    text: str
    score: float = 0.0  # the fused (RRF) score
    dense: float | None = None  # cosine similarity to the question
    keyword: float | None = None  # BM25 (higher is better)
    dense_rank: int | None = None
    keyword_rank: int | None = None


def default_path() -> Path:
    from unyo._core._config import default_home, load_settings

    settings = load_settings()
    return Path(settings.home) if settings.home else default_home()


class Storage(Protocol):
    """What a knowledge-base store does: `Index` (SQLite) and `_pg_index.PgIndex` (PostgreSQL)."""

    def base(self, name: str) -> tuple[str, int, int] | None: ...
    def ensure_base(self, name: str, model: str, dims: int) -> None: ...
    def bases(self) -> list[dict[str, Any]]: ...
    def drop_base(self, name: str) -> bool: ...
    def documents(self, kb: str) -> list[Document]: ...
    def document_hash(self, kb: str, source: str) -> str | None: ...
    def put_document(
        self, kb: str, source: str, sha256: str, chars: int, chunks: Sequence[Chunk], vectors: np.ndarray
    ) -> None: ...
    def remove_document(self, kb: str, source: str) -> bool: ...
    def dense(self, kb: str, vector: np.ndarray, k: int) -> list[tuple[int, float]]: ...
    def keyword(self, kb: str, question: str, k: int) -> list[tuple[int, float]]: ...
    def hits(self, ids: Sequence[int]) -> dict[int, Hit]: ...
    def chunk_count(self, kb: str) -> int: ...


_shared: dict[Path | str, Storage] = {}
_shared_lock = threading.Lock()


def shared_index(path: Path | None = None) -> Storage:
    """One store per place per process: PostgreSQL when UNYO_DB_URL is postgresql:// (and no
    `path` is given), else SQLite (`path`, or UNYO_HOME/knowledge.db), whose vector matrix is then
    loaded once (see `Index._matrix`)."""
    if path is None:
        from unyo._core._config import load_settings

        url = load_settings().db_url or ""
        if url.startswith(("postgresql://", "postgres://")):
            with _shared_lock:
                if url not in _shared:
                    from unyo._knowledge._pg_index import PgIndex

                    _shared[url] = PgIndex(url)
                return _shared[url]
    target = Path(path) if path else default_path() / "knowledge.db"
    with _shared_lock:
        if target not in _shared or not target.exists():
            _shared[target] = Index(target)
        return _shared[target]


class Index:
    dialect = "sqlite"

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else default_path() / "knowledge.db"
        if not self.path.exists():  # never open+close an open database's file: that drops SQLite's POSIX locks
            from unyo._records._store._sqlite import _private_file

            _private_file(self.path)
        self._local = threading.local()
        self._matrices: dict[str, tuple[int, Any, Any]] = {}
        self._conn().executescript(SCHEMA)  # idempotent (IF NOT EXISTS); executescript commits itself

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- knowledge bases -------------------------------------------------------------------
    def base(self, name: str) -> tuple[str, int, int] | None:
        """(embedding model, dimensions, generation) of `name`, or None."""
        row = self._conn().execute("SELECT embed_model, dims, generation FROM kb_bases WHERE name=?", (name,))
        found = row.fetchone()
        return None if found is None else (found[0], found[1], found[2])

    def ensure_base(self, name: str, model: str, dims: int) -> None:
        known = self.base(name)
        if known is None:
            with self.tx() as db:
                db.execute(
                    "INSERT OR IGNORE INTO kb_bases (name, embed_model, dims, created) VALUES (?, ?, ?, ?)",
                    (name, model, dims, time.time()),
                )
        elif known[0] != model:
            raise ConfigError(Message("kb.other_embedding_model", name=name, known=known[0], model=model))

    def bases(self) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT b.name, b.embed_model, b.created, COUNT(DISTINCT d.id), COALESCE(SUM(d.chunks), 0),"
            " COALESCE(SUM(d.chars), 0) FROM kb_bases b LEFT JOIN kb_documents d ON d.kb = b.name"
            " GROUP BY b.name ORDER BY b.name"
        )
        keys = ("name", "embed_model", "created", "documents", "chunks", "chars")
        return [dict(zip(keys, r)) for r in rows]

    def drop_base(self, name: str) -> bool:
        with self.tx() as db:
            db.execute("DELETE FROM kb_terms WHERE kb=?", (name,))
            db.execute("DELETE FROM kb_chunks WHERE kb=?", (name,))
            db.execute("DELETE FROM kb_documents WHERE kb=?", (name,))
            gone = db.execute("DELETE FROM kb_bases WHERE name=?", (name,)).rowcount
        self._matrices.pop(name, None)
        return bool(gone)

    # -- documents -------------------------------------------------------------------------
    def documents(self, kb: str) -> list[Document]:
        rows = self._conn().execute(
            "SELECT kb, source, sha256, chars, chunks, added FROM kb_documents WHERE kb=? ORDER BY source", (kb,)
        )
        return [Document(*r) for r in rows]

    def document_hash(self, kb: str, source: str) -> str | None:
        row = self._conn().execute("SELECT sha256 FROM kb_documents WHERE kb=? AND source=?", (kb, source))
        found = row.fetchone()
        return None if found is None else str(found[0])

    def put_document(
        self, kb: str, source: str, sha256: str, chars: int, chunks: Sequence[Chunk], vectors: np.ndarray
    ) -> None:
        """Store (or replace) one document and its chunks, all or nothing."""
        import numpy as np

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.tx() as db:
            self._delete(db, kb, source)
            doc = db.execute(
                "INSERT INTO kb_documents (kb, source, sha256, chars, chunks, added) VALUES (?, ?, ?, ?, ?, ?)",
                (kb, source, sha256, chars, len(chunks), time.time()),
            ).lastrowid
            for ord_, (c, v) in enumerate(zip(chunks, vectors)):
                cid = db.execute(
                    "INSERT INTO kb_chunks (kb, doc_id, ord, heading, page, place, text, vector)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (kb, doc, ord_, c.heading, c.page, c.where, c.text, v.tobytes()),
                ).lastrowid
                db.execute(
                    "INSERT INTO kb_terms (rowid, terms, kb) VALUES (?, ?, ?)",
                    (cid, index_terms(f"{c.heading}\n{c.text}"), kb),
                )
            db.execute("UPDATE kb_bases SET generation = generation + 1 WHERE name=?", (kb,))

    def remove_document(self, kb: str, source: str) -> bool:
        with self.tx() as db:
            gone = self._delete(db, kb, source)
            db.execute("UPDATE kb_bases SET generation = generation + 1 WHERE name=?", (kb,))
        return gone

    @staticmethod
    def _delete(db: sqlite3.Connection, kb: str, source: str) -> bool:
        row = db.execute("SELECT id FROM kb_documents WHERE kb=? AND source=?", (kb, source)).fetchone()
        if row is None:
            return False
        db.execute("DELETE FROM kb_terms WHERE rowid IN (SELECT id FROM kb_chunks WHERE doc_id=?)", (row[0],))
        db.execute("DELETE FROM kb_chunks WHERE doc_id=?", (row[0],))
        db.execute("DELETE FROM kb_documents WHERE id=?", (row[0],))
        return True

    # -- search ----------------------------------------------------------------------------
    def _matrix(self, kb: str) -> tuple[Any, Any]:
        """(chunk ids, (n, d) float32 vectors) of `kb`, reloaded when its generation moved."""
        import numpy as np

        known = self.base(kb)
        generation = -1 if known is None else known[2]
        cached = self._matrices.get(kb)
        if cached and cached[0] == generation:
            return cached[1], cached[2]
        rows = self._conn().execute("SELECT id, vector FROM kb_chunks WHERE kb=? ORDER BY id", (kb,)).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        dims = known[1] if known else 0
        matrix = (
            np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dims)
            if rows
            else np.zeros((0, dims), np.float32)
        )
        self._matrices[kb] = (generation, ids, matrix)
        return ids, matrix

    def dense(self, kb: str, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        import numpy as np

        ids, matrix = self._matrix(kb)
        if not len(ids):
            return []
        # einsum, not BLAS (`@`): one thread, no worker threads left spinning on a busy machine
        # (measured on 2 shared cores: 10 000 x 384 in ~3 ms against ~8 ms, and no stall of the keyword query after it)
        scores = np.einsum("ij,j->i", matrix, vector.astype(np.float32))
        k = min(k, len(ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(ids[i]), float(scores[i])) for i in top]

    def keyword(self, kb: str, question: str, k: int) -> list[tuple[int, float]]:
        terms = query_terms(question)
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        rows = self._conn().execute(
            "SELECT rowid, bm25(kb_terms) FROM kb_terms WHERE kb_terms MATCH ? AND kb = ? ORDER BY bm25(kb_terms)"
            " LIMIT ?",
            (match, kb, k),
        )
        return [(int(r[0]), -float(r[1])) for r in rows]

    def hits(self, ids: Sequence[int]) -> dict[int, Hit]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._conn().execute(
            "SELECT c.id, d.source, c.heading, c.page, c.place, c.text FROM kb_chunks c"
            f" JOIN kb_documents d ON d.id = c.doc_id WHERE c.id IN ({marks})",
            list(ids),
        )
        return {r[0]: Hit(*r) for r in rows}

    def chunk_count(self, kb: str) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM kb_chunks WHERE kb=?", (kb,)).fetchone()[0])
