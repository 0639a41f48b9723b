"""Hybrid retrieval: the dense neighbours and the keyword (BM25) matches of a question, fused
by reciprocal rank (RRF: score = Σ 1 / (60 + rank) over the lists a passage is in), so a
passage both find rises, and neither list's raw scores need to be comparable.

`mode` = "dense" or "keyword" runs one list alone (the baselines in bench/rag.py).
"""

from __future__ import annotations

from typing import Any, Literal

from unyo._knowledge._embed import Embedder
from unyo._knowledge._index import Hit, Storage

RRF_K = 60
CANDIDATES = 50

Mode = Literal["hybrid", "dense", "keyword"]


def search(
    index: Storage,
    kb: str,
    question: str,
    k: int = 5,
    *,
    embedder: Embedder | None = None,
    mode: Mode = "hybrid",
    vector: Any = None,
) -> list[Hit]:
    """The `k` best passages of `kb` for `question`, best first, each with its scores
    (`vector`: the question's embedding, when the caller has it already)."""
    known = index.base(kb)
    if known is None:
        from unyo._types._errors import ConfigError

        raise ConfigError(f"no knowledge base named {kb!r}: add documents with `unyo kb add PATH --kb {kb}`")
    if mode != "keyword" and vector is None:
        vector = (embedder or Embedder(known[0])).query(question)
    dense = index.dense(kb, vector, CANDIDATES) if mode != "keyword" else []
    keyword = index.keyword(kb, question, CANDIDATES) if mode != "dense" else []
    fused: dict[int, float] = {}
    for ranked in (dense, keyword):
        for rank, (cid, _) in enumerate(ranked, 1):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank)
    best = sorted(fused, key=lambda c: -fused[c])[:k]
    hits = index.hits(best)
    dense_of = {cid: (rank, s) for rank, (cid, s) in enumerate(dense, 1)}
    keyword_of = {cid: (rank, s) for rank, (cid, s) in enumerate(keyword, 1)}
    out = []
    for cid in best:
        hit = hits[cid]
        hit.score = fused[cid]
        hit.dense_rank, hit.dense = dense_of.get(cid, (None, None))
        hit.keyword_rank, hit.keyword = keyword_of.get(cid, (None, None))
        out.append(hit)
    top_dense = dense[0][1] if dense else None
    for hit in out:  # the best cosine of the question to any passage: the refusal signal
        hit.top_dense = top_dense  # type: ignore[attr-defined]
    return out
