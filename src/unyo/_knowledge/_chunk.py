"""Blocks -> Chunks that follow the document's structure.

A chunk never crosses a heading: each carries its heading path ("1. 基本 > 1.2 料金").
Paragraphs, list items and table rows are packed whole up to `target` characters; a block
longer than `limit` is split at sentence ends (。！？ . ! ?), and a sentence longer than
`limit` at the limit (Python strings, so never inside a character). Pages never mix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from unyo._knowledge._read import Block

TARGET_CHARS = 400
LIMIT_CHARS = 700

_SENTENCES = re.compile(r".+?(?:[。！？]+[」』）)]*|[.!?]+(?=\s)|$)", re.S)


@dataclass
class Chunk:
    text: str
    heading: str  # the heading path, " > "-joined; "" before the first heading
    page: int | None = None
    where: str | None = None  # a table row's place ("Sheet1 row 4")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCES.findall(text) if s.strip()]


def _pieces(text: str, limit: int) -> list[str]:
    """`text` cut at sentence ends into pieces of at most `limit` characters."""
    if len(text) <= limit:
        return [text]
    out: list[str] = []
    current = ""
    for sentence in sentences(text):
        while len(sentence) > limit:  # one run-on sentence: cut at the limit
            if current:
                out.append(current)
                current = ""
            out.append(sentence[:limit])
            sentence = sentence[limit:]
        joiner = " " if current and current[-1].isascii() and sentence[:1].isascii() else ""
        if len(current) + len(joiner) + len(sentence) > limit:
            out.append(current)
            current = sentence
        else:
            current = f"{current}{joiner}{sentence}"
    if current:
        out.append(current)
    return [p for p in out if p]


def chunk(blocks: list[Block], target: int = TARGET_CHARS, limit: int = LIMIT_CHARS) -> list[Chunk]:
    chunks: list[Chunk] = []
    path: list[tuple[int, str]] = []
    parts: list[str] = []
    page: int | None = None

    def flush() -> None:
        if parts:
            chunks.append(Chunk("\n".join(parts), " > ".join(t for _, t in path), page))
            parts.clear()

    for block in blocks:
        if block.kind == "heading":
            flush()
            while path and path[-1][0] >= block.level:
                path.pop()
            path.append((block.level, block.text[:200]))
            continue
        if block.page != page:
            flush()
            page = block.page
        if block.where:  # a spreadsheet / table row is its own passage, cited by its place
            flush()
            for piece in _pieces(block.text, limit):
                chunks.append(Chunk(piece, " > ".join(t for _, t in path), page, block.where))
            continue
        for piece in _pieces(block.text, limit):
            if parts and sum(len(p) + 1 for p in parts) + len(piece) > target:
                flush()
            parts.append(piece)
    flush()
    return chunks
