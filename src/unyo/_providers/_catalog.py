"""What unyo knows about a model before calling it: context window, max output, tokenizer, price."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from unyo._types._prices import Price


@dataclass(frozen=True)
class ModelInfo:
    model: str
    context_window: int | None = None  # None: unknown, so the fit check is skipped
    max_output: int | None = None
    tokenizer: str = "~o200k_base"  # "~" marks an estimate
    price: Price | None = None  # None: no known price
    facts: Mapping[str, Any] = field(default_factory=dict, compare=False)  # the whole entry (media prices)

    @property
    def exact_count(self) -> bool:
        return not self.tokenizer.startswith("~")


@functools.cache
def _catalogue() -> dict[str, Any]:
    return tomllib.loads(resources.files("unyo").joinpath("data/models.toml").read_text(encoding="utf-8"))


def _builtin() -> dict[str, dict[str, Any]]:
    return _catalogue()["models"]  # type: ignore[no-any-return]


def prices_as_of() -> str:
    return str(_catalogue().get("prices_as_of", "?"))


def model_info(model: str, overrides: dict[str, dict[str, Any]] | None = None) -> ModelInfo:
    """Facts for `model`: an exact entry in `overrides` (unyo.toml) or the catalogue wins,
    else the longest catalogue entry the id starts with, else unknown."""
    builtin, extra = _builtin(), overrides or {}
    if model.startswith("ft:") and model not in extra:  # a fine-tuned model: its base's facts, its own price
        from unyo._providers._fine_tuning import base_of, tuned_info

        return tuned_info(model, extra, model_info(base_of(model) or "", extra))  # type: ignore[no-any-return]
    table = {**builtin, **extra}
    key = model if model in table else max((k for k in table if model.startswith(k)), key=len, default=None)
    if key is None:
        return ModelInfo(model)
    facts = {**builtin.get(key, {}), **extra.get(key, {})}  # an override may give only a price
    return ModelInfo(
        model,
        context_window=facts.get("context_window"),
        max_output=facts.get("max_output"),
        tokenizer=facts.get("tokenizer", "~o200k_base"),
        price=Price.from_table(facts),
        facts=facts,
    )


def longest_entry(table: Mapping[str, Any], model: str) -> Any:
    """The entry for `model`: its own, else the longest key it starts with, else None."""
    key = model if model in table else max((k for k in table if model.startswith(k)), key=len, default=None)
    return None if key is None else table[key]


def vision_facts(model: str) -> dict[str, Any] | None:
    """How the provider counts image input tokens for `model` (the `[vision]` table), None: unknown.
    A fine-tuned model (`ft:BASE:...`) counts as its base does."""
    if model.startswith("ft:"):
        from unyo._providers._fine_tuning import base_of

        model = base_of(model) or model
    return longest_entry(_catalogue().get("vision", {}), model)  # type: ignore[no-any-return]
