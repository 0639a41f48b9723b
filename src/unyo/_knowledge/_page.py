"""A web page's main text, for a task over a URL (`unyo run summarize --url URL`).

URL ─ `_fetch` (http/https only, private/loopback refused unless allowed, timeout, size cap)
    ─ `_read` (HTML: trafilatura's main text as Markdown, as `unyo kb add URL` reads it; PDF, text)
    ─ Page(url, text): the text with its headings, and the URL it is cited by
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unyo._knowledge._fetch import MAX_BYTES, TIMEOUT_S, fetch
from unyo._knowledge._read import SUFFIXES, Block, read_blocks
from unyo._types._errors import BadInput


@dataclass
class Page:
    url: str  # the URL as given: the citation of whatever is made from the text
    text: str
    content_type: str


def suffix_for(url: str, content_type: str) -> str:
    """How to read a fetched body: by its content type, else the URL's extension, else as HTML."""
    suffix = Path(url.split("?")[0].split("#")[0]).suffix.lower()
    if "pdf" in content_type:
        return ".pdf"
    if "html" in content_type or suffix not in SUFFIXES:
        return ".html"
    return suffix


def as_text(blocks: list[Block]) -> str:
    """Blocks back as Markdown-like text: headings keep their level, one block a paragraph."""
    return "\n\n".join(("#" * max(1, b.level) + " " + b.text) if b.kind == "heading" else b.text for b in blocks)


def read_page(
    url: str, *, timeout: float = TIMEOUT_S, max_bytes: int = MAX_BYTES, allow_private: bool | None = None
) -> Page:
    body, content_type = fetch(url, timeout=timeout, max_bytes=max_bytes, allow_private=allow_private)
    text = as_text(read_blocks(body, url, suffix_for(url, content_type))).strip()
    if not text:
        raise BadInput(f"{url}: no main text found on the page")
    return Page(url, text, content_type)
