"""Count input tokens before sending, offline.

OpenAI models: o200k_base / cl100k_base from `bpe-openai` (exact for text; per-message framing
follows OpenAI's published rule of 3 tokens per message + 3 to prime the reply). Before sending,
the pipeline uses `ByteBound` (UTF-8 bytes, a hard upper bound) and counts exactly only near a
limit, since loading the tables costs about a second per process. Models whose
tokenizer is not public are counted with o200k_base and marked as estimates. The local model
counts with its own tokenizer and chat template, exactly as llama.cpp will evaluate it.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Protocol

from unyo._providers import _shapes

PER_MESSAGE = 3
REPLY_PRIMING = 3


class Counter(Protocol):
    def count_text(self, text: str) -> int: ...
    def count_messages(self, messages: list[dict[str, str]]) -> int: ...


class BpeCounter:
    def __init__(self, encoding: str) -> None:
        import bpe_openai  # ~0.8 s to import: only when a count is needed

        self._enc = bpe_openai.get_encoding(encoding)

    def count_text(self, text: str) -> int:
        if not text:
            return 0
        try:
            return len(self._enc.encode_ordinary(text))
        except ValueError:  # bpe refuses pathological inputs (megabytes without a break); bytes bound tokens
            return len(text.encode("utf-8"))

    def count_messages(self, messages: list[dict[str, str]]) -> int:
        return REPLY_PRIMING + sum(
            PER_MESSAGE + self.count_text(m["role"]) + self.count_text(m["content"]) for m in messages
        )


class ByteBound:
    """An upper bound on any byte-level BPE count without loading a table: every token is at
    least one byte. Decoding the BPE tables costs about a second per process, so the pre-send
    checks use this bound and count exactly only when it comes close to a limit."""

    def count_text(self, text: str) -> int:
        return len(text.encode("utf-8", "surrogatepass")) if text else 0

    def count_messages(self, messages: list[dict[str, str]]) -> int:
        return REPLY_PRIMING + sum(
            PER_MESSAGE + self.count_text(m["role"]) + self.count_text(m["content"]) for m in messages
        )


BYTE_BOUND = ByteBound()


@functools.cache
def bpe_counter(encoding: str) -> BpeCounter:
    return BpeCounter(encoding.lstrip("~"))


def request_messages(api: str, params: dict[str, Any]) -> list[dict[str, str]]:
    """The text a request sends, as chat messages (tools and schemas appended as system text,
    since they are part of the prompt the provider bills)."""
    messages = _shapes.responses_messages(params) if api == "responses" else _shapes.chat_messages(params)
    extra = {k: _schema_of(params[k]) for k in ("tools", "text", "response_format", "text_format") if params.get(k)}
    if extra:
        messages.append({"role": "system", "content": json.dumps(extra, ensure_ascii=False, default=str)})
    return messages


def _schema_of(value: Any) -> Any:
    """A Pydantic model given to `parse()` is sent as its JSON schema: count that."""
    schema = getattr(value, "model_json_schema", None)
    return schema() if isinstance(value, type) and callable(schema) else value


MEDIA_TEXT = {"images": ("prompt",), "speech": ("input", "instructions"), "transcriptions": ("prompt",),
              "translations": ("prompt",)}  # fmt: skip


def count_input(api: str, params: dict[str, Any], counter: Counter) -> int:
    if api in MEDIA_TEXT:  # the text an Images / Audio call sends
        return sum(counter.count_text(str(params.get(k) or "")) for k in MEDIA_TEXT[api])
    if api == "embeddings":
        raw = params.get("input", "")
        if isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
            return len(raw)  # one input given as a token array
        items = raw if isinstance(raw, list) else [raw]
        return sum(counter.count_text(x) if isinstance(x, str) else len(x) if isinstance(x, list) else 0 for x in items)
    return counter.count_messages(request_messages(api, params))
