"""The tokens a chat fine-tuning file trains on per epoch, as the provider bills them.

    flat_messages(example)   one example as role/content text (tool calls and definitions included)
    file_tokens(content)     every line's tokens: counted exactly (o200k / cl100k) when the line is
                             a chat example, else its bytes (every token is at least one byte), so
                             the total never falls below what the provider will count

`unyo finetune validate` counts a local file with these; the drop-in client counts the uploaded
file a `fine_tuning.jobs.create` names, so a budget is never held on a caller's own figure.
"""

from __future__ import annotations

import json
from typing import Any


def flat_messages(example: dict[str, Any]) -> list[dict[str, str]]:
    """The example as role/content text for the token counter: tool calls and definitions included."""
    flat = []
    for m in example.get("messages") or []:
        if not isinstance(m, dict):
            continue
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        text = content if isinstance(content, str) else ""
        if m.get("tool_calls"):
            text += json.dumps(m["tool_calls"], ensure_ascii=False)
        flat.append({"role": str(m.get("role", "")), "content": text})
    if example.get("tools"):
        flat.append({"role": "system", "content": json.dumps(example["tools"], ensure_ascii=False)})
    return flat


def file_tokens(content: bytes, encoding: str = "o200k_base") -> int:
    """Tokens per epoch of a JSONL training file's bytes (see the module docstring)."""
    from unyo._providers._tokens import bpe_counter

    counter = bpe_counter(encoding if encoding.lstrip("~") in ("o200k_base", "cl100k_base") else "o200k_base")
    total = 0
    for line in content.splitlines():
        if not line.strip():
            continue
        try:
            example = json.loads(line.decode("utf-8-sig"))
            exact = counter.count_messages(flat_messages(example)) if isinstance(example, dict) else None
        except (UnicodeDecodeError, ValueError):
            exact = None
        total += exact if exact is not None else len(line)  # a line the counter cannot read: its bytes
    return total
