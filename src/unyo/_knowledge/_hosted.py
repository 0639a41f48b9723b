"""Hosted knowledge bases: the provider's vector store, kept in sync with local files.

    kb add FILES --via openai   sha256 unchanged ───────────────────────────► unchanged (no upload)
                                new / changed ─ files.create(purpose=assistants)
                                              ─ vector_stores.files.create ─► indexing … completed
                                              (a changed file's old copy is detached and deleted)
                                recorded files gone from disk ─ detached, deleted ► removed
    kb rm [FILES]               detached and deleted (no files: the whole store)

Every request goes through the guarded client: uploads and vector-store writes are audited
(`_client._surface`: "recorded", nothing billed per request; the store's storage is billed per
GB-day, see `unyo estimate --storage-gb`). Which local file is which provider file lives in
UNYO_HOME/knowledge-hosted.json (0600): per base its provider, store id, and per source the
content hash, file id, size and indexing status.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unyo._knowledge._ingest import Added, AddReport, expand, is_url
from unyo._types._errors import BadInput, UsageError
from unyo._types._messages import Message, msg

MAX_UPLOAD_BYTES = 512_000_000  # the Files API's limit per file
POLL_S = 0.2


def registry_path() -> Path:
    from unyo._knowledge._index import default_path

    return default_path() / "knowledge-hosted.json"


def load() -> dict[str, Any]:
    path = registry_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInput(Message("hosted.registry_unreadable", path=str(path), error=str(exc))) from exc
    return data if isinstance(data, dict) else {}


def save(bases: dict[str, Any]) -> None:
    """Write the registry atomically (a crash leaves the previous version whole), owner-only."""
    path = registry_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # UNYO_HOME: private, as the stores make it
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(bases, out, ensure_ascii=False, indent=1)
    os.replace(tmp, path)


@contextmanager
def registry_lock() -> Iterator[None]:
    """One writer of the registry at a time: a second `kb add` / `kb rm` waits for the first, so
    neither's uploads are lost from the registry (and left billed for storage, unknown to unyo)."""
    import fcntl

    path = registry_path().with_suffix(".lock")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # UNYO_HOME: private, as the stores make it
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _exclusive(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with registry_lock():
            return fn(*args, **kwargs)

    return locked


def hosted_base(name: str) -> dict[str, Any] | None:
    """The registry entry of a hosted knowledge base: {via, profile, store_id, files}, or None."""
    return load().get(name)


def _require(client: Any, what: str) -> None:
    from unyo._providers._profiles import require

    require(client.settings.profile, "hosted_tools", what)


@dataclass
class Progress:
    """Indexing progress, said on stderr (or to `on_progress`) as files finish."""

    on_line: Callable[[str], None] | None = None
    lines: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)
        (self.on_line or (lambda text: print(text, file=sys.stderr)))(line)


@_exclusive
def add_hosted(
    items: list[str],
    kb: str,
    client: Any,
    *,
    via: str = "openai",
    timeout_s: float = 600.0,
    on_progress: Callable[[str], None] | None = None,
) -> AddReport:
    """Upload new and changed files to the base's vector store (created on first use), wait
    until they are indexed, and detach files that are gone from disk."""
    from unyo._knowledge._index import shared_index

    _require(client, f"kb add --via {via}")
    if shared_index().base(kb) is not None:
        raise UsageError(Message("hosted.name_is_local", name=kb))
    sources = expand(items)
    if not sources:
        raise BadInput(Message("kb.nothing_to_add"))
    bases = load()
    base = bases.setdefault(kb, {"via": via, "profile": client.settings.profile.name, "store_id": None, "files": {}})
    progress, report, started = Progress(on_progress), AddReport(kb), time.perf_counter()
    if not base["store_id"]:
        store = client.vector_stores.create(name=f"unyo-{kb}", metadata={"unyo_kb": kb})
        base["store_id"] = store.id
        save(bases)
        progress.say(f"{kb}: created vector store {store.id}")
    pending: list[str] = []
    before = set(base["files"])  # what the store held before this run
    for number, source in enumerate(sources, 1):
        result = _sync_one(client, base, source)
        save(bases)
        report.results.append(result)
        if result.status in ("added", "updated"):
            pending.append(result.source)
        progress.say(f"[{number}/{len(sources)}] {result.status:9} {result.source} {result.error or ''}".rstrip())
    report.results += _drop_missing(client, base, before, progress)
    save(bases)
    _wait(client, base, pending, report, progress, timeout_s)
    save(bases)
    report.seconds = time.perf_counter() - started
    return report


