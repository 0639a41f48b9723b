"""`unyo finetune validate|create|list|show|events|cancel|attach|use`: fine-tuning, guarded and priced.

Only argparse is imported at start-up (the parser is built for `unyo --help`); the work is in
`unyo._jobs._finetune`, imported when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from unyo._types._money_text import money_text

ACTIONS = ("validate", "create", "list", "show", "events", "cancel", "attach", "use")
POLL_S = 5.0


def add_parser(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tuning: validate a JSONL dataset (lines named, cost estimated), create a job within budget, "
        "follow it, bind the tuned model to a role",
        description=(
            "validate FILE    check a chat JSONL dataset as the provider will (exit 7 on errors)\n"
            "create FILE      validate, estimate, refuse over --max-cost or the budget, upload, create, follow\n"
            "list             recent jobs\n"
            "show JOB         one job; events JOB: its events; cancel JOB; attach JOB: follow it again\n"
            "use JOB --role R bind the tuned model to role R in the project's unyo.toml"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("target", nargs="?", help="the dataset (validate, create) or the job id")
    p.add_argument("-m", "--model", default="gpt-4.1-mini", help="the base model (default gpt-4.1-mini)")
    p.add_argument("--epochs", type=int, help="training epochs (create default 3; validate default: the auto rule)")
    p.add_argument("--validation", metavar="FILE", help="create: a validation dataset (checked the same way)")
    p.add_argument("--suffix", help="create: up to 64 characters in the tuned model's name")
    p.add_argument("--max-cost", metavar="USD", help="create: refuse, before uploading, if the estimate is over this")
    p.add_argument("--no-follow", action="store_true", help="create: return once the job exists")
    p.add_argument("--poll", type=float, default=POLL_S, help=f"seconds between status checks (default {POLL_S:g})")
    p.add_argument("--role", help="use: the role to bind (main, premium, bulk, ...)")
    p.add_argument("-n", "--limit", type=int, default=20, help="list: how many jobs (default 20)")
    p.add_argument("--user", help="who the job is for (budgets, audit)")
    p.add_argument("--tag", help="budget/report tag (default finetune)")
    p.add_argument("--json", action="store_true")
    common(p)
    p.set_defaults(handler="unyo._cli._finetune:run")


def run(args: argparse.Namespace) -> int:
    from unyo._types._errors import UsageError
    from unyo._types._messages import Message

    needs = "finetune.the_dataset" if args.action in ("validate", "create") else "finetune.the_job_id"
    if args.action != "list" and not args.target:
        raise UsageError(Message("finetune.give", action=args.action, needs=Message(needs)))
    if args.epochs is not None and not 1 <= args.epochs <= 50:
        raise UsageError(Message("finetune.epochs", epochs=args.epochs))
    if args.action == "validate":
        return _validate(args)
    from unyo._cli._shared import client_for

    client = client_for(args.profile, args.user, args.tag or "finetune")
    return int(globals()[f"_{args.action}"](client, args))


def _validate(args: argparse.Namespace) -> int:
    import json

    from unyo._jobs._finetune._dataset import validate
    from unyo._jobs._finetune._jobs import estimate_line

    report = validate(args.target, args.model, args.epochs)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_findings(report)
        print(estimate_line(report))
        print(f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)" + _suppressed(report))
    return 0 if report.ok else 7


def _print_findings(report: Any) -> None:
    from unyo._cli._shared import clean

    for f in report.findings:  # as compilers do: file:line: level: message [code]
        print(f"{clean(report.path)}:{f.line or 0}: {f.level}: {clean(f.message)} [{f.code}]")


def _suppressed(report: Any) -> str:
    return f" ({report.suppressed} more not shown)" if report.suppressed else ""


def _create(client: Any, args: argparse.Namespace) -> int:
    from decimal import Decimal, InvalidOperation

    from unyo._jobs._finetune import _jobs
    from unyo._types._errors import DatasetInvalid, UsageError
    from unyo._types._messages import Message

    try:
        max_cost = Decimal(args.max_cost) if args.max_cost is not None else None
    except InvalidOperation:
        raise UsageError(Message("finetune.max_cost", value=args.max_cost)) from None
    if args.suffix is not None and not 1 <= len(args.suffix) <= 64:
        raise UsageError(Message("finetune.suffix"))
    try:
        job = _jobs.create(
            client, args.target, args.model, args.epochs or 3, args.validation, args.suffix, max_cost, _say
        )
    except DatasetInvalid as exc:
        for f in exc.findings:  # type: ignore[attr-defined]
            print(f"{f.line or 0}: {f.level}: {f.message} [{f.code}]", file=sys.stderr)
        raise
    if args.no_follow:
        return _print_job(client, job, args)
    return _attach(client, args, job.id)


def _say(text: str) -> None:
    from unyo._cli._shared import clean

    print(clean(text), file=sys.stderr)


def _attach(client: Any, args: argparse.Namespace, job_id: str | None = None) -> int:
    """Follow until the job ends; Ctrl-C detaches (the job keeps running) and says how to come back."""
    from datetime import datetime

    from unyo._cli._shared import clean
    from unyo._jobs._finetune import _jobs

    job_id = job_id or args.target
    job = None
    try:
        for item in _jobs.follow(client, job_id, args.poll):
            if getattr(item, "object", "") == "fine_tuning.job.event":
                when = datetime.fromtimestamp(item.created_at).strftime("%H:%M:%S")
                print(f"{when}  {_progress(item)}{clean(item.message)}", file=sys.stderr)
            else:
                job = item
    except KeyboardInterrupt:
        print(
            f"\ndetached: job {job_id} keeps running at the provider (not cancelled).\n"
            f"reattach with:  unyo finetune attach {job_id}\n"
            f"cancel with:    unyo finetune cancel {job_id}",
            file=sys.stderr,
        )
        return 130
    assert job is not None
    code = _print_job(client, job, args)
    return code or {"succeeded": 0, "cancelled": 130}.get(job.status, 7)


def _progress(event: Any) -> str:
    """ "[ 30%] " for a training step's metrics event, else nothing."""
    data = getattr(event, "data", None) or {}
    step, total = data.get("step"), data.get("total_steps")
    if isinstance(step, int) and isinstance(total, int) and total > 0:
        return f"[{min(100, 100 * step // total):3d}%] "
    return ""


