"""`classify(..., via="embeddings")`: a label from the nearest label vectors, no LLM call.

    via="llm"         the model answers in JSON (see `_classify`)
    via="embeddings"  `_nearest`: cosine to each label's description and examples, confidence
                      calibrated by leave-one-out on the examples; free on the bundled model
                      (multilingual-e5-small), priced at the embedding model's price with
                      `embedding_model=` (e.g. "text-embedding-3-small", through the guarded client)
    via="auto"        what the profile declares (`classify_via`): embeddings on the local profile,
                      whose 135M model cannot classify, the LLM elsewhere

A fitted label set is kept per process (keyed by model and the label set's content), so a batch
embeds its labels once and each row costs one embedding.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence
from typing import Any

from unyo._quality._classify import Classification
from unyo._quality._labels import LabelSet
from unyo._quality._nearest import NearestLabels, fit, label_texts
from unyo._quality._vectors import Vectors, vectors_flow
from unyo._types._errors import ConfigError

VIAS = ("auto", "llm", "embeddings")
_fitted: dict[tuple[str, str], NearestLabels] = {}
_lock = threading.Lock()


def resolve_via(client: Any, via: str | None) -> str:
    """What a requested `via` means on this client's profile: "llm" or "embeddings"."""
    choice = via or "auto"
    if choice not in VIAS:
        raise ConfigError(f"via must be one of {', '.join(VIAS)}, got {via!r}")
    if choice == "auto":
        return str(getattr(client.settings.profile, "classify_via", "llm"))
    return choice


def fitted_flow(
    client: Any, labels: LabelSet, model: str | None, tag: str | None = None
) -> Generator[Any, Any, tuple[NearestLabels, list[Any]]]:
    """The classifier for `labels` on `model` (fitted once per process), and the calls it took."""
    key = (model or "", labels.fingerprint())
    with _lock:
        known = _fitted.get(key)
    if known is not None:
        return known, []
    from unyo._quality._flow import Blocking
    from unyo._quality._vectors import load_stored, local_model_id, store

    texts, _, _ = label_texts(labels)
    home = getattr(getattr(client, "settings", None), "home", None)
    name = model or local_model_id()
    array = (yield Blocking(load_stored, home, name, key[1], len(texts), io=False)) if home else None
    calls: list[Any] = []
    if array is None:
        vectors = yield from vectors_flow(client, texts, model, tag)
        array, calls = vectors.array, vectors.calls
        if home:
            yield Blocking(store, home, name, key[1], array, io=False)
    classifier = fit(labels, array)
    with _lock:
        _fitted[key] = classifier
    return classifier, calls


def embedding_classify_flow(
    client: Any,
    texts: Sequence[str],
    labels: LabelSet,
    *,
    embedding_model: str | None = None,
    tag: str | None = None,
) -> Generator[Any, Any, list[Classification]]:
    """One Classification per text (a flow: see `_flow`); the label set's calls, if any, are
    counted on the first result."""
    classifier, setup_calls = yield from fitted_flow(client, labels, embedding_model, tag)
    vectors = yield from vectors_flow(client, texts, embedding_model, tag)
    return classify_vectors(classifier, vectors, setup_calls)


def classify_vectors(
    classifier: NearestLabels, vectors: Vectors, setup_calls: Sequence[Any] = ()
) -> list[Classification]:
    """One Classification per vector; the calls (label set, then texts) are counted on the first."""
    probabilities = classifier.probabilities(vectors.array)
    source = "loo_calibrated" if classifier.calibrated else "uncalibrated"
    method = f"embeddings:{vectors.model}"
    out = []
    for i, row in enumerate(probabilities):
        best = int(row.argmax())
        scores = {name: round(float(p), 6) for name, p in zip(classifier.names, row, strict=True)}
        calls = [*setup_calls, *vectors.calls] if i == 0 else []
        reason = f"nearest label by {method} (cosine {float(vectors.array[i] @ classifier.centroids[best]):.3f})"
        out.append(
            Classification(
                classifier.names[best],
                [classifier.names[best]],
                round(float(row[best]), 6),
                scores,
                reason,
                source,  # type: ignore[arg-type]
                calls,
                method=method,
                truncated=vectors.truncated[i],
            )
        )
    return out
