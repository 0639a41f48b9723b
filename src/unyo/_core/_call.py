"""The call every step works on: what will be sent, the settings it runs under, and its record.

`Call` is the lowest type of the call path. Steps are plain functions `step(call) -> None`
(`Step`) that read and amend `call.params` / `call.info` or raise an UnyoError.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from unyo._core._config import Settings
from unyo._providers._catalog import ModelInfo
from unyo._types._call import CallInfo
from unyo._types._errors import ErrorContext


@dataclass
class Call:
    api: str  # "responses" | "chat" | "embeddings" | "models"
    params: dict[str, Any]  # exactly what will be sent to the SDK
    settings: Settings
    info: CallInfo
    model: ModelInfo = field(default_factory=lambda: ModelInfo(""))
    began: float = field(default_factory=time.monotonic)  # when the pipeline took the call
    periods: dict[str, str] | None = None  # the budget periods the call is charged to
    reserved_usd: Decimal | None = None
    cache_mode: str | None = None  # None (settings decide) | "off" | "force"
    cache_key: str | None = None
    cached_body: dict[str, Any] | None = None  # a cache hit: the stored response
    response_body: str | None = None  # the response as JSON, kept only when it will be cached
    output_text: str | None = None  # what the model said (for the audit log's content policy)
    prior_known: bool = True  # False: stored context (previous_response_id, conversation, prompt) of unknown size
    prior_tokens: int = 0  # context the provider adds from its own state (previous_response_id, conversation)
    settle_once: bool = False  # a replayed batch answer: its id may already be in the ledger
    timeout_s: float | None = None  # the caller's per-request `timeout=`: caps each attempt
    raw_response: Any = None  # the SDK's raw response of the successful attempt
    # the shared limiter's reservation (_limiter.Ticket), read back with the answer's headers
    limiter_ticket: Any = None
    image_tokens: int = 0  # image input tokens (counted by the provider's rules; `_providers._vision`)
    quote: Any = None  # an Images / Audio call's price (`_money._media.Quote`); False: none known
    tools: Any = None  # the hosted tools' part of the worst case (`_providers._hosted_tools.ToolQuote`)
    request_free: bool = False  # a recorded management call (vector stores): no per-request charge

    def end(self, status: str) -> None:
        """Mark the call finished: status and latency (limiter wait, attempts and waits included)."""
        self.info.status = status  # type: ignore[assignment]
        self.info.latency_s = time.monotonic() - self.began

    @property
    def stream(self) -> bool:
        return bool(self.params.get("stream"))

    def error_context(self) -> ErrorContext:
        return ErrorContext(
            provider=self.info.profile, host=self.info.host, model=self.info.model, attempts=self.info.attempts
        )


Step = Callable[[Call], None]


def request_timeout(timeout: Any) -> float | None:
    """A per-request `timeout=` (seconds, or an httpx Timeout: its read timeout)."""
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return float(timeout)
    read = getattr(timeout, "read", None)
    return float(read) if isinstance(read, (int, float)) else None