def _print_job(client: Any, job: Any, args: argparse.Namespace) -> int:
    import json

    from unyo._cli._shared import clean
    from unyo._money._fine_tuning import job_cost
    from unyo._types._prices import usd

    cost, held = job_cost(client.settings, job)
    if args.json:
        print(json.dumps(_record(client, job), ensure_ascii=False, indent=2))
        return 0
    print(f"{clean(job.id)}  {clean(job.status)}  base {clean(job.model)}")
    if cost is not None:
        print(f"cost: {usd(cost)} (settled from its trained tokens)")
    elif held is not None:
        print(f"held: {usd(held)} against the budget until it ends")
    if job.fine_tuned_model:
        print(f"model: {clean(job.fine_tuned_model)}")
        print(f"use it:  unyo finetune use {clean(job.id)} --role main")
    if job.trained_tokens is not None:
        print(f"trained tokens: {job.trained_tokens:,}")
    if job.error and job.error.message:
        print(f"error: {clean(job.error.code)}: {clean(job.error.message)}")
    return 0


def _record(client: Any, job: Any) -> dict[str, Any]:
    """The job as the provider describes it, with what unyo charged (or holds) for it."""
    from unyo._money._fine_tuning import job_cost

    cost, held = job_cost(client.settings, job)
    return {
        **job.model_dump(mode="json"),
        "unyo_cost_usd": money_text(cost),
        "unyo_held_usd": None if held is None else str(held),
    }


def _show(client: Any, args: argparse.Namespace) -> int:
    from unyo._jobs._finetune import _jobs

    return _print_job(client, _jobs.retrieve(client, args.target), args)


def _cancel(client: Any, args: argparse.Namespace) -> int:
    from unyo._jobs._finetune import _jobs

    return _print_job(client, _jobs.cancel(client, args.target), args)


def _events(client: Any, args: argparse.Namespace) -> int:
    import json
    from datetime import datetime

    from unyo._cli._shared import clean
    from unyo._jobs._finetune import _jobs

    for event in _jobs.events(client, args.target):
        if args.json:
            print(json.dumps(event.model_dump(mode="json"), ensure_ascii=False))
        else:
            when = datetime.fromtimestamp(event.created_at).strftime("%Y-%m-%d %H:%M:%S")
            print(f"{when}  {clean(event.level)}  {clean(event.message)}")
    return 0


def _list(client: Any, args: argparse.Namespace) -> int:
    import json
    from datetime import datetime

    from unyo._cli._shared import table
    from unyo._jobs._finetune import _jobs
    from unyo._money._fine_tuning import job_cost
    from unyo._types._prices import usd

    jobs = _jobs.list_jobs(client, args.limit)
    if args.json:
        print(json.dumps([_record(client, j) for j in jobs], ensure_ascii=False, indent=2))
        return 0
    rows = []
    for j in jobs:
        cost, held = job_cost(client.settings, j)
        money = usd(cost) if cost is not None else (f"{usd(held)} held" if held is not None else "")
        rows.append([j.id, j.status, j.model, j.fine_tuned_model or "", f"{j.trained_tokens:,}" if j.trained_tokens
                     else "", money, datetime.fromtimestamp(j.created_at).strftime("%Y-%m-%d %H:%M")])  # fmt: skip
    columns = ["job", "status", "base", "tuned model", "trained tokens", "cost", "created"]
    table("fine-tuning jobs", columns, rows)
    return 0


def _use(client: Any, args: argparse.Namespace) -> int:
    from pathlib import Path

    from unyo._cli._shared import clean
    from unyo._jobs._finetune import _jobs
    from unyo._types._errors import UsageError
    from unyo._types._messages import Message

    if not args.role:
        raise UsageError(Message("finetune.use_needs_role"))
    explicit = Path(args.config) if args.config else None
    model, path = _jobs.use(client, args.target, args.role, explicit)
    print(f"{clean(path)}: [profiles.{client.settings.profile.name}.models] {args.role} = {clean(model)}")
    return 0
