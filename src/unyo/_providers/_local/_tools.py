"""Tool calling on the local model: the model answers in JSON constrained by a grammar to
either `{"tool": NAME, "arguments": {...}}` for one of the offered tools (arguments matching
that tool's schema) or `{"answer": TEXT}`; the reply is turned back into a tool call or text.

Small local models do not speak OpenAI's tool protocol natively; the grammar guarantees a
well-formed call to an offered tool, and unyo's tool loop still validates every argument.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from unyo._providers import _shapes

PROMPT = (
    'You can call these tools. To call one, reply with JSON {{"tool": NAME, "arguments": {{...}}}}. '
    'When you have what you need, reply with JSON {{"answer": YOUR ANSWER}}.\n{listing}'
)


def prompt(tools: list[dict[str, Any]]) -> dict[str, str]:
    listing = "\n".join(
        f"- {t['name']}: {t['description']} arguments: {json.dumps(t['parameters'], ensure_ascii=False)}" for t in tools
    )
    return {"role": "system", "content": PROMPT.format(listing=listing)}


def grammar(tools: list[dict[str, Any]], choice: Any, answer_chars: int) -> dict[str, Any]:
    """The JSON schema the reply must match, honouring `tool_choice` (auto | required | a named function)."""
    forced = (choice.get("name") or (choice.get("function") or {}).get("name")) if isinstance(choice, dict) else None
    branches = [
        {
            "type": "object",
            "properties": {"tool": {"enum": [t["name"]]}, "arguments": t["parameters"]},
            "required": ["tool", "arguments"],
        }
        for t in tools
        if forced in (None, t["name"]) and choice != "none"
    ]
    if choice not in ("required",) and forced is None:
        branches.append(
            {
                "type": "object",
                "properties": {"answer": {"type": "string", "maxLength": answer_chars}},
                "required": ["answer"],
            }
        )
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


PARTIAL_ANSWER = re.compile(r'^\s*\{\s*"answer"\s*:\s*"(.*)$', re.S)


def reply(g: _shapes.Generated) -> _shapes.Generated:
    """The model's JSON reply as a tool call or as plain text (an answer cut by the output cap
    keeps the text it had; anything else unparseable is kept as it is)."""
    try:
        data = json.loads(g.text)
    except json.JSONDecodeError:
        partial = PARTIAL_ANSWER.match(g.text)
        if partial:
            body = partial.group(1).rstrip("\\")
            try:
                return replace(g, text=json.loads(f'"{body}"'))
            except json.JSONDecodeError:
                return replace(g, text=body)
        return g
    if isinstance(data, dict) and isinstance(data.get("tool"), str):
        call = {
            "call_id": _shapes.new_id("call"),
            "name": data["tool"],
            "arguments": json.dumps(data.get("arguments", {}), ensure_ascii=False),
        }
        return replace(g, text="", tool_calls=[call])
    if isinstance(data, dict) and isinstance(data.get("answer"), str):
        return replace(g, text=data["answer"])
    return g
