"""bench/rag.py's measurements of retrieval (baselines, the DEV/TEST split, the fusion grid), of
the model's rerank, and of citation precision (the rubric in unyo._knowledge._cite).

DEV / TEST: the questions of each set alternate (1st, 3rd, ... DEV; 2nd, 4th, ... TEST) in file
order, so both halves cover every guide. `--tune` chooses the RRF constant and the keyword weight
per script on DEV alone; TEST is held out and reported next to the whole set.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

GRID_K = (1, 2, 5, 10, 20, 40, 60)
GRID_W = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


@dataclass
class Case:
    """One answerable question's two ranked lists and the chunk ids that hold its evidence."""

    id: str
    question: str
    dense: list[tuple[int, float]]
    keyword: list[tuple[int, float]]
    relevant: set[int] = field(default_factory=set)


def split(questions: list[dict], part: str) -> list[dict]:
    if part == "all":
        return questions
    return [q for n, q in enumerate(questions) if n % 2 == (0 if part == "dev" else 1)]


def cases(store, kb: str, questions: list[dict], vectors: dict[str, object], relevant) -> list[Case]:
    """The answerable questions' dense and keyword lists (CANDIDATES each) on one store."""
    from unyo._knowledge._search import CANDIDATES

    out = []
    for q in questions:
        if not q["answerable"]:
            continue
        dense = store.dense(kb, vectors[q["id"]], CANDIDATES)
        keyword = store.keyword(kb, q["question"], CANDIDATES)
        hits = store.hits(list({c for c, _ in dense} | {c for c, _ in keyword}))
        out.append(Case(q["id"], q["question"], dense, keyword, {c for c, h in hits.items() if relevant(h, q)}))
    return out


def ranking(case: Case, how: str | tuple[float, float]) -> list[int]:
    """The top 10 chunk ids: "dense", "keyword", or fused with (k, keyword weight)."""
    from unyo._knowledge._search import fuse

    if how == "dense":
        return [c for c, _ in case.dense[:10]]
    if how == "keyword":
        return [c for c, _ in case.keyword[:10]]
    k, weight = how  # type: ignore[misc]
    fused = fuse(case.dense, case.keyword, k, weight)
    return sorted(fused, key=lambda c: -fused[c])[:10]


def scores(found: list[Case], how) -> dict:
    """recall@5 and MRR@10 over the cases."""
    recalls, rrs = [], []
    for case in found:
        ranks = [n for n, c in enumerate(ranking(case, how), 1) if c in case.relevant]
        recalls.append(1.0 if ranks and ranks[0] <= 5 else 0.0)
        rrs.append(1.0 / ranks[0] if ranks else 0.0)
    return {"recall@5": statistics.mean(recalls), "mrr": statistics.mean(rrs), "n": len(found)}


def tune(dev: dict[str, list[Case]], script: dict[str, str]) -> tuple[float, dict[str, float]]:
    """(k, {script: keyword weight}) with the best DEV recall@5, then MRR (means over the sets);
    ties go to the larger k and the weight nearest 1 (the usual RRF)."""
    best = None
    for k in GRID_K:
        weights, total_recall, total_mrr = {}, 0.0, 0.0
        for name, found in dev.items():
            ranked = [(scores(found, (k, w)), w) for w in GRID_W]
            top = max(ranked, key=lambda r: (r[0]["recall@5"], r[0]["mrr"], -abs(r[1] - 1)))
            weights[script[name]] = top[1]
            total_recall += top[0]["recall@5"]
            total_mrr += top[0]["mrr"]
        key = (total_recall, total_mrr, k)
        if best is None or key > best[0]:
            best = (key, k, weights)
    return best[1], best[2]


def rerank_recall(store, kb: str, questions: list[dict], client, relevant) -> dict:
    """recall@5 and MRR of the model's picks out of the hybrid top 8 (picked first, then the
    rest in retrieval order), next to the hybrid order, for these answerable questions."""
    from unyo._knowledge import _rerank
    from unyo._knowledge._answer import _reranked
    from unyo._knowledge._search import search
    from unyo._quality._ask import _api_for
    from unyo._quality._flow import run

    before, after, seconds = [], [], []
    for q in (q for q in questions if q["answerable"]):
        hits = search(store, kb, q["question"], _rerank.POOL)
        started = time.perf_counter()
        picked, _ = run(_reranked(_api_for(client, None), q["question"], hits, _rerank.POOL, None, {}), client)
        seconds.append(time.perf_counter() - started)
        order = picked + [h for h in hits if h not in picked]
        for ranked, out in ((hits, before), (order, after)):
            ranks = [n for n, h in enumerate(ranked, 1) if relevant(h, q)]
            out.append((1.0 if ranks and ranks[0] <= 5 else 0.0, 1.0 / ranks[0] if ranks else 0.0))
    mean = statistics.mean
    return {
        "n": len(before),
        "hybrid": (mean(r for r, _ in before), mean(m for _, m in before)),
        "rerank": (mean(r for r, _ in after), mean(m for _, m in after)),
        "seconds": mean(seconds),
    }


def answers(store, kb: str, questions: list[dict], client, max_output_tokens: int) -> dict:
    """Citation precision (the rubric of unyo._knowledge._cite) over the answers to these
    answerable questions: supported cited sentences / cited sentences; plus how the answers came."""
    from unyo._knowledge import _cite
    from unyo._knowledge._answer import answer

    supported = judged = refused = extractive = uncited = 0
    seconds = []
    for q in (q for q in questions if q["answerable"]):
        started = time.perf_counter()
        result = answer(q["question"], kb, client=client, index=store, max_output_tokens=max_output_tokens)
        seconds.append(time.perf_counter() - started)
        if result.refused:
            refused += 1
            continue
        extractive += result.model_text is not None
        good, total = _cite.citation_precision(result.text, [p.text for p in result.passages])
        supported, judged = supported + good, judged + total
        uncited += total == 0
    return {
        "answers": len(seconds),
        "precision": supported / judged if judged else None,
        "sentences": judged,
        "refused": refused,
        "extractive": extractive,
        "uncited": uncited,
        "seconds": statistics.mean(seconds) if seconds else 0.0,
    }
