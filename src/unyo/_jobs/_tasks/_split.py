"""Split a long document on its structure, Japanese or English: headings first, then paragraphs,
then sentences, and characters only as a last resort. Each part fits `max_tokens`."""

from __future__ import annotations

import re
from collections.abc import Callable

HEADING = re.compile(
    r"^(#{1,6}\s|第[0-9０-９一二三四五六七八九十百]+[章節条部]|【[^】]{1,40}】|■|◆|□"
    r"|\d+(\.\d+)*[.．、)]\s?\S|[A-Z][A-Za-z ]{0,40}:$)"
)
SENTENCE = re.compile(r"(?<=[。．！？!?])|(?<=[.])\s+")


def _sections(text: str) -> list[str]:
    sections: list[list[str]] = [[]]
    for line in text.splitlines():
        if HEADING.match(line.strip()) and any(s.strip() for s in sections[-1]):
            sections.append([])
        sections[-1].append(line)
    return ["\n".join(s).strip() for s in sections if "\n".join(s).strip()]


def _pack(pieces: list[str], max_tokens: int, count: Callable[[str], int], joiner: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    for piece in pieces:
        candidate = joiner.join([*current, piece])
        if current and count(candidate) > max_tokens:
            parts.append(joiner.join(current))
            current = [piece]
        else:
            current.append(piece)
    if current:
        parts.append(joiner.join(current))
    return parts


def _hard(text: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """Cut by characters: the longest prefix that fits, found by binary search."""
    out, start = [], 0
    while start < len(text):
        lo, hi = 1, len(text) - start
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(text[start : start + mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        out.append(text[start : start + lo])
        start += lo
    return out


def split(text: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """Parts of at most `max_tokens` (by `count`), cut at the largest structural unit that fits."""
    if count(text) <= max_tokens:
        return [text.strip()] if text.strip() else []
    pieces: list[str] = []
    for section in _sections(text):
        if count(section) <= max_tokens:
            pieces.append(section)
            continue
        for para in (p.strip() for p in re.split(r"\n\s*\n", section) if p.strip()):
            if count(para) <= max_tokens:
                pieces.append(para)
                continue
            for sentence in (s for s in SENTENCE.split(para) if s and s.strip()):
                pieces.extend([sentence] if count(sentence) <= max_tokens else _hard(sentence, max_tokens, count))
    return _pack(pieces, max_tokens, count, "\n\n")
