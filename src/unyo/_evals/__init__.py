"""Evals: suites of prompts or tasks x models x cases, scored by assertions (see `_suite`,
`_assertions`, `_run`); `unyo.evaluate` / `unyo.aevaluate` run one and return a Report."""

from unyo._evals._evaluate import aevaluate, estimate, evaluate
from unyo._evals._report import Report

__all__ = ["Report", "aevaluate", "estimate", "evaluate"]
