"""`unyo review list|show|approve|edit|reject|export`: the human-in-the-loop queue, in the shared store.

Every action is audited (who: --as, else $USER; when: now). Only approved items are exported,
to a .csv/.jsonl file (0600) or POSTed as JSON to a webhook (--webhook or UNYO_REVIEW_WEBHOOK).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from argparse import Namespace
from pathlib import Path
from typing import Any

from unyo._cli._shared import settings_for, table
from unyo._types._errors import ConfigError, UsageError
from unyo._types._messages import Message, msg, os_reason


def queue(profile: str | None = None) -> Any:
    from unyo._records._review import ReviewQueue
    from unyo._records._store import store_for

    return ReviewQueue(store_for(settings_for(profile)))


def actor(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _short(text: str, n: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def post_webhook(url: str, records: list[dict[str, Any]]) -> None:
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise UsageError(Message("review.webhook_scheme", url=url))
    body = json.dumps({"items": records}, ensure_ascii=False).encode("utf-8")
    post = urllib.request.Request(url, body, {"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(post, timeout=30) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        raise ConfigError(Message("review.webhook_failed", url=url, detail=exc)) from None
    if status >= 300:
        raise ConfigError(Message("review.webhook_status", url=url, status=status))


def run(args: Namespace) -> int:
    from unyo._records._review import export_record, parse_output, render_export

    q = queue(args.profile)
    who = actor(args.as_user)
    if args.action == "list":
        items = q.list(args.status)
        if args.json:
            for item in items:
                print(json.dumps(item.to_dict(), ensure_ascii=False))
            return 0
        rows = [[i.id, i.status, i.task, _short(i.reason, 40), _short(i.input, 40), _when(i.created_at)] for i in items]
        table("review queue", ["id", "status", "task", "reason", "input", "queued"], rows)
        return 0
    if args.action == "export":
        items = q.export(include_exported=args.all)
        webhook = args.webhook or os.environ.get("UNYO_REVIEW_WEBHOOK")
        if args.out:
            from unyo._records._private_files import write_private

            path = Path(args.out)
            write_private(path, render_export(items, path))
            q.mark_exported(items, who, str(path))
            print(msg("review.exported_file", count=len(items), path=path), file=sys.stderr)
        elif webhook:
            post_webhook(webhook, [export_record(i) for i in items])
            q.mark_exported(items, who, webhook)
            print(msg("review.exported_webhook", count=len(items)), file=sys.stderr)
        else:
            raise UsageError(Message("review.export_needs_target"))
        return 0
    if not args.id:
        raise UsageError(Message("review.needs_id", action=args.action))
    if args.action == "show":
        item = q.get(args.id)
        record = {**item.to_dict(), "history": q.history(item.id)}
        print(json.dumps(record, ensure_ascii=False, indent=None if args.json else 2))
        return 0
    edited = None
    if args.action == "edit":
        if args.output is None:
            raise UsageError(Message("review.edit_needs_output"))
        text = args.output
        if text.startswith("@"):
            try:
                text = Path(text[1:]).read_text(encoding="utf-8")
            except OSError as exc:
                raise UsageError(
                    Message("review.output_unreadable", output=args.output, reason=os_reason(exc))
                ) from None
            except UnicodeDecodeError as exc:
                raise UsageError(Message("input.not_utf8", where=f"--output {args.output}", byte=exc.start)) from None
        edited = parse_output(text)
    item = q.decide(args.id, args.action, who, edited, args.note or "")
    print(msg("review.decided", id=item.id, status=item.status, who=item.decided_by), file=sys.stderr)
    return 0


def add_parser(sub: Any) -> None:
    review = sub.add_parser("review", help="the review queue: flagged task outputs approved, edited or rejected")
    review.add_argument("action", choices=["list", "show", "approve", "edit", "reject", "export"])
    review.add_argument("id", nargs="?", help="the item's id (show, approve, edit, reject)")
    review.add_argument("--status", choices=["pending", "approved", "rejected"], help="list: only these")
    review.add_argument("--output", help="edit: the revised output as a JSON object, or @FILE")
    review.add_argument("--note", help="approve/edit/reject: a note kept in the audit")
    review.add_argument("--as", dest="as_user", help="who does it (default: the login name)")
    review.add_argument("--out", help="export: a .csv or .jsonl file")
    review.add_argument("--webhook", help="export: POST the approved items as JSON to this URL")
    review.add_argument("--all", action="store_true", help="export: include items exported before")
    review.add_argument("--json", action="store_true")
    review.add_argument("--profile", help="the profile whose store holds the queue")
    review.set_defaults(handler="unyo._cli._review:run")


def flag_reason(output: dict[str, Any], mode: str) -> str | None:
    """Why an output waits for a person (None: it may leave): flagged by the task, or `--review all`."""
    if output.get("needs_human"):
        why = output.get("needs_human_reason") or "; ".join(map(str, output.get("violations") or [])) or "needs_human"
        return f"flagged: {why}"
    return "review all (--review)" if mode == "all" else None


def holder(q: Any, source: str, task: str, owner: str | None, mode: str) -> Any:
    """The batch's review hook: queue what must wait; ("ok", what to write) once approved, else
    ("in_review" | "rejected", None)."""

    def review(row_id: str, text: str, output: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        item = q.find(source, row_id)
        if item is None:
            reason = flag_reason(output, mode)
            if reason is None:
                return "ok", output
            q.add(source, row_id, task, text, output, reason, owner)
            item = q.find(source, row_id)
        if item is not None and item.status == "approved":
            return "ok", item.final
        return ("rejected" if item is not None and item.status == "rejected" else "in_review"), None

    return review
