"""Fine-tuning jobs, end to end, on the guarded client (every call audited and budgeted).

create   validate the dataset(s) -> estimate (tokens x epochs x training price) -> refuse over
         --max-cost or the budget, before anything is uploaded -> upload (purpose fine-tune)
         -> `fine_tuning.jobs.create` (reserves the estimate, `_money._fine_tuning`); an
         upload whose job was refused is deleted again (not after a timeout, a 5xx or
         Ctrl-C: a job may use it)
follow   the job's events, oldest first, until it ends; Ctrl-C stops following, never the job
settle   every read of an ended job created through unyo settles its cost once, from the
         job's `trained_tokens` (follow, show, list, cancel)
use      bind the tuned model to a role in the project's unyo.toml
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from unyo._jobs._finetune._dataset import DatasetReport, validate
from unyo._types._errors import (
    BudgetExceeded,
    ConfigError,
    DatasetInvalid,
    ServerError,
    TransportError,
    UnpricedModel,
    UnyoError,
)
from unyo._types._messages import Message
from unyo._types._prices import usd

TERMINAL = ("succeeded", "failed", "cancelled")


def check(
    path: str | Path, model: str, epochs: int | None, validation: str | Path | None, settings: Any
) -> tuple[DatasetReport, DatasetReport | None]:
    """Both files' reports; DatasetInvalid when either has errors."""
    report = validate(path, model, epochs, settings)
    checked = validate(validation, model, epochs, settings, training=report) if validation else None
    bad = [(report.path, f) for f in report.errors] + [(checked.path, f) for f in (checked.errors if checked else [])]
    if bad:
        shown = "; ".join(f"{name} {f}" for name, f in bad[:5])
        more = Message("finetune.and_more", count=len(bad) - 5) if len(bad) > 5 else Message("empty")
        raise DatasetInvalid(
            Message("finetune.dataset_problems", count=len(bad), shown=shown, more=more), findings=[f for _, f in bad]
        )
    return report, checked


def worst_case(report: DatasetReport) -> Decimal | None:
    """What creating the job reserves: the trained tokens with the margin of any exact count."""
    from unyo._money._budget import margin_tokens
    from unyo._providers._fine_tuning import training_cost

    if report.training_price is None:
        return None
    return training_cost(margin_tokens(report.trained_tokens, True), report.training_price)


def refuse_over_budget(
    settings: Any, report: DatasetReport, max_cost: Decimal | None, user: str | None, tag: str | None
) -> None:
    """Refuse before uploading: over --max-cost, or over what the budget has left (the reservation
    at creation is the binding check; this one saves a pointless upload)."""
    from unyo._core._limits import checks_for
    from unyo._records._ledger import ledger_for

    worst, config = worst_case(report), settings.budget
    name = Message(
        "finetune.what", model=report.model, trained=report.trained_tokens, tokens=report.tokens, epochs=report.epochs
    )
    if worst is None and (max_cost is not None or (config.limits and not config.allow_unpriced)):
        raise UnpricedModel(Message("unpriced.training", what=name, model=report.model), model=report.model)
    if worst is None:
        return
    if max_cost is not None and worst > max_cost:
        raise BudgetExceeded(
            Message(
                "finetune.over_max_cost",
                what=name,
                estimate=usd(report.estimate_usd),
                worst=usd(worst),
                max_cost=usd(max_cost),
            ),
            limit=max_cost, spent=Decimal(0), reserved=Decimal(0), asked=worst, scope="request", period="request",
        )  # fmt: skip
    if not config.limits or settings.db_url == "off":
        return
    for limit in config.limits:
        if limit.period == "request" and worst > limit.usd:
            raise BudgetExceeded(
                Message("finetune.over_request_limit", what=name, worst=usd(worst), limit=limit.label()),
                limit=limit.usd, spent=Decimal(0), reserved=Decimal(0), asked=worst, scope=limit.scope,
                period="request",
            )  # fmt: skip
    periods = config.period_keys()
    counters = ledger_for(settings).counters(list(periods.values()))
    for c in checks_for(config, user, tag, periods):
        spent, reserved = counters.get((c.scope, c.period), (Decimal(0), Decimal(0)))
        if spent + reserved + worst > c.limit.usd:
            raise BudgetExceeded(
                Message(
                    "finetune.over_period_limit",
                    what=name,
                    worst=usd(worst),
                    limit=c.limit.label(),
                    period=c.period,
                    spent=spent,
                    reserved=reserved,
                ),
                limit=c.limit.usd, spent=spent, reserved=reserved, asked=worst, scope=c.limit.scope, period=c.period,
            )  # fmt: skip


def create(
    client: Any,
    path: str | Path,
    model: str,
    epochs: int = 3,
    validation: str | Path | None = None,
    suffix: str | None = None,
    max_cost: Decimal | None = None,
    say: Callable[[str], None] = lambda text: None,
) -> Any:
    """Validate, estimate, refuse or upload, create; returns the job (not waiting for it)."""
    settings = client.settings
    if not settings.profile.fine_tuning:
        raise ConfigError(Message("finetune.no_api", profile=settings.profile.name))
    report, checked = check(path, model, epochs, validation, settings)
    say(estimate_line(report))
    refuse_over_budget(settings, report, max_cost, client.user, client.tag)
    uploaded = [_upload(client, path)]
    from unyo._client._training_file import vouch

    vouch(uploaded[0].id, report.tokens)  # counted from the bytes just uploaded: not read back
    try:
        if validation:
            uploaded.append(_upload(client, validation))
        options = {"suffix": suffix} if suffix else {}
        kwargs = {
            "model": model,
            "training_file": uploaded[0].id,
            **({"validation_file": uploaded[1].id} if validation else {}),
            "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs}}},
            "unyo_training_tokens": report.tokens,
            **options,
        }
        job = _create_once(client, kwargs, worst_case(report), say)
    except UnyoError as exc:
        if not isinstance(exc, (TransportError, ServerError)):  # refused for sure: no job uses the upload
            for f in uploaded:
                _delete_quietly(client, f.id)
        raise
    say(f"created {job.id} ({job.status}); training file {uploaded[0].id}")
    return job


