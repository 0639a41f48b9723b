"""Classification by embeddings: the nearest label, with a confidence calibrated on the examples.

    label vectors   each sentence of a label's description and each of its examples, embedded
    centroid        per label, the normalised sum of its vectors
    scores          cosine of the text to every centroid, softmax at temperature T
    T               fitted by leave-one-out on the examples: each example is scored against the
                    centroids with itself taken out, and T minimises the log-loss of the true
                    labels; so a confidence of 0.8 means about 8 in 10 such answers are right,
                    and `confidence_threshold` / needs_human mean what they mean with logprobs
    ordinal fields  (urgency) the similarity-weighted mean of the nearest examples' values

Without examples there is nothing to calibrate on: a fixed temperature is used and the
confidence is marked uncalibrated. Fitting is numpy on a few hundred vectors (milliseconds);
there is no training step. The vectors come from `_vectors` (local model or provider, cached).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unyo._quality._labels import LabelSet

if TYPE_CHECKING:
    import numpy as np

DEFAULT_TEMPERATURE = 0.01  # E5 cosines sit in a narrow band (about 0.7-0.9): a sharp softmax
NEIGHBOURS = 5
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s*")


def description_pieces(description: str) -> list[str]:
    """A description's sentences (each becomes one vector of its label)."""
    pieces = [p.strip() for p in _SENTENCE.split(" ".join(description.split())) if len(p.strip()) > 3]
    return pieces or ([description.strip()] if description.strip() else [])


def label_texts(labels: LabelSet) -> tuple[list[str], list[int], list[bool]]:
    """(texts to embed, the label index of each, whether each is an example) for a label set.
    A label with neither a description nor examples is represented by its name."""
    texts, owner, is_example = [], [], []
    for i, label in enumerate(labels.labels):
        pieces = description_pieces(label.description) or [label.name.replace("_", " ")]
        for text, example in [(p, False) for p in pieces] + [(e.text, True) for e in label.examples]:
            texts.append(text)
            owner.append(i)
            is_example.append(example)
    return texts, owner, is_example


@dataclass
class NearestLabels:
    names: list[str]
    centroids: np.ndarray  # (labels, d), normalised
    temperature: float
    calibrated: bool
    loo_accuracy: float | None  # of the examples, each left out in turn
    examples: np.ndarray  # (examples, d)
    example_labels: list[int]
    example_values: list[dict[str, Any]] = field(default_factory=list)

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        return _softmax(vectors @ self.centroids.T, self.temperature)

    def neighbour_value(self, vector: np.ndarray, key: str) -> float | None:
        """The similarity-weighted mean of `key` over the nearest examples that carry it."""
        import numpy as np

        rows = [i for i, v in enumerate(self.example_values) if isinstance(v.get(key), (int, float))]
        if not rows:
            return None
        sims = self.examples[rows] @ vector
        top = np.argsort(-sims)[:NEIGHBOURS]
        weights = np.exp((sims[top] - sims[top].max()) / self.temperature)
        values = np.array([float(self.example_values[rows[i]][key]) for i in top])
        return float((weights * values).sum() / weights.sum())


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    import numpy as np

    z = scores / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def _normalise(v: np.ndarray) -> np.ndarray:
    import numpy as np

    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)  # type: ignore[no-any-return]


def _leave_one_out(sums: np.ndarray, counts: np.ndarray, vectors: np.ndarray, owner: list[int]) -> np.ndarray:
    """Each example's cosine to every centroid, its own label's centroid rebuilt without it."""
    centroids = _normalise(sums)
    scores = vectors @ centroids.T
    for row, label in enumerate(owner):
        if counts[label] > 1:
            scores[row, label] = float(_normalise(sums[label] - vectors[row]) @ vectors[row])
    return scores


def _fit_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    import numpy as np

    best, best_loss = DEFAULT_TEMPERATURE, float("inf")
    for t in np.geomspace(0.002, 0.5, 80):
        p = _softmax(scores, float(t))[np.arange(len(truth)), truth]
        loss = float(-np.log(np.maximum(p, 1e-12)).mean())
        if loss < best_loss:
            best, best_loss = float(t), loss
    return best


def fit(labels: LabelSet, vectors: np.ndarray) -> NearestLabels:
    """The classifier for `labels`, from the vectors of `label_texts(labels)` (in that order)."""
    import numpy as np

    _, owner, is_example = label_texts(labels)
    n = len(labels.labels)
    sums = np.zeros((n, vectors.shape[1]), dtype=np.float64)
    counts = np.zeros(n, dtype=int)
    for row, label in enumerate(owner):
        sums[label] += vectors[row]
        counts[label] += 1
    rows = [i for i, e in enumerate(is_example) if e]
    examples = vectors[rows] if rows else np.zeros((0, vectors.shape[1]), dtype=np.float32)
    example_owner = [owner[i] for i in rows]
    values = [e.values for label in labels.labels for e in label.examples]
    temperature, calibrated, accuracy = DEFAULT_TEMPERATURE, False, None
    if rows:
        scores = _leave_one_out(sums, counts, examples.astype(np.float64), example_owner)
        truth = np.array(example_owner)
        temperature, calibrated = _fit_temperature(scores, truth), True
        accuracy = float((scores.argmax(axis=1) == truth).mean())
    return NearestLabels(
        labels.names, _normalise(sums), temperature, calibrated, accuracy, examples, example_owner, values
    )
