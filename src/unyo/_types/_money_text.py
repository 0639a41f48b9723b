"""Money for machines (JSON, CSV): a plain decimal string at a fixed scale, never scientific."""

from __future__ import annotations

from decimal import Decimal

MONEY_SCALE = Decimal("0.0000000001")  # 10 places: exact for any price with 4 decimals per 1M tokens


def money_text(value: Decimal | str | int | None) -> str | None:
    """A plain decimal string at a fixed scale of 10 places, such as "0.0001276500", never
    scientific notation ("1E-7"). A value with more places than that keeps them all: money is
    never rounded silently."""
    if value is None:
        return None
    value = Decimal(value)
    fixed = value.quantize(MONEY_SCALE)
    return f"{fixed if fixed == value else value:f}"
