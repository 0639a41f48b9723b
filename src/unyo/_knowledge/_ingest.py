"""Add and remove sources: files, folders, globs and URLs.

Incremental: a source whose content hash is unchanged is skipped; a changed one has its chunks
replaced; every document is written in one transaction (see `_index`). A source that cannot be
read (too big, empty, encrypted, unreachable) is reported with its reason and changes nothing;
the others still go in.
"""

from __future__ import annotations

import glob
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unyo._knowledge._chunk import chunk
from unyo._knowledge._embed import Embedder
from unyo._knowledge._index import Storage, shared_index
from unyo._knowledge._read import SUFFIXES, read_blocks
from unyo._types._errors import BadInput
from unyo._types._messages import Message

MAX_FILE_BYTES = 50_000_000


@dataclass
class Added:
    source: str
    status: str  # added | updated | unchanged | failed
    chunks: int = 0
    error: str | None = None


@dataclass
class AddReport:
    kb: str
    results: list[Added] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[Added]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def chunks(self) -> int:
        return sum(r.chunks for r in self.results if r.status in ("added", "updated"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kb": self.kb,
            "seconds": round(self.seconds, 3),
            "chunks_written": self.chunks,
            "results": [vars(r) for r in self.results],
        }


def is_url(text: str) -> bool:
    return "://" in text


def expand(items: list[str]) -> list[str]:
    """Paths, folders (recursively, supported types only), globs and URLs -> sources, in order."""
    out: list[str] = []
    for item in items:
        if is_url(item):
            out.append(item)
            continue
        path = Path(item)
        if path.is_dir():
            out.extend(str(p) for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif path.exists():
            out.append(str(path))
        else:
            matches = sorted(glob.glob(item, recursive=True))
            out.extend(m for m in matches if Path(m).is_file()) if matches else out.append(item)
    return list(dict.fromkeys(out))


def _load(source: str, max_bytes: int) -> tuple[bytes, str, str]:
    """(bytes, suffix, the source's stored name) of a file or URL."""
    if is_url(source):
        from unyo._knowledge._fetch import fetch
        from unyo._knowledge._page import suffix_for

        body, ctype = fetch(source, max_bytes=max_bytes)
        return body, suffix_for(source, ctype), source
    path = Path(source)
    if not path.is_file():
        raise BadInput(Message("kb.no_such_file", source=source))
    size = path.stat().st_size
    if size > max_bytes:
        raise BadInput(Message("kb.file_too_big", source=source, size=size / 1e6, limit=max_bytes / 1e6))
    return path.read_bytes(), path.suffix.lower(), str(path.resolve())


def add_one(index: Storage, kb: str, source: str, embedder: Embedder, max_bytes: int = MAX_FILE_BYTES) -> Added:
    data, suffix, name = _load(source, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    before = index.document_hash(kb, name)
    if before == digest:
        return Added(name, "unchanged")
    chunks = chunk(read_blocks(data, source, suffix))
    if not chunks:
        raise BadInput(Message("kb.no_text", source=source))
    vectors = embedder.passages([f"{c.heading}\n{c.text}" if c.heading else c.text for c in chunks])
    index.ensure_base(kb, embedder.model, int(vectors.shape[1]))
    index.put_document(kb, name, digest, sum(len(c.text) for c in chunks), chunks, vectors)
    return Added(name, "updated" if before else "added", len(chunks))


def add(
    items: list[str],
    kb: str = "default",
    *,
    embed_model: str | None = None,
    index: Storage | None = None,
    client: Any = None,
    max_bytes: int = MAX_FILE_BYTES,
    on_progress: Any = None,
) -> AddReport:
    index = index or shared_index()
    known = index.base(kb)
    model = embed_model or (known[0] if known else None)
    if known and embed_model and known[0] != embed_model:
        index.ensure_base(kb, embed_model, known[1])  # raises: the base keeps its model
    embedder = Embedder(model, client)
    report = AddReport(kb)
    started = time.perf_counter()
    sources = expand(items)
    if not sources:
        raise BadInput(Message("kb.nothing_to_add"))
    for number, source in enumerate(sources, 1):
        try:
            result = add_one(index, kb, source, embedder, max_bytes)
        except BadInput as exc:
            result = Added(source, "failed", error=str(exc))
        report.results.append(result)
        if on_progress:
            on_progress(number, len(sources), result)
    report.seconds = time.perf_counter() - started
    return report


def remove(sources: list[str], kb: str = "default", index: Storage | None = None) -> list[str]:
    """Remove these sources (paths as given or resolved, or URLs) from `kb`; the removed ones."""
    index = index or shared_index()
    gone = []
    for source in sources:
        name = source if is_url(source) else str(Path(source).resolve())
        if index.remove_document(kb, name) or (name != source and index.remove_document(kb, source)):
            gone.append(name)
    return gone
