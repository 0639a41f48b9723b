"""Hybrid retrieval: the dense neighbours and the keyword (BM25) matches of a question, fused
by weighted reciprocal rank (RRF), so a passage both find rises and neither list's raw scores
need to be comparable:

    score(passage) = 1 / (k + dense rank) + w / (k + keyword rank)      (a list it is not in adds 0)

`w`, the keyword list's weight, depends on the question's script: character-bigram BM25 is a
precise signal for Japanese, while for English (no stemming) the e5 vectors are the stronger list.
`k` and both weights come from data/knowledge.toml `[retrieval]`, fitted by `bench/rag.py --tune`
on the DEV half of the eval questions (the other half is held out and reported); without that
table, the usual RRF defaults (k = 60, w = 1).

`mode` = "dense" or "keyword" runs one list alone (the baselines in bench/rag.py).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from unyo._knowledge._embed import Embedder
from unyo._knowledge._index import Hit, Storage
from unyo._types._messages import Message

CANDIDATES = 50
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")

Mode = Literal["hybrid", "dense", "keyword"]


@dataclass(frozen=True)
class Fusion:
    k: float = 60.0  # the RRF constant
    keyword_ja: float = 1.0  # the keyword list's weight for a question in Japanese (kana / kanji)
    keyword_en: float = 1.0  # ... and for any other question

    def keyword_weight(self, question: str) -> float:
        return self.keyword_ja if _CJK.search(question) else self.keyword_en


@cache
def fusion() -> Fusion:
    """The shipped fusion: data/knowledge.toml [retrieval], else the RRF defaults."""
    text = resources.files("unyo").joinpath("data/knowledge.toml").read_text(encoding="utf-8")
    found = tomllib.loads(text).get("retrieval", {})
    return Fusion(
        float(found.get("rrf_k", 60)),
        float(found.get("keyword_weight_ja", 1)),
        float(found.get("keyword_weight_en", 1)),
    )


def fuse(
    dense: list[tuple[int, float]], keyword: list[tuple[int, float]], k: float, keyword_weight: float
) -> dict[int, float]:
    """chunk id -> weighted RRF score of two ranked lists (best first). Passages with the same
    score share its best rank (1, 2, 2, 4): a tie in BM25 says nothing about which is better."""
    fused: dict[int, float] = {}
    for weight, ranked in ((1.0, dense), (keyword_weight, keyword)):
        rank, last = 0, None
        for position, (cid, score) in enumerate(ranked, 1):
            if score != last:
                rank, last = position, score
            fused[cid] = fused.get(cid, 0.0) + weight / (k + rank)
    return fused


def search(
    index: Storage,
    kb: str,
    question: str,
    k: int = 5,
    *,
    embedder: Embedder | None = None,
    mode: Mode = "hybrid",
    vector: Any = None,
    fusion_: Fusion | None = None,
) -> list[Hit]:
    """The `k` best passages of `kb` for `question`, best first, each with its scores
    (`vector`: the question's embedding, when the caller has it already; `fusion_`: other RRF
    settings than the shipped ones)."""
    known = index.base(kb)
    if known is None:
        from unyo._types._errors import ConfigError

        raise ConfigError(Message("kb.unknown_add", name=kb))
    if mode != "keyword" and vector is None:
        vector = (embedder or Embedder(known[0])).query(question)
    dense = index.dense(kb, vector, CANDIDATES) if mode != "keyword" else []
    keyword = index.keyword(kb, question, CANDIDATES) if mode != "dense" else []
    settings = fusion_ or fusion()
    fused = fuse(dense, keyword, settings.k, settings.keyword_weight(question))
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
