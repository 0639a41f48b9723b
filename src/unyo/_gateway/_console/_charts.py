"""Inline SVG bar charts for the usage dashboard (no script, no network): Jinja escapes labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float
    text: str


def bars(
    rows: Sequence[tuple[str, Decimal | float]], limit: float | None = None, width: int = 560, height: int = 160
) -> tuple[list[Bar], float | None]:
    """Bars scaled to the largest value (or the budget line, if higher); the budget line's y."""
    top = max([float(v) for _, v in rows] + [limit or 0.0, 1e-9])
    step = width / max(len(rows), 1)
    out = []
    for i, (label, value) in enumerate(rows):
        h = (float(value) / top) * (height - 20)
        out.append(Bar(label, float(value), i * step + 4, height - h, max(step - 8, 2), h, f"${float(value):.4f}"))
    line = None if limit is None else height - (limit / top) * (height - 20)
    return out, line
