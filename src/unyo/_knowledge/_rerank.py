"""An optional cross-check by the model: out of the top POOL passages of the hybrid search, the
model names the ones that help answer the question, and those (in the model's order) are the
passages the answer is written from.

    hybrid top 8 ─► "which passages help? reply with their numbers" ─► [3, 1] ─► passages 3, 1
                                          no valid number in the reply ─► the retrieval order, unchanged

The call goes through the same guarded client as the answer (priced, budgeted, audited). A reply
without a usable number keeps the retrieval order rather than inventing a choice: a small model
that cannot follow the format costs one call, never the answer.
"""

from __future__ import annotations

import re

from unyo._knowledge._cite import cited_numbers
from unyo._knowledge._index import Hit

POOL = 8  # passages the model chooses from
PASSAGE_CHARS = 300  # each passage's text in the rerank prompt (the answer's prompt shows more)


def prompt(question: str, hits: list[Hit]) -> tuple[str, str]:
    """(system, user) asking for the numbers of the helpful passages, best first."""
    system = (
        "You rank passages for a question. Reply only with the numbers of the passages that help answer it, "
        "most useful first, like: 3, 1. Reply 0 if none help."
    )
    body = "\n\n".join(f"[{n}] {(h.heading + ': ') if h.heading else ''}{h.text[:PASSAGE_CHARS]}" for n, h in
                       enumerate(hits, 1))  # fmt: skip
    return system, f"Question: {question}\n\nPassages:\n\n{body}\n\nQuestion: {question}\nHelpful passages:"


def picked(text: str, count: int) -> list[int]:
    """The passage numbers (1..count) the reply names, in its order."""
    return [n for n in cited_numbers(_bracketed(text)) if 1 <= n <= count]


def _bracketed(text: str) -> str:
    """A reply of bare numbers ("3, 1") read as citations ("[3] [1]")."""
    return re.sub(r"(?<![\d\[［【(（])(\d{1,2})(?![\d\]］】)）])", r"[\1]", text)


def reorder(hits: list[Hit], text: str, k: int) -> list[Hit]:
    """The `k` passages the model picked, in its order; the retrieval order when it picked none."""
    chosen = picked(text, len(hits))
    if not chosen:
        return hits[:k]
    return [hits[n - 1] for n in dict.fromkeys(chosen)][:k]