def _sync_one(client: Any, base: dict[str, Any], source: str) -> Added:
    if is_url(source):
        return Added(source, "failed", error=msg("hosted.no_urls"))
    path = Path(source)
    if not path.is_file():
        return Added(source, "failed", error=msg("kb.no_such_file", source=source))
    size = path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        return Added(
            source, "failed", error=msg("kb.file_too_big", source=source, size=size / 1e6, limit=MAX_UPLOAD_BYTES / 1e6)
        )
    if size == 0:
        return Added(source, "failed", error=msg("hosted.empty_file", source=source))
    data = path.read_bytes()
    name, digest = str(path.resolve()), hashlib.sha256(data).hexdigest()
    known = base["files"].get(name)
    if known and known["sha256"] == digest and known.get("status") != "failed":
        return Added(name, "unchanged")
    upload = client.files.create(file=(path.name, data), purpose="assistants")
    client.vector_stores.files.create(vector_store_id=base["store_id"], file_id=upload.id)
    base["files"][name] = {"sha256": digest, "file_id": upload.id, "filename": path.name, "bytes": len(data),
                           "status": "in_progress"}  # fmt: skip
    if known:  # the old copy goes once the new one is attached
        _detach(client, base["store_id"], known["file_id"])
    return Added(name, "updated" if known else "added")


def _detach(client: Any, store_id: str, file_id: str) -> None:
    """Take a file out of the store and delete it at the provider (already gone is fine)."""
    for remove in (
        lambda: client.vector_stores.files.delete(file_id, vector_store_id=store_id),
        lambda: client.files.delete(file_id),
    ):
        try:
            remove()
        except _not_found():
            pass


def _not_found() -> tuple[type[Exception], ...]:
    import openai

    from unyo._types._errors import NotFound

    return (openai.NotFoundError, NotFound)


def _drop_missing(client: Any, base: dict[str, Any], before: set[str], progress: Progress) -> list[Added]:
    gone = [source for source in base["files"] if not Path(source).exists()]
    if len(before) > 1 and before <= set(gone):  # every file it held gone at once: the disk, not the user
        progress.say(msg("hosted.kept_all_missing", count=len(gone)))
        return []
    for source in gone:
        _detach(client, base["store_id"], base["files"].pop(source)["file_id"])
        progress.say(f"removed   {source} (no longer on disk)")
    return [Added(source, "removed") for source in gone]


def _wait(client: Any, base: dict[str, Any], pending: list[str], report: AddReport, progress: Progress,
          timeout_s: float) -> None:  # fmt: skip
    """Poll the store until every new file is indexed (or failed), saying each as it ends."""
    deadline, done = time.monotonic() + timeout_s, 0
    waiting = list(pending)
    while waiting:
        for source in list(waiting):
            entry = base["files"][source]
            state = client.vector_stores.files.retrieve(entry["file_id"], vector_store_id=base["store_id"])
            if state.status == "in_progress":
                continue
            entry["status"] = state.status
            waiting.remove(source)
            done += 1
            error = f" ({state.last_error.code}: {state.last_error.message})" if state.last_error else ""
            progress.say(f"indexed {done}/{len(pending)} {state.status:9} {source}{error}")
            if state.status != "completed":
                for result in report.results:
                    if result.source == source:
                        result.status, result.error = "failed", msg("hosted.indexing_failed", status=state.status,
                                                                    detail=error)  # fmt: skip
        if waiting and time.monotonic() > deadline:
            raise BadInput(Message("hosted.still_indexing", count=len(waiting), seconds=timeout_s,
                                   sources=", ".join(waiting)))  # fmt: skip
        if waiting:
            time.sleep(POLL_S)


@_exclusive
def remove_hosted(sources: list[str], kb: str, client: Any) -> list[str]:
    """Detach and delete these sources (none: every file and the store itself); the removed ones."""
    bases = load()
    base = bases.get(kb)
    if base is None:
        raise UsageError(Message("hosted.unknown", name=kb))
    _require(client, "kb rm on a hosted knowledge base")
    if not sources:
        for entry in base["files"].values():
            _detach(client, base["store_id"], entry["file_id"])
        gone = list(base["files"])
        if base["store_id"]:
            try:
                client.vector_stores.delete(base["store_id"])
            except _not_found():
                pass
        del bases[kb]
        save(bases)
        return gone
    gone = []
    for source in sources:
        name = str(Path(source).resolve())
        entry = base["files"].pop(name, None) or base["files"].pop(source, None)
        if entry is not None:
            _detach(client, base["store_id"], entry["file_id"])
            gone.append(name)
    save(bases)
    return gone


def listing() -> list[dict[str, Any]]:
    """One row per hosted base, for `kb ls`."""
    return [
        {
            "name": name,
            "where": f"{b['via']} vector store {b['store_id']}",
            "via": b["via"],
            "store_id": b["store_id"],
            "documents": len(b["files"]),
            "bytes": sum(f["bytes"] for f in b["files"].values()),
            "indexing": sum(1 for f in b["files"].values() if f.get("status") == "in_progress"),
        }  # fmt: skip
        for name, b in sorted(load().items())
    ]
