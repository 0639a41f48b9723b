"""The record of one call: what was asked, every attempt, timing, usage, outcome.

It rides on the SDK object the call returned (`unyo.call_info(response)`) without changing
that object's type or its serialisation.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol, runtime_checkable

from unyo._types._money_text import money_text

Status = Literal["pending", "completed", "incomplete", "cancelled", "interrupted", "failed"]


@dataclass
class Usage:
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0  # reasoning tokens included, as providers bill them
    reasoning_tokens: int = 0
    reported: bool = True  # False: counted by unyo because the provider never said (cut stream)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def from_api(cls, usage: Any) -> Usage | None:
        """From a Responses or Chat Completions usage object (or dict)."""
        if usage is None:
            return None
        get = usage.get if isinstance(usage, dict) else lambda k, d=None: getattr(usage, k, d)

        def detail(name: str, key: str) -> int:
            d = get(name)
            if d is None:
                return 0
            value = d.get(key) if isinstance(d, dict) else getattr(d, key, 0)
            return int(value or 0)

        if get("input_tokens") is not None:
            return cls(
                int(get("input_tokens") or 0),
                detail("input_tokens_details", "cached_tokens"),
                int(get("output_tokens") or 0),
                detail("output_tokens_details", "reasoning_tokens"),
            )
        return cls(
            int(get("prompt_tokens") or 0),
            detail("prompt_tokens_details", "cached_tokens"),
            int(get("completion_tokens") or 0),
            detail("completion_tokens_details", "reasoning_tokens"),
        )


@dataclass
class Attempt:
    number: int
    outcome: str  # "ok" or the error class name
    duration_s: float
    status: int | None = None
    request_id: str | None = None
    wait_s: float = 0.0  # the wait that followed this attempt before the next one
    model: str = ""  # the model it was sent to
    profile: str = ""  # the profile (provider) it was sent to
    hop: int = 0  # 0: the model asked for; n: the n-th fallback that was tried (the gateway's fallbacks)
    breaker: str | None = None  # a fallback hop: its upstream's circuit breaker (closed / half-open / open)
    cost_usd: Decimal | None = None  # a fallback hop: what it cost (None: not priced, or not a fallback hop)


@dataclass
class CallInfo:
    api: str
    profile: str
    host: str
    model: str
    role: str | None = None
    stream: bool = False
    max_output_tokens: int | None = None
    input_tokens: int | None = None  # counted by unyo before sending
    input_tokens_exact: bool = True  # the tokenizer is the model's own (else an estimate, with a wider margin)
    input_tokens_bound: bool = False  # input_tokens is an upper bound (UTF-8 bytes), not a count
    started_at: float = field(default_factory=time.time)
    limiter_wait_s: float = 0.0
    attempt_log: list[Attempt] = field(default_factory=list)  # every attempt (`attempts` is their count)
    latency_s: float | None = None
    ttft_s: float | None = None
    request_id: str | None = None
    response_id: str | None = None
    status: Status = "pending"
    usage: Usage | None = None
    error: str | None = None  # the error class name
    error_message: str | None = None  # redacted
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    user: str | None = None
    tag: str | None = None  # the task tag budgets and reports group by
    cost_usd: Decimal | None = None  # what the call cost; None: the model has no price
    worst_case_usd: Decimal | None = None  # what was reserved before sending
    budget: str | None = None  # the budget decision: reserved / no budget set / downgraded from X / refused / cache hit
    budget_warning: str | None = None
    cache_hit: bool = False
    tool_calls: dict[str, int] = field(default_factory=dict)  # hosted tool calls made: {"web_search_call": 2}
    tool_cost_usd: Decimal | None = None  # what those calls cost (included in cost_usd)

    @property
    def attempts(self) -> int:
        """How many attempts the call took (the list, with each outcome and wait, is `attempt_log`)."""
        return len(self.attempt_log)

    @property
    def counted_input_tokens(self) -> int | None:
        """The input tokens unyo counted before sending (`usage.input_tokens` is what the provider
        reported); an upper bound when `input_tokens_bound`."""
        return self.input_tokens

    @property
    def reported_input_tokens(self) -> int | None:
        """The input tokens the provider reported (None: it reported no usage)."""
        return None if self.usage is None or not self.usage.reported else self.usage.input_tokens

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["attempts"] = self.attempts
        data["attempt_count"] = self.attempts
        for attempt in data["attempt_log"]:
            attempt["cost_usd"] = money_text(attempt["cost_usd"])
        for key in ("cost_usd", "worst_case_usd", "tool_cost_usd"):
            data[key] = money_text(data[key])
        return data


_ATTR = "_unyo_call"


@runtime_checkable
class Result(Protocol):
    """What every high-level result offers (Answer, Parsed, Classification, ToolAnswer,
    TaskResult, StreamResult): the calls it took, what they cost together, and a JSON-ready dict."""

    @property
    def calls(self) -> list[CallInfo]: ...

    @property
    def cost_usd(self) -> Decimal | None: ...

    def to_dict(self) -> dict[str, Any]: ...


def total_cost(calls: Iterable[CallInfo]) -> Decimal | None:
    """What several calls cost together; None if any of them has no price."""
    costs = [c.cost_usd for c in calls]
    return None if any(c is None for c in costs) else sum(costs, Decimal(0))  # type: ignore[arg-type]


def attach(obj: Any, info: CallInfo) -> None:
    """Hang the record on an SDK object. Pydantic keeps undeclared `_` attributes out of
    `model_dump()` / `model_dump_json()`, so the object serialises exactly as before."""
    try:
        object.__setattr__(obj, _ATTR, info)
    except (AttributeError, TypeError):
        pass


def call_info(obj: Any) -> CallInfo | None:
    """The CallInfo of a response, stream or Answer that unyo returned, or None."""
    return getattr(obj, _ATTR, None)
