"""`unyo logs`: recent audit records with filters; `unyo logs prune`; `unyo logs export FILE`."""

from __future__ import annotations

import json
import os
import sys
from argparse import Namespace

from unyo._cli._shared import parse_since, settings_for, table


def run(args: Namespace) -> int:
    from unyo._audit import prune, query, to_json
    from unyo._store import store_for

    settings = settings_for(args.profile)
    store = store_for(settings)
    if args.action == "prune":
        days = args.days if args.days is not None else settings.retention_days
        removed = prune(store, days)
        print(f"removed {removed} audit records older than {days:g} days from {store.location}")
        return 0
    filters = dict(status=args.status, model=args.model, user=args.user, tag=args.tag, since=parse_since(args.since))
    if args.action == "export":
        records = query(store, limit=None, oldest_first=True, **filters)
        fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it may hold masked prompts
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for record in records:
                out.write(to_json(record) + "\n")
        print(f"exported {len(records)} records to {args.file}", file=sys.stderr)
        return 0
    if args.tools:
        return _tools(store, args)
    records = query(store, limit=args.limit, **filters)
    if args.json:
        for record in records:
            print(to_json(record))
        return 0
    from unyo._prices import usd

    rows = [[r["time"], r["status"], r["model"], r["user_id"] or "-", r["tag"] or "-", f"{r['input_tokens']}/{r['output_tokens']}",
             "hit" if r["cache_hit"] else usd(r["cost"]), r["attempts"], f"{r['latency_s']:.2f}s" if r["latency_s"] is not None else "-",
             r["error"] or r["budget"] or ""] for r in records]
    table(f"unyo logs ({len(records)} most recent, {store.location})", ["time", "status", "model", "user", "tag", "in/out", "cost", "tries", "latency", "error / budget"], rows)
    return 0


def _tools(store: object, args: Namespace) -> int:
    from datetime import datetime

    from unyo._audit import tool_calls, to_json

    rows = tool_calls(store, limit=args.limit, since=parse_since(args.since), user=args.user)  # type: ignore[arg-type]
    if args.json:
        for row in rows:
            print(to_json(row))
        return 0
    table(f"unyo logs --tools ({len(rows)} most recent)", ["time", "tool", "outcome", "user", "duration", "result chars", "arguments / error"],
          [[datetime.fromtimestamp(r["ts"]).strftime("%Y-%m-%d %H:%M:%S"), r["name"], r["outcome"], r["user_id"] or "-", f"{r['duration_s'] or 0:.3f}s",
            r["result_chars"], (r["error"] or r["arguments"] or "")[:80]] for r in rows])  # fmt: skip
    return 0
