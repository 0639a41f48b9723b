"""Citations in a model's answer, checked against the passages it was given.

    [1]  [1][3]  [1, 2]  【2】 ［2］ (2)  passage 2  資料2     -> passage numbers
    a number that is not one of the passages                 -> dropped, listed in `invalid`
    no valid number at all                                   -> passages the answer's wording
                                                                comes from (character-bigram
                                                                overlap), marked `matched`
    neither (prose unrelated to every passage)               -> `extractive`: the passages'
                                                                sentences closest to the question,
                                                                quoted and cited; the model's text kept

Small models rarely cite in a fixed format; the fallback keeps the answer traceable without
trusting a number the model made up.

Citation precision (`citation_precision`, the rubric bench/rag.py reports): each sentence of an
answer that cites passages is supported when one of the passages it cites holds at least half
(SUPPORT_MIN) of the sentence's content terms: CJK character bigrams and Latin words, as the
keyword index cuts them, particles dropped. Deterministic, so a run can be compared with the last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from unyo._knowledge._chunk import sentences
from unyo._knowledge._terms import query_terms

_BRACKETED = re.compile(r"[\[［【(（]\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]］】)）]")
_WORDED = re.compile(r"(?:passage|source|資料|文書|パッセージ)\s*(?:No\.?|#|番号)?\s*(\d{1,3})", re.I)
MATCH_MIN = 0.5  # share of the answer's terms found in a passage for a `matched` citation
SNIPPET_CHARS = 160


@dataclass
class Found:
    numbers: list[int]  # valid passage numbers (1-based), in order of first mention
    invalid: list[int]  # numbers cited that are not passages
    matched: bool  # True: no valid number cited; the numbers come from overlap


def cited_numbers(text: str) -> list[int]:
    out: list[int] = []
    for m in _BRACKETED.finditer(text):
        out.extend(int(n) for n in re.split(r"[,，、]", m.group(1)))
    out.extend(int(m.group(1)) for m in _WORDED.finditer(text))
    return list(dict.fromkeys(out))


def overlap(answer: str, passage: str) -> float:
    terms = query_terms(answer)
    if not terms:
        return 0.0
    return sum(1 for t in terms if t in passage.lower()) / len(terms)


def find(text: str, passages: list[str]) -> Found:
    numbers = cited_numbers(text)
    valid = [n for n in numbers if 1 <= n <= len(passages)]
    invalid = [n for n in numbers if not 1 <= n <= len(passages)]
    if valid:
        return Found(valid, invalid, False)
    prose = _BRACKETED.sub("", text)
    scored = [(overlap(prose, p), n) for n, p in enumerate(passages, 1)]
    best = [n for score, n in sorted(scored, reverse=True) if score >= MATCH_MIN][:2]
    return Found(best, invalid, bool(best))


def snippet(passage: str, answer: str) -> str:
    """The passage's sentence that shares most with the answer, quoted (at most SNIPPET_CHARS)."""
    candidates = [s for line in passage.split("\n") for s in sentences(line)] or [passage]
    best = max(candidates, key=lambda s: overlap(s, answer.lower()) if answer else 0.0)
    return best if len(best) <= SNIPPET_CHARS else best[: SNIPPET_CHARS - 1] + "…"


def extractive(question: str, passages: list[str], limit: int = 2) -> tuple[str, list[int]]:
    """The `limit` sentences of the passages that share most terms with the question, each
    followed by its passage number; and those numbers."""
    scored = []
    for n, passage in enumerate(passages, 1):
        for sentence in (s for line in passage.split("\n") for s in sentences(line)):
            scored.append((overlap(question, sentence.lower()), -n, sentence, n))
    best = [b for b in sorted(scored, reverse=True)[:limit] if b[0] > 0]
    best.sort(key=lambda b: -b[1])
    return " ".join(f"{s} [{n}]" for _, _, s, n in best), list(dict.fromkeys(n for *_, n in best))


SUPPORT_MIN = 0.5  # the citation-precision rubric: share of a sentence's content terms its passage must hold


def cited_sentences(text: str) -> list[tuple[str, list[int]]]:
    """The answer's sentences that cite passages, each without its markers, with the numbers it
    cites (a marker alone, as a "[1]" on the next line, belongs to the sentence before it)."""
    every: list[tuple[str, list[int]]] = []
    for line in text.split("\n"):
        for sentence in sentences(line):
            numbers, prose = cited_numbers(sentence), _BRACKETED.sub("", sentence).strip()
            if not _CONTENT.search(prose):
                if every and numbers:
                    every[-1] = (every[-1][0], list(dict.fromkeys(every[-1][1] + numbers)))
                continue
            every.append((prose, numbers))
    return [(prose, numbers) for prose, numbers in every if numbers]


_CONTENT = re.compile(r"[A-Za-z0-9\u3040-\u30ff\u3400-\u9fff]")


def support(sentence: str, passage: str) -> float:
    """How much of the sentence the passage holds: the share of the sentence's keyword terms
    (CJK bigrams and Latin words, as the keyword index cuts them; particles dropped) found in it."""
    return overlap(sentence, passage)


def citation_precision(text: str, passages: list[str], minimum: float = SUPPORT_MIN) -> tuple[int, int]:
    """(cited sentences supported by a passage they cite, cited sentences): a sentence is supported
    when one of the passages it cites holds at least `minimum` of its content terms (`support`)."""
    judged = cited_sentences(text)
    supported = sum(
        1
        for sentence, numbers in judged
        if any(1 <= n <= len(passages) and support(sentence, passages[n - 1]) >= minimum for n in numbers)
    )
    return supported, len(judged)
