"""Answer a question from a knowledge base, citing the passages, or refuse.

    retrieve (hybrid) ─ best cosine < threshold ──────────────────────────► refused ("retrieval")
        │
    rerank=True: the model picks the relevant passages out of the top 8 (see `_rerank`)
        │
    prompt with the passages numbered [1]..[n] ─► model ─ says they don't answer ─► refused ("model")
        │
    citations checked against [1]..[n] (see `_cite`) ─► KnowledgeAnswer(text, citations, refused=False)

The retrieval threshold is the embedding model's `min_similarity` in data/knowledge.toml,
calibrated by `bench/rag.py --calibrate` on the eval set (never set by hand). A model without
one there refuses only on the model's word. The refusal text is 「資料には記載がありません」 for a
Japanese question and "The documents don't say" otherwise.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from unyo._client._openai import response_text
from unyo._knowledge import _cite, _rerank
from unyo._knowledge._embed import LOCAL, Embedder
from unyo._knowledge._index import Hit, Storage, shared_index
from unyo._knowledge._search import search
from unyo._quality._ask import _api_for, build_request, default_client
from unyo._quality._flow import Blocking, Create, Flow, arun, default_async_client, run
from unyo._types._call import CallInfo
from unyo._types._errors import ContextTooLong

REFUSAL_JA = "資料には記載がありません"
REFUSAL_EN = "The documents don't say"
PASSAGE_CHARS = 600
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
_MODEL_REFUSES = re.compile(
    r"記載がありません|記載されていません|記載はありません|わかりません|分かりません|見つかりません"
    r"|documents? (?:do not|don't) (?:say|mention|contain)|passages? (?:do not|don't) (?:say|mention|contain|answer)"
    r"|not (?:mentioned|stated|found) in the (?:passages|documents)|no information",
    re.I,
)


@cache
def thresholds() -> dict[str, Any]:
    text = resources.files("unyo").joinpath("data/knowledge.toml").read_text(encoding="utf-8")
    return tomllib.loads(text).get("refusal", {})


def min_similarity(embed_model: str) -> float | None:
    found = thresholds().get(embed_model, {}).get("min_similarity")
    return None if found is None else float(found)


def refusal_text(question: str) -> str:
    return REFUSAL_JA if _JAPANESE.search(question) else REFUSAL_EN


@dataclass
class Citation:
    n: int  # the passage's number in the prompt
    source: str
    page: int | None
    heading: str
    snippet: str
    place: str | None = None  # a table row's place ("Sheet1 row 4")
    matched: bool = False  # True: the model cited nothing; the answer's wording comes from this passage


@dataclass
class KnowledgeAnswer:
    question: str
    text: str
    refused: bool
    reason: str | None  # retrieval | model | None
    citations: list[Citation]
    passages: list[Hit]
    invalid_citations: list[int] = field(default_factory=list)
    similarity: float | None = None  # the best cosine of the question to any passage
    threshold: float | None = None
    calls: list[CallInfo] = field(default_factory=list)
    model_text: str | None = None  # set when the answer quotes the passages because the model's text cited none

    @property
    def cost_usd(self) -> Decimal | None:
        costs = [c.cost_usd for c in self.calls if c.cost_usd is not None]
        return sum(costs, Decimal(0)) if costs else None

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        from unyo._quality._ask import Answer

        record: dict[str, Any] = Answer.of(self.text, self.calls[-1]).to_dict() if self.calls else {"text": self.text}
        record.update(
            {
                "question": self.question,
                "refused": self.refused,
                "refusal_reason": self.reason,
                "citations": [vars(c) for c in self.citations],
                "invalid_citations": self.invalid_citations,
                "extractive": self.model_text is not None,
                "model_text": self.model_text,
                "similarity": self.similarity,
                "threshold": self.threshold,
                "passages": [passage_dict(n, h) for n, h in enumerate(self.passages, 1)],
                "cost_usd": None if self.cost_usd is None else str(self.cost_usd),
            }
        )
        return record


def passage_dict(n: int, hit: Hit) -> dict[str, Any]:
    return {
        "n": n,
        "source": hit.source,
        "page": hit.page,
        "place": hit.place,
        "heading": hit.heading,
        "text": hit.text,
        "score": round(hit.score, 6),
        "dense": None if hit.dense is None else round(hit.dense, 6),
        "keyword": None if hit.keyword is None else round(hit.keyword, 6),
    }


def _label(hit: Hit) -> str:
    where = [hit.source.rsplit("/", 1)[-1]]
    if hit.page:
        where.append(f"p.{hit.page}")
    if hit.place:
        where.append(hit.place)
    if hit.heading:
        where.append(hit.heading.rsplit(" > ", 1)[-1][:60])
    return ", ".join(where)


def prompt(question: str, hits: list[Hit]) -> tuple[str, str]:
    """(system, user): short and literal, so even the bundled 135M model can follow it."""
    refusal = refusal_text(question)
    system = (
        "Answer the question using only the numbered passages. "
        "After each sentence write the number of the passage it comes from, like [1]. "
        f"If the passages do not answer the question, reply only: {refusal}"
    )
    body = "\n\n".join(f"[{n}] ({_label(h)})\n{h.text[:PASSAGE_CHARS]}" for n, h in enumerate(hits, 1))
    return system, f"Passages:\n\n{body}\n\nQuestion: {question}\nAnswer (cite like [1]):"


def estimate_prompt(kb: str, question: str, k: int, index: Storage | None = None) -> tuple[str, str]:
    """(system, user) as `answer` would send them, to count for a cost estimate; sends nothing (a
    base embedded by a provider's model is searched by keyword alone: its question embedding is priced)."""
    index = index or shared_index()
    known = index.base(kb)
    mode = "hybrid" if known is not None and known[0] == LOCAL else "keyword"
    return prompt(question, search(index, kb, question, k, mode=mode))


def _refused(question: str, reason: str, hits: list[Hit], similarity: Any, threshold: Any, calls: Any) -> Any:
    return KnowledgeAnswer(question, refusal_text(question), True, reason, [], hits, [], similarity, threshold, calls)


def _retrieve(index: Storage | None, kb: str, question: str, k: int, client: Any) -> tuple[list[Hit], Any]:
    index = index or shared_index()
    known = index.base(kb)
    embedder = None
    if known and known[0] != LOCAL and not getattr(client, "_is_async", False):
        embedder = Embedder(known[0], client)  # the question's embedding is priced and audited like the answer
    return search(index, kb, question, k, embedder=embedder), known


def answer_flow(
    client: Any,
    question: str,
    *,
    kb: str,
    k: int,
    index: Storage | None,
    model: str | None,
    max_output_tokens: int | None,
    temperature: float | None,
    api: str | None,
    threshold: float | None,
    rerank: bool = False,
    extra: dict[str, Any] | None = None,
) -> Flow[KnowledgeAnswer]:
    """`extra`: more request options for every call (unyo_tag, unyo_user, unyo_cache, ...)."""
    hits, known = yield Blocking(_retrieve, index, kb, question, max(k, _rerank.POOL) if rerank else k, client)
    similarity = getattr(hits[0], "top_dense", None) if hits else None
    if threshold is None:
        threshold = min_similarity(known[0]) if known else None
    if not hits or (threshold is not None and similarity is not None and similarity < threshold):
        return _refused(question, "retrieval", hits[:k], similarity, threshold, [])
    which = _api_for(client, api)
    calls: list[CallInfo] = []
    if rerank:
        hits, info = yield from _reranked(which, question, hits, k, model, extra or {})
        calls.append(info)
    given = list(hits)
    while True:  # a small local context: fewer passages rather than no answer
        system, user = prompt(question, given)
        params = build_request(
            which,
            user,
            model=model,
            system=system,
            max_output_tokens=max_output_tokens,
            temperature=0.0 if temperature is None else temperature,
            stream=False,
            extra=dict(extra or {}),
        )
        try:
            response = yield Create(which, params)
            break
        except ContextTooLong:
            if len(given) == 1:
                raise
            given = given[: len(given) // 2]
    info = response._unyo_call
    calls.append(info)
    text = (response_text(response) or "").strip()
    if not text or _MODEL_REFUSES.search(text) and not _cite.cited_numbers(text):
        return _refused(question, "model", given, similarity, threshold, calls)
    found = _cite.find(text, [h.text for h in given])
    model_text = None
    if not found.numbers:  # the model's prose has nothing to do with the passages: quote them instead
        quoted, numbers = _cite.extractive(question, [h.text for h in given])
        if numbers:
            model_text, text = text, quoted
            found = _cite.Found(numbers, found.invalid, False)
    citations = [
        Citation(
            n,
            given[n - 1].source,
            given[n - 1].page,
            given[n - 1].heading,
            _cite.snippet(given[n - 1].text, text),
            given[n - 1].place,
            found.matched,
        )
        for n in found.numbers
    ]
    result = KnowledgeAnswer(question, text, False, None, citations, given, found.invalid, similarity, threshold, calls)
    result.model_text = model_text
    return result


def _reranked(which: Any, question: str, hits: list[Hit], k: int, model: str | None, extra: dict[str, Any]) -> Any:
    """(the k passages the model picked out of `hits`, the call's info); fewer passages on a small context."""
    pool = list(hits)
    while True:
        system, user = _rerank.prompt(question, pool)
        params = build_request(
            which, user, model=model, system=system, max_output_tokens=30, temperature=0.0, stream=False, extra=extra
        )
        try:
            response = yield Create(which, params)
            break
        except ContextTooLong:
            if len(pool) <= k:
                raise
            pool = pool[: max(k, len(pool) // 2)]
    return _rerank.reorder(pool, response_text(response) or "", k), response._unyo_call


def answer(
    question: str,
    kb: str = "default",
    *,
    k: int = 4,
    model: str | None = None,
    max_output_tokens: int | None = 300,
    temperature: float | None = None,
    api: str | None = None,
    threshold: float | None = None,
    rerank: bool = False,
    profile: str | None = None,
    client: Any = None,
    index: Storage | None = None,
) -> KnowledgeAnswer:
    """Answer `question` from the knowledge base `kb` with citations [n] checked against the
    passages given, or refuse (「資料には記載がありません」 / "The documents don't say").
    `rerank=True`: the model first picks the relevant passages out of the top 8 (one more call).
    A hosted base (`unyo kb add --via openai`) is answered by the provider's file_search tool."""
    client = client or default_client(profile)
    if index is None:
        from unyo._knowledge._hosted import hosted_base

        if hosted_base(kb) is not None:
            from unyo._knowledge._hosted_answer import answer_hosted

            return answer_hosted(question, kb, client=client, model=model, max_output_tokens=max_output_tokens)
    flow = answer_flow(
        client,
        question,
        kb=kb,
        k=k,
        index=index,
        model=model,
        max_output_tokens=max_output_tokens,
        temperature=temperature,
        api=api,
        threshold=threshold,
        rerank=rerank,
    )
    return run(flow, client)


async def aanswer(
    question: str,
    kb: str = "default",
    *,
    k: int = 4,
    model: str | None = None,
    max_output_tokens: int | None = 300,
    temperature: float | None = None,
    api: str | None = None,
    threshold: float | None = None,
    rerank: bool = False,
    profile: str | None = None,
    client: Any = None,
    index: Storage | None = None,
) -> KnowledgeAnswer:
    """The async twin of `answer`, on an AsyncOpenAI (retrieval runs off the event loop)."""
    client = client or default_async_client(profile)
    flow = answer_flow(
        client,
        question,
        kb=kb,
        k=k,
        index=index,
        model=model,
        max_output_tokens=max_output_tokens,
        temperature=temperature,
        api=api,
        threshold=threshold,
        rerank=rerank,
    )
    return await arun(flow, client)
