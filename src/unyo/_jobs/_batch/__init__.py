"""The batch runner: a task over every row of a CSV / XLSX / JSONL file (see `_runner`)."""

from unyo._jobs._batch._estimate import Estimate, estimate_rows
from unyo._jobs._batch._runner import BatchOptions, BatchSummary, Runner, batch_settings

__all__ = ["BatchOptions", "BatchSummary", "Estimate", "Runner", "batch_settings", "estimate_rows"]
