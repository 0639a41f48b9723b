"""What a call costs, in exact Decimal dollars.

    cost = uncached input × input price + cached input × cached price + output × output price

Prices are USD per 1M tokens. `output` already includes reasoning tokens (both APIs report
them inside the output count), so they are never added a second time. Local models cost 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from unyo._types._call import Usage

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Price:
    input: Decimal
    cached_input: Decimal
    output: Decimal

    @classmethod
    def from_table(cls, facts: dict[str, Any]) -> Price | None:
        """From a catalogue / unyo.toml entry; None when it has no `input` price."""
        if facts.get("input") is None:
            return None
        given = Decimal(str(facts["input"]))
        return cls(given, Decimal(str(facts.get("cached_input", facts["input"]))), Decimal(str(facts.get("output", 0))))

    def cost(self, usage: Usage) -> Decimal:
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        uncached = usage.input_tokens - cached
        return (uncached * self.input + cached * self.cached_input + usage.output_tokens * self.output) / MILLION

    def scaled(self, factor: Decimal) -> Price:
        """This price times `factor` (e.g. 0.5 for a provider's Batch API discount)."""
        return Price(self.input * factor, self.cached_input * factor, self.output * factor)

    def worst_case(self, input_tokens: int, output_cap: int) -> Decimal:
        """The most a call can cost: every input token uncached, output to the cap, at list prices."""
        return (input_tokens * self.input + output_cap * self.output) / MILLION


FREE = Price(ZERO, ZERO, ZERO)


def usd(value: Decimal | str | None) -> str:
    """Dollars for people (from a Decimal or its text, as in JSON reports): enough places to
    show sub-cent calls, no float rounding."""
    if value is None:
        return "unpriced"
    value = Decimal(value)
    if value == 0:
        return "$0"
    places = Decimal("0.00000001") if abs(value) < 1 else Decimal("0.0001")
    return f"${value.quantize(places).normalize():f}"
