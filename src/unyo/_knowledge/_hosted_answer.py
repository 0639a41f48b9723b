"""Answers through the provider's hosted tools, in the local path's citation format.

    hosted kb   responses.create(tools=[file_search(vector_store_ids=[the base's store])])
                file_citation (file_id, filename, index)  -> Citation(n, local source, snippet) + [n]
    --web       responses.create(tools=[web_search])
                url_citation (url, title, start..end)      -> Citation(n, url, title, quoted span) + [n]

The [n] markers are put where the provider placed each citation, so the text reads as a local
answer does. No citation and no retrieved passage (or the model saying the documents don't say)
is a refusal, with the same wording as the local path. Each request goes through the guarded
client: the tool calls are priced per call, reserved before sending (max_tool_calls x price)
and settled from the response's web_search_call / file_search_call items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from unyo._knowledge import _cite
from unyo._knowledge._answer import _MODEL_REFUSES, Citation, KnowledgeAnswer, refusal_text
from unyo._knowledge._index import Hit
from unyo._types._errors import UsageError
from unyo._types._messages import Message
from unyo._types._money_text import money_text

KB_SYSTEM = "Answer the question using only the files you can search. If they do not answer it, reply only: {refusal}"
WEB_SYSTEM = "Answer the question from a web search, citing the pages you use."


@dataclass
class HostedAnswer(KnowledgeAnswer):
    via: str = "openai"  # the provider whose tool answered
    tool: str = "file_search"  # file_search | web_search
    store_id: str | None = None
    tool_calls: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        record = super().to_dict()
        info = self.calls[-1] if self.calls else None
        record.update(
            {
                "via": self.via,
                "tool": self.tool,
                "vector_store_id": self.store_id,
                "tool_calls": dict(info.tool_calls) if info else {},
                "tool_cost_usd": money_text(info.tool_cost_usd) if info else None,
            }
        )
        return record


def _message_parts(response: Any) -> tuple[str, list[Any]]:
    """(the text, its annotations) of the response's output_text parts."""
    text, annotations = "", []
    for item in response.output or []:
        if getattr(item, "type", None) != "message":
            continue
        for part in item.content or []:
            if getattr(part, "type", None) == "output_text":
                offset = len(text)
                annotations += [(offset, a) for a in part.annotations or []]
                text += part.text
    return text, annotations


def _results(response: Any) -> list[Any]:
    return [r for item in response.output or [] if getattr(item, "type", None) == "file_search_call"
            for r in (item.results or [])]  # fmt: skip


def _marked(text: str, places: list[tuple[int, int]]) -> str:
    """`text` with " [n]" inserted at each (index, n), from the end so indexes stay right."""
    for index, n in sorted(places, reverse=True):
        text = f"{text[:index].rstrip()} [{n}]{text[index:]}"
    return text


def _request(question: str, system: str, tool: dict[str, Any], include: str, options: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {"input": question, "instructions": system, "tools": [tool], "include": [include]}
    for key, value in options.items():
        if value is not None:
            params[key] = value
    return params


def _call(client: Any, what: str, params: dict[str, Any]) -> Any:
    from unyo._providers._profiles import require

    require(client.settings.profile, "hosted_tools", what)
    return client.responses.create(**params)


def answer_hosted(
    question: str,
    kb: str,
    *,
    client: Any,
    k: int = 8,
    model: str | None = None,
    max_output_tokens: int | None = 300,
    max_tool_calls: int | None = None,
) -> HostedAnswer:
    """Answer from a hosted knowledge base with its `file_search` tool, citing its files."""
    from unyo._knowledge._hosted import hosted_base

    base = hosted_base(kb)
    if base is None or not base.get("store_id"):
        raise UsageError(Message("hosted.unknown_add", name=kb))
    tool = {"type": "file_search", "vector_store_ids": [base["store_id"]], "max_num_results": k}
    options = {"model": model, "max_output_tokens": max_output_tokens, "max_tool_calls": max_tool_calls}
    system = KB_SYSTEM.format(refusal=refusal_text(question))
    response = _call(client, f"ask --kb {kb} (a hosted knowledge base)",
                     _request(question, system, tool, "file_search_call.results", options))  # fmt: skip
    info = response._unyo_call
    text, annotations = _message_parts(response)
    results = _results(response)
    by_file = {entry["file_id"]: source for source, entry in base["files"].items()}
    passages = [
        Hit(i, by_file.get(r.file_id, r.filename or r.file_id), "", None, None, r.text or "", float(r.score or 0))
        for i, r in enumerate(results, 1)
    ]
    numbers: dict[str, int] = {}
    places, citations = [], []
    for offset, note in annotations:
        if getattr(note, "type", None) != "file_citation":
            continue
        if note.file_id not in numbers:
            numbers[note.file_id] = len(numbers) + 1
            quoted = [r.text or "" for r in results if r.file_id == note.file_id]
            before = text[: offset + note.index]
            citations.append(
                Citation(
                    numbers[note.file_id],
                    by_file.get(note.file_id, note.filename),
                    None,
                    "",
                    _cite.snippet("\n".join(quoted) or before, before),
                )  # fmt: skip
            )
        places.append((offset + note.index, numbers[note.file_id]))
    result = HostedAnswer(question, _marked(text, places).strip(), False, None, citations, passages, calls=[info],
                          via=base["via"], tool="file_search", store_id=base["store_id"])  # fmt: skip
    if not citations and (not results or _MODEL_REFUSES.search(text) or not text.strip()):
        result.text, result.refused = refusal_text(question), True
        result.reason = "retrieval" if not results else "model"
        result.model_text = text or None
    result.tool_calls = dict(info.tool_calls)
    return result


def answer_web(
    question: str,
    *,
    client: Any,
    model: str | None = None,
    max_output_tokens: int | None = 400,
    max_tool_calls: int | None = None,
) -> HostedAnswer:
    """Answer with the provider's `web_search` tool, citing the pages (url, title, quoted span)."""
    options = {"model": model, "max_output_tokens": max_output_tokens, "max_tool_calls": max_tool_calls}
    params = _request(question, WEB_SYSTEM, {"type": "web_search"}, "web_search_call.action.sources", options)
    response = _call(client, "ask --web", params)
    info = response._unyo_call
    text, annotations = _message_parts(response)
    numbers: dict[str, int] = {}
    places, citations = [], []
    for offset, note in annotations:
        if getattr(note, "type", None) != "url_citation":
            continue
        span = text[offset + note.start_index : offset + note.end_index].strip()
        if note.url not in numbers:
            numbers[note.url] = len(numbers) + 1
            snippet = span if len(span) <= _cite.SNIPPET_CHARS else span[: _cite.SNIPPET_CHARS - 1] + "…"
            citations.append(Citation(numbers[note.url], note.url, None, note.title or "", snippet))
        places.append((offset + note.end_index, numbers[note.url]))
    result = HostedAnswer(question, _marked(text, places).strip(), False, None, citations, [], calls=[info],
                          via=info.profile, tool="web_search")  # fmt: skip
    result.tool_calls = dict(info.tool_calls)
    return result
