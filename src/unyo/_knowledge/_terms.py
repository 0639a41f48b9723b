"""Keyword terms that work for Japanese without a dictionary.

Japanese has no spaces, and its content words are often two kanji (料金, 上限), which a
trigram index cannot match. So the keyword index stores overlapping character bigrams of every
run of kanji / katakana / hiragana, plus whole Latin words and numbers (lower-cased); FTS5 (or
PostgreSQL's `simple` text search) indexes those space-separated terms, and BM25 ranks them.
A query is turned into terms the same way, minus bigrams made only of hiragana (particles and
endings such as "には", "ます"), which match nearly everything.

A kanji standing alone between hiragana (近い, 何を, 置く) is also a term by itself: its bigrams all
carry a kana of its inflection or particle ("近づ" never meets "近い"), so without the unigram
the word's stem could not match across forms (bench/rag.py, whole Japanese set: BM25-only MRR
0.744 -> 0.761, hybrid recall@5 0.906 -> 0.938; English has no kanji and is unchanged).
"""

from __future__ import annotations

import re

_RUNS = re.compile(
    r"[A-Za-z0-9_][A-Za-z0-9_.\-]*[A-Za-z0-9_]|[A-Za-z0-9]|[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff々ー]+"
)
_HIRAGANA = re.compile(r"^[\u3040-\u309fー]+$")
_KANA = re.compile(r"[\u3040-\u30ffー]")
_HIRAGANA_CHAR = re.compile(r"[\u3040-\u309f]")


def _isolated_kanji(run: str) -> list[str]:
    """The kanji of a run whose neighbours are hiragana (or the run's ends)."""
    return [
        ch
        for i, ch in enumerate(run)
        if not _KANA.match(ch)
        and (i == 0 or _HIRAGANA_CHAR.match(run[i - 1]))
        and (i == len(run) - 1 or _HIRAGANA_CHAR.match(run[i + 1]))
    ]


def _terms(text: str, query: bool) -> list[str]:
    out: list[str] = []
    for run in _RUNS.findall(text):
        if run[0].isascii():
            out.append(run.lower())
            continue
        if len(run) == 1:
            grams = [run]
        else:
            grams = [run[i : i + 2] for i in range(len(run) - 1)] + _isolated_kanji(run)
        out.extend(g for g in grams if not (query and _HIRAGANA.match(g)))
    return out


def index_terms(text: str) -> str:
    """The text as it is stored in the keyword index: terms separated by spaces."""
    return " ".join(_terms(text, query=False))


def query_terms(text: str) -> list[str]:
    """The distinct terms of a query, in order."""
    return list(dict.fromkeys(_terms(text, query=True)))
