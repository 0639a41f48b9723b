"""The provider's hosted tools (web_search, file_search) and what they cost, from data/tools.toml.

    requested(params)        the hosted tools a Responses request asks for, by priced name
    ToolQuote.of(...)        the request's tool worst case: max_tool_calls x the dearest call, and
                             the input tokens those calls may add (search results, retrieved chunks)
    count_calls(output)      the tool calls a response made: web_search_call / file_search_call items
    cost(calls, tools, model) what those calls cost, at the quote's prices (per call, by tool and model)
    storage_cost(gb, days)   vector-store storage: per GB-day after the free GB

Only a profile that declares `hosted_tools` is priced from this table (it holds OpenAI's prices);
tools it does not list stay unpriced (refused under a budget, see `_money._budget`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

THOUSAND = Decimal(1000)
_DATED = re.compile(r"_\d{4}_\d{2}_\d{2}$")  # web_search_preview_2025_03_11 -> web_search_preview
ITEM_TYPES = ("web_search_call", "file_search_call")
_TOOL_OF_ITEM = {"web_search_call": "web_search", "file_search_call": "file_search"}
CHAT_SEARCH = re.compile(r"-search-(preview|api)\b")  # gpt-4o-search-preview, gpt-5-search-api: a search each


@cache
def table() -> dict[str, Any]:
    text = resources.files("unyo").joinpath("data/tools.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def default_max_tool_calls() -> int:
    return int(table().get("default_max_tool_calls", 4))


def base_name(kind: str) -> str:
    return _DATED.sub("", kind)


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def requested(params: Mapping[str, Any]) -> list[str]:
    """The provider-run tools a request asks for (function and custom tools run here)."""
    tools = params.get("tools") or []
    kinds = {str(kind) for kind in (_field(t, "type") for t in tools) if kind not in (None, "function", "custom")}
    return sorted(kinds)  # dicts and the SDK's tool objects (WebSearchTool, a previous response's tools) alike


def chat_search(params: Mapping[str, Any], model: str) -> ToolQuote | None:
    """Chat Completions' search models search the web before every answer (`web_search_options`
    or a `-search-` model): one web search call, priced like web_search_preview for that model."""
    if "web_search_options" not in params and not CHAT_SEARCH.search(model):
        return None
    found = price("web_search_preview", model)
    return ToolQuote((found,), 1) if found is not None else None


def is_priced(kind: str) -> bool:
    return base_name(kind) in table().get("tools", {})


@dataclass(frozen=True)
class ToolPrice:
    tool: str
    per_call: Decimal
    content_tokens: int
    item: str  # the output item type one call of it leaves in the response


def price(kind: str, model: str) -> ToolPrice | None:
    """The price of one call of `kind` for `model` (the longest model prefix listed wins)."""
    entry = table().get("tools", {}).get(base_name(kind))
    if entry is None:
        return None
    facts = dict(entry)
    models = facts.pop("models", {})
    best = max((p for p in models if model.startswith(p)), key=len, default=None)
    if best is not None:
        facts.update(models[best])
    return ToolPrice(base_name(kind), Decimal(str(facts["per_1k_calls"])) / THOUSAND,
                     int(facts.get("content_tokens", 0)), str(facts["item"]))  # fmt: skip


FILE_SEARCH_RESULTS, CHUNK_TOKENS = 20, 800  # file_search's default result count and chunk size


def _scaled(found: ToolPrice, params: Mapping[str, Any]) -> ToolPrice:
    """file_search with `max_num_results` above the default adds more chunks per call: reserve them."""
    if found.tool != "file_search":
        return found
    asked = [_field(t, "max_num_results") for t in params.get("tools") or () if _field(t, "type") == "file_search"]
    most = max((n for n in asked if isinstance(n, int) and not isinstance(n, bool)), default=FILE_SEARCH_RESULTS)
    return replace(found, content_tokens=max(found.content_tokens, most * CHUNK_TOKENS))


@dataclass(frozen=True)
class ToolQuote:
    """The tool part of a request's worst case."""

    tools: tuple[ToolPrice, ...]
    max_calls: int

    @classmethod
    def of(cls, params: Mapping[str, Any], model: str) -> ToolQuote | None:
        """None when the request asks for no hosted tool; raises KeyError for an unpriced one."""
        kinds = requested(params)
        if not kinds:
            return None
        prices = []
        for kind in kinds:
            found = price(kind, model)
            if found is None:
                raise KeyError(kind)
            prices.append(_scaled(found, params))
        calls = params.get("max_tool_calls")
        return cls(tuple(prices), int(calls) if calls is not None else default_max_tool_calls())

    @property
    def worst_usd(self) -> Decimal:
        return self.max_calls * max(t.per_call for t in self.tools)

    @property
    def content_tokens(self) -> int:
        return self.max_calls * max(t.content_tokens for t in self.tools)

    @property
    def names(self) -> str:
        return "/".join(t.tool for t in self.tools)


def count_calls(output: Iterable[Any] | None) -> dict[str, int]:
    """{item type: count} of the hosted tool calls in a response's output items."""
    counts: dict[str, int] = {}
    for item in output or ():
        kind = _field(item, "type")
        if kind in ITEM_TYPES:
            counts[str(kind)] = counts.get(str(kind), 0) + 1
    return counts


def cost(calls: Mapping[str, int], tools: Iterable[ToolPrice], model: str) -> Decimal | None:
    """What the tool calls a response made cost, at the prices of the request's quote (`tools`,
    as the budget step priced them for the model that ran); None if one of them has no price."""
    if not calls:
        return Decimal(0)
    by_item: dict[str, ToolPrice] = {}
    for found in tools:
        if found.item not in by_item or found.per_call > by_item[found.item].per_call:
            by_item[found.item] = found
    total = Decimal(0)
    for item, n in calls.items():
        found = by_item.get(item) or price(_TOOL_OF_ITEM.get(item, item), model)  # a call it did not ask for
        if found is None:
            return None
        total += n * found.per_call
    return total


def storage_cost(gb: float, days: float) -> tuple[Decimal, Decimal, Decimal]:
    """(per GB-day, free GB, cost) of keeping `gb` in vector stores for `days`."""
    entry = table().get("storage", {}).get("vector_stores", {})
    per_day, free = Decimal(str(entry.get("per_gb_day", "0"))), Decimal(str(entry.get("free_gb", 0)))
    billed = max(Decimal(0), Decimal(str(gb)) - free)
    return per_day, free, billed * per_day * Decimal(str(days))


def prices_as_of() -> str:
    return str(table().get("prices_as_of", "?"))
