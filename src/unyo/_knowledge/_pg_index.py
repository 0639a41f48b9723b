"""Where knowledge bases live when UNYO_DB_URL is postgresql://: PostgreSQL with pgvector.

    kb_bases      id, name, embedding model, dimensions, generation (bumped on every change)
    kb_documents  one row per source (path or URL) with its content hash
    kb_chunks     the passages: text, heading path, page/place, `embedding vector`, `terms tsvector`

The same interface as the SQLite `_index.Index` (see `_index.Storage`), so ingest, search, answer
and `unyo kb ...` do not know which one they use.

Dense search: pgvector's HNSW with cosine distance. The dimension belongs to a knowledge base
(a local e5 base has 384, a provider's may have 1536), so the column is a plain `vector` (no fixed
dimension, which HNSW cannot index) and each base gets its own partial index on an expression
with the dimension in it:

    CREATE INDEX kb_chunks_hnsw_7 ON kb_chunks USING hnsw ((embedding::vector(384)) vector_cosine_ops)
        WHERE kb_id = 7

and the query repeats that expression and predicate literally (`WHERE kb_id = 7 ORDER BY
embedding::vector(384) <=> $1 LIMIT 50`), so the planner can use the index whatever plan it
caches. One graph per base also means a search never walks other bases' passages: one shared
index with a `WHERE kb_id` filter would drop results once the other bases outnumber the
candidates HNSW keeps (`hnsw.ef_search`). Over 2000 dimensions the index is on `halfvec` (pgvector's
HNSW limit for `vector`); over 4000 there is no index and the search is exact.

Keyword search: PostgreSQL full text over the same `_terms.index_terms` output (CJK bigrams and
words) with the `simple` configuration (no stemming, no stop words), a GIN index, ranked by
`ts_rank` normalised by document length. (It has no IDF, unlike SQLite's BM25; the dense list
and the fusion in `_search` carry most of the ranking.)

Writes: a document and all its chunks are written (or replaced, or removed) in one transaction
that first locks its base's row, so writers to one base, from any process or host, take turns
(as SQLite's one writer does) and a failure part-way leaves the previous version whole.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from unyo._knowledge._chunk import Chunk
from unyo._knowledge._index import Document, Hit
from unyo._knowledge._terms import index_terms, query_terms
from unyo._types._errors import ConfigError
from unyo._types._messages import Message

if TYPE_CHECKING:
    import numpy as np

SCHEMA_LOCK = 7_311_975_115  # pg_advisory_xact_lock key: one process creates tables and indexes at a time
EF_SEARCH = 100  # HNSW candidates per search; it bounds the rows a search returns, so >= _search.CANDIDATES
VECTOR_MAX_DIMS, HALFVEC_MAX_DIMS = 2000, 4000  # pgvector's HNSW limits

SCHEMA = """
CREATE TABLE IF NOT EXISTS kb_bases (
    id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, embed_model TEXT NOT NULL, dims INTEGER NOT NULL,
    generation BIGINT NOT NULL DEFAULT 0, created DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS kb_documents (
    id BIGSERIAL PRIMARY KEY, kb_id BIGINT NOT NULL REFERENCES kb_bases(id) ON DELETE CASCADE,
    source TEXT NOT NULL, sha256 TEXT NOT NULL, chars INTEGER NOT NULL, chunks INTEGER NOT NULL,
    added DOUBLE PRECISION NOT NULL, UNIQUE (kb_id, source));
CREATE TABLE IF NOT EXISTS kb_chunks (
    id BIGSERIAL PRIMARY KEY, kb_id BIGINT NOT NULL,
    doc_id BIGINT NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL, heading TEXT NOT NULL, page INTEGER, place TEXT, text TEXT NOT NULL,
    embedding vector NOT NULL, terms tsvector NOT NULL);
CREATE INDEX IF NOT EXISTS kb_chunks_doc ON kb_chunks (doc_id);
CREATE INDEX IF NOT EXISTS kb_chunks_terms ON kb_chunks USING gin (terms);
"""


def vector_type(dims: int) -> str:
    """The type a base's vectors are cast to: the one its HNSW index is built on."""
    return f"vector({dims})" if dims <= VECTOR_MAX_DIMS else f"halfvec({dims})"


def dense_query(base_id: int, dims: int, k: int) -> str:
    """The nearest-neighbour query of one base; its expression and predicate match the base's
    partial index literally (ids and dimensions are integers from kb_bases, never user text)."""
    expr = f"embedding::{vector_type(int(dims))}"
    return (
        f"SELECT id, {expr} <=> %s::{vector_type(int(dims))} AS distance FROM kb_chunks"
        f" WHERE kb_id = {int(base_id)} ORDER BY distance LIMIT {int(k)}"
    )


def index_name(base_id: int) -> str:
    return f"kb_chunks_hnsw_{int(base_id)}"


def _literal(vector: Any) -> str:
    """A vector as pgvector's text input: '[0.1,-0.2,...]' (float32 values, shortest repr)."""
    return "[" + ",".join(repr(float(x)) for x in vector.tolist()) + "]"


def _tsquery(terms: Sequence[str]) -> str:
    """Terms -> to_tsquery input: each one quoted (so `api-key` stays one phrase), OR-ed."""
    return " | ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms)


class PgIndex:
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._ef = EF_SEARCH
        self._setup()

    @property
    def location(self) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        return f"postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}"  # never the password

    def _connect(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise ConfigError(Message("store.no_psycopg")) from None
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            detail = str(exc).strip().splitlines()[0]
            raise ConfigError(Message("store.pg_unreachable", where=self.location, detail=detail)) from None

    def _conn(self) -> Any:
        """This thread's connection (a forked child opens its own), with the extension's schema on
        its search_path and HNSW's candidate list set."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or getattr(self._local, "pid", None) != os.getpid():
            conn = self._connect()
            self._local.conn, self._local.pid = conn, os.getpid()
            schema = getattr(self, "_ext_schema", None)
            if schema:
                self._reach(conn, schema)
            conn.execute(f"SET hnsw.ef_search = {int(self._ef)}")
        return conn

    @staticmethod
    def _reach(conn: Any, schema: str) -> None:
        """Append the schema holding pgvector to the session's search_path when it is not on it
        (tables stay in the first schema of the path; the type and operators resolve)."""
        on_path = conn.execute("SELECT %s = ANY(current_schemas(false))", (schema,)).fetchone()[0]
        if not on_path:
            conn.execute(
                "SELECT set_config('search_path', current_setting('search_path') || ', ' || quote_ident(%s), false)",
                (schema,),
            )

    def _setup(self) -> None:
        """The extension and the tables, idempotently, one process at a time."""
        conn = self._connect()
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                self._ext_schema = self._extension(conn)
                self._reach(conn, self._ext_schema)
                conn.execute(SCHEMA)
        finally:
            conn.close()

    def _extension(self, conn: Any) -> str:
        import psycopg

        row = conn.execute("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname='vector'")
        found = row.fetchone()
        if found:
            return str(found[0]).strip('"')
        available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name='vector'").fetchone()
        if not available:
            major = conn.info.server_version // 10000
            raise ConfigError(Message("kb.pg_no_extension", where=self.location, major=major))
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.errors.InsufficientPrivilege:
            raise ConfigError(Message("kb.pg_extension_not_enabled", where=self.location)) from None
        return str(
            conn.execute("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname='vector'").fetchone()[
                0
            ]
        ).strip('"')

    @contextmanager
    def tx(self) -> Iterator[Any]:
        conn = self._conn()
        with conn.transaction():
            yield conn

    # -- knowledge bases -------------------------------------------------------------------
    def _base_row(self, name: str) -> tuple[int, int] | None:
        """(id, dimensions) of `name`, or None."""
        found = self._conn().execute("SELECT id, dims FROM kb_bases WHERE name=%s", (name,)).fetchone()
        return None if found is None else (int(found[0]), int(found[1]))

    def base(self, name: str) -> tuple[str, int, int] | None:
        """(embedding model, dimensions, generation) of `name`, or None."""
        row = self._conn().execute("SELECT embed_model, dims, generation FROM kb_bases WHERE name=%s", (name,))
        found = row.fetchone()
        return None if found is None else (found[0], int(found[1]), int(found[2]))

    def ensure_base(self, name: str, model: str, dims: int) -> None:
        known = self.base(name)
        if known is None:
            with self.tx() as db:
                db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))  # index DDL: one at a time
                db.execute(
                    "INSERT INTO kb_bases (name, embed_model, dims, created) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT (name) DO NOTHING",
                    (name, model, dims, time.time()),
                )
                base_id, dims = db.execute("SELECT id, dims FROM kb_bases WHERE name=%s", (name,)).fetchone()
                if dims <= HALFVEC_MAX_DIMS:
                    kind = "vector" if dims <= VECTOR_MAX_DIMS else "halfvec"
                    db.execute(
                        f"CREATE INDEX IF NOT EXISTS {index_name(base_id)} ON kb_chunks USING hnsw"
                        f" ((embedding::{vector_type(dims)}) {kind}_cosine_ops) WHERE kb_id = {int(base_id)}"
                    )
        elif known[0] != model:
            raise ConfigError(Message("kb.other_embedding_model", name=name, known=known[0], model=model))

    def bases(self) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT b.name, b.embed_model, b.created, COUNT(DISTINCT d.id), COALESCE(SUM(d.chunks), 0),"
            " COALESCE(SUM(d.chars), 0) FROM kb_bases b LEFT JOIN kb_documents d ON d.kb_id = b.id"
            " GROUP BY b.id ORDER BY b.name"
        )
        keys = ("name", "embed_model", "created", "documents", "chunks", "chars")
        return [dict(zip(keys, (r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5])))) for r in rows]

    def drop_base(self, name: str) -> bool:
        with self.tx() as db:
            row = db.execute("SELECT id FROM kb_bases WHERE name=%s FOR UPDATE", (name,)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM kb_chunks WHERE kb_id=%s", (row[0],))
            db.execute("DELETE FROM kb_bases WHERE id=%s", (row[0],))  # its documents go with it (CASCADE)
            db.execute(f"DROP INDEX IF EXISTS {index_name(row[0])}")
        return True

    # -- documents -------------------------------------------------------------------------
    def documents(self, kb: str) -> list[Document]:
        rows = self._conn().execute(
            "SELECT b.name, d.source, d.sha256, d.chars, d.chunks, d.added FROM kb_documents d"
            " JOIN kb_bases b ON b.id = d.kb_id WHERE b.name=%s ORDER BY d.source",
            (kb,),
        )
        return [Document(*r) for r in rows]

    def document_hash(self, kb: str, source: str) -> str | None:
        row = self._conn().execute(
            "SELECT d.sha256 FROM kb_documents d JOIN kb_bases b ON b.id = d.kb_id WHERE b.name=%s AND d.source=%s",
            (kb, source),
        )
        found = row.fetchone()
        return None if found is None else str(found[0])

    def _lock_base(self, db: Any, kb: str) -> int | None:
        """Lock the base's row for this transaction: writers to one base take turns."""
        row = db.execute("SELECT id FROM kb_bases WHERE name=%s FOR UPDATE", (kb,)).fetchone()
        return None if row is None else int(row[0])

    def put_document(
        self, kb: str, source: str, sha256: str, chars: int, chunks: Sequence[Chunk], vectors: np.ndarray
    ) -> None:
        """Store (or replace) one document and its chunks, all or nothing."""
        import numpy as np

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.tx() as db:
            base_id = self._lock_base(db, kb)
            if base_id is None:
                raise ConfigError(Message("kb.unknown", name=kb))
            self._delete(db, base_id, source)
            doc = db.execute(
                "INSERT INTO kb_documents (kb_id, source, sha256, chars, chunks, added)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (base_id, source, sha256, chars, len(chunks), time.time()),
            ).fetchone()[0]
            rows = [
                (
                    base_id,
                    doc,
                    ord_,
                    c.heading,
                    c.page,
                    c.where,
                    c.text,
                    _literal(v),
                    index_terms(f"{c.heading}\n{c.text}"),
                )
                for ord_, (c, v) in enumerate(zip(chunks, vectors))
            ]
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO kb_chunks (kb_id, doc_id, ord, heading, page, place, text, embedding, terms)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::vector, to_tsvector('simple', %s))",
                    rows,
                )
            db.execute("UPDATE kb_bases SET generation = generation + 1 WHERE id=%s", (base_id,))

    def remove_document(self, kb: str, source: str) -> bool:
        with self.tx() as db:
            base_id = self._lock_base(db, kb)
            if base_id is None:
                return False
            gone = self._delete(db, base_id, source)
            db.execute("UPDATE kb_bases SET generation = generation + 1 WHERE id=%s", (base_id,))
        return gone

    @staticmethod
    def _delete(db: Any, base_id: int, source: str) -> bool:
        row = db.execute("SELECT id FROM kb_documents WHERE kb_id=%s AND source=%s", (base_id, source)).fetchone()
        if row is None:
            return False
        db.execute("DELETE FROM kb_chunks WHERE doc_id=%s", (row[0],))
        db.execute("DELETE FROM kb_documents WHERE id=%s", (row[0],))
        return True

    # -- search ----------------------------------------------------------------------------
    def dense(self, kb: str, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        known = self._base_row(kb)
        if known is None:
            return []
        conn = self._conn()
        if k > self._ef:  # HNSW returns at most ef_search rows
            self._ef = k
            conn.execute(f"SET hnsw.ef_search = {int(k)}")
        rows = conn.execute(dense_query(known[0], known[1], k), (_literal(vector),))
        return [(int(r[0]), 1.0 - float(r[1])) for r in rows]  # cosine similarity, as SQLite's dot product

    def keyword(self, kb: str, question: str, k: int) -> list[tuple[int, float]]:
        terms = query_terms(question)
        known = self._base_row(kb)
        if not terms or known is None:
            return []
        rows = self._conn().execute(
            "SELECT id, ts_rank(terms, q, 1) AS rank FROM kb_chunks, to_tsquery('simple', %s) q"
            f" WHERE kb_id = {known[0]} AND terms @@ q ORDER BY rank DESC, id LIMIT {int(k)}",
            (_tsquery(terms),),
        )
        return [(int(r[0]), float(r[1])) for r in rows]

    def hits(self, ids: Sequence[int]) -> dict[int, Hit]:
        if not ids:
            return {}
        rows = self._conn().execute(
            "SELECT c.id, d.source, c.heading, c.page, c.place, c.text FROM kb_chunks c"
            " JOIN kb_documents d ON d.id = c.doc_id WHERE c.id = ANY(%s)",
            (list(ids),),
        )
        return {r[0]: Hit(*r) for r in rows}

    def chunk_count(self, kb: str) -> int:
        row = self._conn().execute(
            "SELECT COUNT(*) FROM kb_chunks c JOIN kb_bases b ON b.id = c.kb_id WHERE b.name=%s", (kb,)
        )
        return int(row.fetchone()[0])
