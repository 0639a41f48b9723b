"""Text vectors for classification, cached per text hash.

    local (model None)   the bundled multilingual-e5-small, in process, free; texts embedded with
                         E5's `query:` prefix (classification is a symmetric task)
    provider model       `embeddings.create` through the guarded client: priced, budgeted and
                         audited like every call; one request for all the texts not yet cached

The cache is per process and keyed by a SHA-256 of (model, text), never the text itself: a batch
of 100 000 rows with repeats embeds each distinct text once, and the label set's own texts are
embedded once per process. (Provider answers also go through the response cache when
`cache_ttl_s` is on.) Vectors are L2-normalised, so a dot product is the cosine.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Generator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MAX_CACHED = 200_000
_SAFE_CHARS = 500  # E5's 512-token window cannot overflow below this (a token covers >= 1 character)
_cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
_lock = threading.Lock()


@dataclass
class Vectors:
    array: np.ndarray  # (n, d), normalised
    model: str
    truncated: list[bool]
    calls: list[Any] = field(default_factory=list)  # CallInfo of provider requests (none when local)


def local_model_id() -> str:
    from unyo._providers._local._embed import MODEL_ID

    return MODEL_ID


def _key(model: str, text: str) -> bytes:
    return hashlib.sha256(f"{model}\0{text}".encode()).digest()


def _lookup(model: str, texts: Sequence[str]) -> tuple[list[Any], list[int]]:
    with _lock:
        found = [_cache.get(_key(model, t)) for t in texts]
    return found, [i for i, v in enumerate(found) if v is None]


def _remember(model: str, texts: Sequence[str], vectors: Any) -> None:
    with _lock:
        for text, vector in zip(texts, vectors, strict=True):
            _cache[_key(model, text)] = vector
        while len(_cache) > MAX_CACHED:
            _cache.popitem(last=False)


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def _assemble(found: list[Any], missing: list[int], fresh: Any) -> np.ndarray:
    import numpy as np

    for i, vector in zip(missing, fresh, strict=True):
        found[i] = vector
    return np.stack(found).astype(np.float32) if found else np.zeros((0, 1), dtype=np.float32)


_engine = threading.Lock()
_pending: list[tuple[str, Future[Any]]] = []
BATCH = 64


def _coalesced(texts: list[str]) -> list[Any]:
    """Embed `texts`, batched with what other threads are waiting for: a batch run's workers each
    bring one row, and the engine spreads one batch's texts over the cores (one text alone runs
    its matrix products in parallel instead, which is slower on a busy machine)."""
    from unyo._providers._local import _embed

    mine: list[Future[Any]] = [Future() for _ in texts]
    with _lock:
        _pending.extend(zip(texts, mine, strict=True))
    while not all(f.done() for f in mine):
        with _engine:
            if all(f.done() for f in mine):
                break
            with _lock:
                batch = _pending[:BATCH]
                del _pending[:BATCH]
            try:
                vectors = _embed.embed([t for t, _ in batch], "query")
            except Exception as exc:  # noqa: BLE001 - each waiting caller gets it
                for _, future in batch:
                    future.set_exception(exc)
            else:
                for (_, future), vector in zip(batch, vectors, strict=True):
                    future.set_result(vector)
    return [f.result() for f in mine]


def local_vectors(texts: Sequence[str]) -> Vectors:
    """The bundled model's vectors (blocking: run it off an event loop)."""
    from unyo._providers._local import _embed

    model = _embed.MODEL_ID
    found, missing = _lookup(model, texts)
    todo = [texts[i] for i in missing]
    fresh = _coalesced(todo) if todo else []
    _remember(model, todo, fresh)
    long = [i for i, t in enumerate(texts) if len(t) > _SAFE_CHARS]
    cut = dict(zip(long, _embed.truncated([texts[i] for i in long], "query"), strict=True)) if long else {}
    return Vectors(_assemble(found, missing, fresh), model, [cut.get(i, False) for i in range(len(texts))])


def vectors_flow(
    client: Any, texts: Sequence[str], model: str | None, tag: str | None = None
) -> Generator[Any, Any, Vectors]:
    """The vectors of `texts` (a flow: see `_flow`): local when `model` is None or the bundled
    model's id on a client that serves it in process, else through the guarded client."""
    import numpy as np

    from unyo._quality._flow import Blocking, Method
    from unyo._types._call import call_info

    if model is None:
        return (yield Blocking(local_vectors, list(texts), io=False))
    found, missing = _lookup(model, texts)
    calls = []
    fresh: list[Any] = []
    if missing:
        kwargs: dict[str, Any] = {"model": model, "input": [texts[i] for i in missing]}
        if tag:
            kwargs["unyo_tag"] = tag
        response = yield Method(("embeddings", "create"), kwargs)
        rows = sorted(response.data, key=lambda d: d.index)
        raw = np.asarray([r.embedding for r in rows], dtype=np.float32)
        fresh = list(raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12))
        info = call_info(response)
        calls = [info] if info is not None else []
        _remember(model, [texts[i] for i in missing], fresh)
    return Vectors(_assemble(found, missing, fresh), model, [False] * len(texts), calls)


def _stored_path(home: Any, model: str, fingerprint: str) -> Any:
    from pathlib import Path

    name = hashlib.sha256(f"{model}\0{fingerprint}".encode()).hexdigest()[:32]
    return Path(home) / "vectors" / f"{name}.npy"


def load_stored(home: Any, model: str, fingerprint: str, rows: int) -> np.ndarray | None:
    """A label set's vectors kept from an earlier run (UNYO_HOME/vectors), or None."""
    import numpy as np

    path = _stored_path(home, model, fingerprint)
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return array if array.ndim == 2 and array.shape[0] == rows else None


def store(home: Any, model: str, fingerprint: str, array: np.ndarray) -> None:
    """Keep a label set's vectors for the next run (0600, atomic); a failure only costs time."""
    import io

    import numpy as np

    from unyo._records._private_files import write_private

    path = _stored_path(home, model, fingerprint)
    try:
        path.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # UNYO_HOME: private, as the store makes it
        path.parent.mkdir(mode=0o700, exist_ok=True)
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        write_private(path, buffer.getvalue())
    except OSError:
        pass
