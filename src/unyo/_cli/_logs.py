"""`unyo logs`: recent audit records with filters; `unyo logs prune`; `unyo logs export FILE`."""

from __future__ import annotations

import sys
from argparse import Namespace
from typing import Any

from unyo._cli._shared import clean, parse_since, settings_for, table
from unyo._types._errors import UsageError
from unyo._types._messages import Message, msg


def run(args: Namespace) -> int:
    from unyo._records._audit import iter_query, query, to_json
    from unyo._records._store import store_for

    settings = settings_for(args.profile)
    store = store_for(settings)
    if args.action == "prune":
        return _prune(store, settings, args)
    filters = dict(status=args.status, model=args.model, user=args.user, tag=args.tag, since=parse_since(args.since))
    if args.action == "export":
        from unyo._records._private_files import private_output

        if not args.file:
            raise UsageError(Message("logs.export_needs_file"))
        count = 0
        with (
            private_output(args.file) as tmp,
            open(tmp, "w", encoding="utf-8") as out,
        ):  # 0600, atomic, never through a link: it may hold masked prompts
            for record in iter_query(store, limit=None, oldest_first=True, **filters):  # a page at a time
                out.write(to_json(record) + "\n")
                count += 1
        print(msg("logs.exported", count=count, file=args.file), file=sys.stderr)
        return 0
    if args.tools:
        return _tools(store, args)
    records = query(store, limit=args.limit, **filters)
    if args.json:
        for record in records:
            print(to_json(record))
        return 0
    if not records:
        narrowed = any(v is not None for v in filters.values())
        print(msg("logs.empty_filtered" if narrowed else "logs.empty", location=store.location), file=sys.stderr)
        return 0
    from unyo._types._prices import usd

    rows = [
        [
            r["time"],
            r["status"],
            r["model"],
            r["user_id"] or "-",
            r["tag"] or "-",
            f"{r['input_tokens']}/{r['output_tokens']}",
            "hit" if r["cache_hit"] else usd(r["cost"]),
            r["attempts"],
            f"{r['latency_s']:.2f}s" if r["latency_s"] is not None else "-",
            r["error"] or r["budget"] or "",
        ]
        for r in records
    ]
    table(
        f"unyo logs ({len(records)} most recent, {store.location})",
        ["time", "status", "model", "user", "tag", "in/out", "cost", "tries", "latency", "error / budget"],
        rows,
    )
    return 0


def _tools(store: object, args: Namespace) -> int:
    from datetime import datetime

    from unyo._records._audit import to_json, tool_calls

    rows = tool_calls(store, limit=args.limit, since=parse_since(args.since), user=args.user)
    if args.json:
        for row in rows:
            print(to_json(row))
        return 0
    table(
        f"unyo logs --tools ({len(rows)} most recent)",
        ["time", "tool", "outcome", "user", "duration", "result chars", "arguments / error"],
        [
            [
                datetime.fromtimestamp(r["ts"]).strftime("%Y-%m-%d %H:%M:%S"),
                r["name"],
                r["outcome"],
                r["user_id"] or "-",
                f"{r['duration_s'] or 0:.3f}s",
                r["result_chars"],
                clean(r["error"] or r["arguments"] or "")[:80],
            ]
            for r in rows
        ],
    )
    return 0


def _prune(store: Any, settings: Any, args: Namespace) -> int:
    """Delete audit records older than --days, after a confirmation (--yes when stdin is not a
    terminal). Records of the current budget day and month are always kept (see _audit.prune)."""
    from datetime import datetime

    from unyo._cli._shared import confirm
    from unyo._records._audit import prune, prune_counts

    days = args.days if args.days is not None else settings.retention_days
    if days < 0:
        raise UsageError(Message("logs.bad_days", days=days))
    budget = settings.budget
    plan = prune_counts(store, days, budget=budget)
    kept_from = datetime.fromtimestamp(plan["keep_from"]).astimezone().strftime("%Y-%m-%d %H:%M")
    scrubbed = Message("logs.prune_scrubbed", count=plan["scrubbed"]) if plan["scrubbed"] else Message("empty")
    what = Message(
        "logs.prune_action",
        calls=plan["calls"],
        tool_calls=plan["tool_calls"],
        conversations=plan["conversations"],
        days=days,
        location=store.location,
        kept_from=kept_from,
        scrubbed=scrubbed,
    )
    if not confirm(what, args.yes, untouched="confirm.nothing_deleted"):
        return 0
    removed = prune(store, days, budget=budget)
    print(msg("logs.pruned", removed=removed, days=days, location=store.location, kept_from=kept_from))
    return 0
