"""Keyword terms that work for Japanese without a dictionary.

Japanese has no spaces, and its content words are often two kanji (料金, 上限), which a
trigram index cannot match. So the keyword index stores overlapping character bigrams of every
run of kanji / katakana / hiragana, plus whole Latin words and numbers (lower-cased); FTS5 (or
PostgreSQL's `simple` text search) indexes those space-separated terms, and BM25 ranks them.
A query is turned into terms the same way, minus bigrams made only of hiragana (particles and
endings such as "には", "ます"), which match nearly everything.
"""

from __future__ import annotations

import re

_RUNS = re.compile(
    r"[A-Za-z0-9_][A-Za-z0-9_.\-]*[A-Za-z0-9_]|[A-Za-z0-9]|[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff々ー]+"
)
_HIRAGANA = re.compile(r"^[\u3040-\u309fー]+$")


def _terms(text: str, query: bool) -> list[str]:
    out: list[str] = []
    for run in _RUNS.findall(text):
        if run[0].isascii():
            out.append(run.lower())
            continue
        if len(run) == 1:
            grams = [run]
        else:
            grams = [run[i : i + 2] for i in range(len(run) - 1)]
        out.extend(g for g in grams if not (query and _HIRAGANA.match(g)))
    return out


def index_terms(text: str) -> str:
    """The text as it is stored in the keyword index: terms separated by spaces."""
    return " ".join(_terms(text, query=False))


def query_terms(text: str) -> list[str]:
    """The distinct terms of a query, in order."""
    return list(dict.fromkeys(_terms(text, query=True)))
