"""The one place the default pipeline is assembled: shaping, cache and money steps in order.

    DEFAULT_STEPS      resolve model -> validate -> output cap -> count input -> context window
                       -> check cache -> reserve budget -> rate limit
    DEFAULT_FINISHERS  store in cache -> settle (cost, ledger, audit record)

A user adds a step without private imports: `unyo.Pipeline((*unyo.DEFAULT_STEPS, my_step),
unyo.DEFAULT_FINISHERS)`, each step a function of a `unyo.Call`.
"""

from __future__ import annotations

from unyo._core._call import Step
from unyo._core._pipeline import Pipeline
from unyo._core._steps import SHAPING_STEPS, rate_limit
from unyo._money._budget import reserve_budget
from unyo._money._settle import settle
from unyo._records._cache import check_cache, store_in_cache

DEFAULT_STEPS: tuple[Step, ...] = (*SHAPING_STEPS, check_cache, reserve_budget, rate_limit)
DEFAULT_FINISHERS: tuple[Step, ...] = (store_in_cache, settle)


def default_pipeline() -> Pipeline:
    return Pipeline(DEFAULT_STEPS, DEFAULT_FINISHERS)
