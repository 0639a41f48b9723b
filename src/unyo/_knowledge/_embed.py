"""The knowledge base's embedder: which model turns passages and questions into vectors.

    local      the bundled multilingual-e5-small (offline; "query: " / "passage: " prefixes)
    provider   any embeddings model (text-embedding-3-small, ...) through the guarded client,
               so every batch is priced, reserved against budgets, in the ledger and audited

A knowledge base keeps the model it was built with; mixing vectors of two models is an error.
Vectors are float32 and L2-normalised, so a dot product is the cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unyo._providers._local import _embed as local

if TYPE_CHECKING:
    import numpy as np

LOCAL = local.MODEL_ID
BATCH = 64


class Embedder:
    def __init__(self, model: str | None = None, client: Any = None) -> None:
        self.model = model or LOCAL
        self._client = client

    @property
    def is_local(self) -> bool:
        return self.model == LOCAL

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "passage")

    def query(self, text: str) -> np.ndarray:
        return self._embed([text], "query")[0]

    def _embed(self, texts: Sequence[str], kind: local.Kind) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, local.DIMENSIONS if self.is_local else 0), dtype=np.float32)
        if self.is_local:
            return np.vstack([local.embed(texts[i : i + BATCH], kind) for i in range(0, len(texts), BATCH)] or [])
        rows = []
        for i in range(0, len(texts), BATCH):
            response = self.client.embeddings.create(model=self.model, input=list(texts[i : i + BATCH]))
            rows.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        vectors = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)

    @property
    def client(self) -> Any:
        if self._client is None:
            from unyo._client._openai import OpenAI

            self._client = OpenAI()
        return self._client
