"""`unyo.finetune`: fine-tuning from Python, on the guarded client (audited, budgeted).

    report = unyo.finetune.validate("train.jsonl", model="gpt-4.1-mini", epochs=3)
    report.ok, report.errors, report.estimate_usd          # each finding names its line
    job = unyo.finetune.create("train.jsonl", model="gpt-4.1-mini", epochs=3, max_cost="2.00")
    job = unyo.finetune.watch(job.id)                      # until it ends; its cost is settled
    unyo.finetune.use(job.id, role="main")                 # the tuned model becomes "main" in unyo.toml

Every function has an async twin (`avalidate`, `acreate`, ...), run in a worker thread.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from unyo._jobs._finetune import _jobs
from unyo._jobs._finetune._dataset import DatasetReport, Finding
from unyo._jobs._finetune._dataset import validate as _validate

__all__ = ["DatasetReport", "Finding", "acancel", "acreate", "astatus", "ause", "avalidate", "awatch", "cancel",
           "create", "status", "use", "validate", "watch"]  # fmt: skip


def _client(client: Any) -> Any:
    if client is not None:
        return client
    from unyo._client._openai import OpenAI

    return OpenAI()


def validate(
    path: str | Path, model: str = "gpt-4.1-mini", epochs: int | None = None, validation: str | Path | None = None
) -> DatasetReport:
    """Check a chat fine-tuning JSONL file; with `validation`, that file's findings join the report."""
    report = _validate(path, model, epochs)
    if validation is not None:
        checked = _validate(validation, model, epochs, training=report)
        report.findings += checked.findings
    return report


def create(
    path: str | Path,
    model: str = "gpt-4.1-mini",
    epochs: int = 3,
    validation: str | Path | None = None,
    suffix: str | None = None,
    max_cost: str | Decimal | None = None,
    client: Any = None,
) -> Any:
    """Validate, estimate, refuse over `max_cost` or the budget (nothing uploaded), upload and create the job."""
    limit = Decimal(str(max_cost)) if max_cost is not None else None
    return _jobs.create(_client(client), path, model, epochs, validation, suffix, limit)


def status(job_id: str, client: Any = None) -> Any:
    """The job now (an ended job's cost is settled)."""
    return _jobs.retrieve(_client(client), job_id)


def watch(job_id: str, poll_s: float = 5.0, client: Any = None) -> Any:
    """Wait until the job ends; returns it, settled."""
    job = None
    for item in _jobs.follow(_client(client), job_id, poll_s):
        job = item
    return job


def cancel(job_id: str, client: Any = None) -> Any:
    return _jobs.cancel(_client(client), job_id)


def use(job_id: str, role: str = "main", client: Any = None) -> str:
    """Bind the tuned model to `role` in the project's unyo.toml; returns the model id."""
    return _jobs.use(_client(client), job_id, role)[0]


async def avalidate(*args: Any, **kwargs: Any) -> DatasetReport:
    return await asyncio.to_thread(validate, *args, **kwargs)


async def acreate(*args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(create, *args, **kwargs)


async def astatus(*args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(status, *args, **kwargs)


async def awatch(*args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(watch, *args, **kwargs)


async def acancel(*args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(cancel, *args, **kwargs)


async def ause(*args: Any, **kwargs: Any) -> str:
    return await asyncio.to_thread(use, *args, **kwargs)