def _create_once(client: Any, kwargs: dict[str, Any], worst: Decimal | None, say: Callable[[str], None]) -> Any:
    """Create the job, and only one: a create the provider may have received (timeout, 5xx, broken
    connection, 429) is looked for by its training file before it is sent again."""
    from unyo._money._fine_tuning import hold_for_job
    from unyo._types._errors import Conflict, RateLimited, RequestTimeout, ServerError, TransportError

    once = client.with_options(max_retries=0)  # unyo's retry loop would send the create again, blind
    attempts = max(1, client.settings.max_attempts)
    for attempt in range(1, attempts + 1):
        try:
            return once.fine_tuning.jobs.create(**kwargs)
        except (TransportError, ServerError, RateLimited, RequestTimeout, Conflict) as exc:
            found = _adopt(client, kwargs["training_file"])
            if found is not None:
                held = hold_for_job(client.settings, found, worst)
                say(
                    f"the create call failed ({type(exc).__name__}) but the provider had created {found.id}: "
                    f"following it{'' if held else ' (its cost is settled when it ends)'}"
                )
                return found
            if attempt == attempts:
                raise
            time.sleep(min(client.settings.backoff_max_s, client.settings.backoff_base_s * 2**attempt))
    raise AssertionError("unreachable")


def _adopt(client: Any, training_file: str) -> Any:
    """The job made from `training_file` (an upload of this run, so any job on it is ours), or None."""
    jobs = _control(client, "look for the job", lambda: client.fine_tuning.jobs.list(limit=100)).data
    return next((j for j in jobs if j.training_file == training_file), None)


def _control(client: Any, what: str, fn: Callable[[], Any]) -> Any:
    from unyo._jobs._batch._provider import control

    return control(client.settings, what, fn)


def _upload(client: Any, path: str | Path) -> Any:
    data = Path(path).read_bytes()
    return _control(
        client,
        f"upload {Path(path).name}",
        lambda: client.files.create(file=(Path(path).name, data, "application/jsonl"), purpose="fine-tune"),
    )


def _delete_quietly(client: Any, file_id: str) -> None:
    try:
        client.files.delete(file_id)
    except Exception:  # the job's failure is the news; a stale upload is only clutter
        pass


def estimate_line(report: DatasetReport) -> str:
    epochs = f"{report.epochs} epochs{' (auto)' if report.epochs_auto else ''}"
    price = "no training price known" if report.training_price is None else f"{usd(report.estimate_usd)}"
    return (
        f"{report.examples:,} examples, {report.tokens:,} tokens x {epochs} = {report.trained_tokens:,} trained "
        f"tokens; estimated training cost {price} ({report.model})"
    )


def retrieve(client: Any, job_id: str) -> Any:
    """The job now; settles it if it has ended."""
    from unyo._money._fine_tuning import settle_job

    job = _control(client, f"check job {job_id}", lambda: client.fine_tuning.jobs.retrieve(job_id))
    settle_job(client.settings, job)
    return job


def list_jobs(client: Any, limit: int = 20) -> list[Any]:
    from unyo._money._fine_tuning import settle_job

    jobs = list(_control(client, "list jobs", lambda: client.fine_tuning.jobs.list(limit=limit)).data)
    for job in jobs:
        settle_job(client.settings, job)
    return jobs


def cancel(client: Any, job_id: str) -> Any:
    from unyo._money._fine_tuning import settle_job

    job = _control(client, f"cancel job {job_id}", lambda: client.fine_tuning.jobs.cancel(job_id))
    settle_job(client.settings, job)
    return job


def events(client: Any, job_id: str, after: str | None = None) -> list[Any]:
    """The job's events after event `after` (None: all), oldest first."""
    newest_first: list[Any] = []
    jobs = client.fine_tuning.jobs
    page = _control(client, f"read job {job_id}'s events", lambda: jobs.list_events(job_id, limit=100))
    while True:
        for event in page.data:
            if event.id == after:
                return newest_first[::-1]
            newest_first.append(event)
        if not page.has_more or not page.data:
            return newest_first[::-1]
        page = _control(
            client,
            f"read job {job_id}'s events",
            lambda last=page.data[-1].id: jobs.list_events(job_id, limit=100, after=last),
        )


def follow(client: Any, job_id: str, poll_s: float = 5.0) -> Iterator[Any]:
    """Yield each new event, oldest first, then the ended job (settled). Polls every `poll_s`."""
    last: str | None = None
    while True:
        job = retrieve(client, job_id)
        for event in events(client, job_id, last):
            last = event.id
            yield event
        if job.status in TERMINAL:
            yield job
            return
        time.sleep(poll_s)


def use(client: Any, job_id: str, role: str, config: Path | None = None) -> tuple[str, Path]:
    """Bind the job's tuned model to `role` for this profile in the project's unyo.toml."""
    from unyo._jobs._finetune._config import bind_role

    job = retrieve(client, job_id)
    if job.status != "succeeded" or not job.fine_tuned_model:
        raise ConfigError(Message("finetune.not_ready", job=job_id, status=job.status))
    return job.fine_tuned_model, bind_role(client.settings.profile.name, role, job.fine_tuned_model, config)
