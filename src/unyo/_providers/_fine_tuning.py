"""What fine-tuning costs: training per trained token, and the tuned model's inference price.

    training cost   = trained tokens (dataset tokens x epochs) x `training` / 1M
    ft:BASE:org:suffix:id   priced by its base's `tuned_*` prices (data/fine_tuning.toml), with
                            the base's context window, output cap and tokenizer

The table is `data/fine_tuning.toml`; unyo.toml overrides it under [models."BASE"] with the same
keys (`training`, `tuned_input`, `tuned_cached_input`, `tuned_output`). A base without an entry
has no price: training on it, or using its tuned models, is refused while a budget is set.
"""

from __future__ import annotations

import functools
import math
import tomllib
from dataclasses import replace
from decimal import Decimal
from importlib import resources
from typing import Any

from unyo._types._prices import Price

# OpenAI's documented choice for n_epochs="auto": 3 epochs, raised for small datasets (to reach
# 100 examples seen) and lowered for large ones (to stay under 25,000), within 1..25.
TARGET_EPOCHS, MIN_EXAMPLES_SEEN, MAX_EXAMPLES_SEEN, MAX_AUTO_EPOCHS = 3, 100, 25_000, 25


@functools.cache
def _data() -> dict[str, Any]:
    return tomllib.loads(resources.files("unyo").joinpath("data/fine_tuning.toml").read_text(encoding="utf-8"))


def _table() -> dict[str, dict[str, Any]]:
    return _data()["models"]  # type: ignore[no-any-return]


def prices_as_of() -> str:
    return str(_data().get("prices_as_of", "?"))


def base_of(model: str) -> str | None:
    """The base model of a fine-tuned model id (`ft:gpt-4o-mini-2024-07-18:org::abc` -> `gpt-4o-mini-2024-07-18`)."""
    if not model.startswith("ft:"):
        return None
    base = model.split(":")[1]
    return base or None


def _facts(base: str, overrides: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    table = _table()
    extra = {k: v for k, v in (overrides or {}).items() if isinstance(v, dict)}
    keys = [k for k in {*table, *extra} if base == k or base.startswith(k)]
    if not keys:
        return {}
    key = max(keys, key=len)
    return {**table.get(key, {}), **extra.get(key, {})}


def training_price(base: str, overrides: dict[str, dict[str, Any]] | None = None) -> Decimal | None:
    """USD per 1M trained tokens for fine-tuning `base`; None: unknown."""
    value = _facts(base, overrides).get("training")
    return None if value is None else Decimal(str(value))


def tuned_price(base: str, overrides: dict[str, dict[str, Any]] | None = None) -> Price | None:
    """The inference price of models fine-tuned from `base`; None: unknown."""
    facts = _facts(base, overrides)
    if facts.get("tuned_input") is None:
        return None
    return Price.from_table(
        {
            "input": facts["tuned_input"],
            "cached_input": facts.get("tuned_cached_input", facts["tuned_input"]),
            "output": facts.get("tuned_output", 0),
        }
    )


def tuned_info(model: str, overrides: dict[str, dict[str, Any]] | None, base_info: Any) -> Any:
    """A fine-tuned model's catalogue facts: its base's limits and tokenizer, its own price."""
    base = base_of(model) or ""
    return replace(base_info, model=model, price=tuned_price(base, overrides))


def training_cost(tokens: int, price: Decimal) -> Decimal:
    return tokens * price / Decimal(1_000_000)


def auto_epochs(examples: int) -> int:
    """The epochs the provider picks for n_epochs="auto" on a dataset of `examples` examples."""
    if examples <= 0:
        return TARGET_EPOCHS
    if examples * TARGET_EPOCHS < MIN_EXAMPLES_SEEN:
        return min(MAX_AUTO_EPOCHS, math.ceil(MIN_EXAMPLES_SEEN / examples))
    if examples * TARGET_EPOCHS > MAX_EXAMPLES_SEEN:
        return max(1, MAX_EXAMPLES_SEEN // examples)
    return TARGET_EPOCHS


def max_example_tokens(base: str, overrides: dict[str, dict[str, Any]] | None = None) -> int | None:
    """The longest example the provider trains `base` on in full; None: unknown."""
    value = _facts(base, overrides).get("max_example_tokens")
    return int(value) if value is not None else None
