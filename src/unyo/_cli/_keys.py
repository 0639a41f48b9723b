"""`unyo keys create|list|show|revoke|rotate`: the gateway's virtual keys, in the shared store."""

from __future__ import annotations

import json
import sys
import time
from argparse import Namespace
from decimal import Decimal
from typing import Any

from unyo._cli._shared import settings_for, table
from unyo._types._errors import UsageError
from unyo._types._messages import Message, msg


def _store() -> Any:
    from unyo._gateway._keys import KeyStore, server_secret
    from unyo._records._store import store_for

    return KeyStore(store_for(settings_for(None)), server_secret())


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _usd(value: Decimal | None) -> str:
    return "-" if value is None else f"${value}"


def _print_key(key: str, record: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"key": key, "id": record.id, "name": record.name}))
        return
    print(key)
    print(msg("keys.created", id=record.id, name=record.name), file=sys.stderr)


def run(args: Namespace) -> int:
    keys = _store()
    if args.action == "create":
        from unyo._gateway._keys import parse_duration

        if not args.name:
            raise UsageError(Message("keys.create_needs_name"))
        key, record = keys.create(
            args.name,
            models=(args.models or "").split(","),
            budget_request=args.budget_request,
            budget_daily=args.budget_daily,
            budget_monthly=args.budget_monthly,
            rpm=args.rpm,
            tpm=args.tpm,
            user=args.user,
            tag=args.tag,
            expires_in_s=parse_duration(args.expires) if args.expires else None,
        )
        _print_key(key, record, args.json)
        return 0
    if args.action == "list":
        records = keys.list(include_revoked=args.all)
        if args.json:
            print(json.dumps([r.to_dict() for r in records], ensure_ascii=False))
            return 0
        rows = [
            [r.id, r.name, r.hint, r.state(), ",".join(r.models) or "any", _usd(r.budget_monthly), r.rpm or "-",
             _when(r.expires_at)]
            for r in records
        ]  # fmt: skip
        table("unyo keys", ["id", "name", "key", "state", "models", "monthly", "rpm", "expires"], rows)
        return 0
    if not args.ref:
        raise UsageError(Message("keys.needs_ref", action=args.action))
    if args.action == "show":
        print(json.dumps(keys.get(args.ref).to_dict(), ensure_ascii=False, indent=None if args.json else 2))
        return 0
    record = keys.get(args.ref)
    from unyo._cli._shared import confirm

    action = "keys.revoke_action" if args.action == "revoke" else "keys.rotate_action"
    if not confirm(Message(action, id=record.id, name=record.name, hint=record.hint), args.yes):
        return 0
    if args.action == "revoke":
        done = keys.revoke(record.id)
        print(msg("keys.revoked", id=done.id, name=done.name), file=sys.stderr)
        return 0
    key, new = keys.rotate(record.id)
    _print_key(key, new, args.json)
    return 0


def add_parsers(sub: Any) -> None:
    """The `keys` and `serve` commands (called by the CLI's parser)."""
    import argparse

    keys = sub.add_parser("keys", help="the gateway's virtual keys: create, list, show, revoke, rotate")
    keys.add_argument("action", choices=["create", "list", "show", "revoke", "rotate"])
    keys.add_argument("ref", nargs="?", help="key id or name (show, revoke, rotate)")
    keys.add_argument("--name", help="create: the key's name (unique among active keys; budgets count by it)")
    keys.add_argument("--models", help="create: allowed roles / model ids, comma-separated (default: any)")
    keys.add_argument("--budget-request", type=Decimal, metavar="USD", help="create: cap per request")
    keys.add_argument("--budget-daily", type=Decimal, metavar="USD", help="create: cap per day")
    keys.add_argument("--budget-monthly", type=Decimal, metavar="USD", help="create: cap per month")
    keys.add_argument("--rpm", type=int, help="create: requests per minute")
    keys.add_argument("--tpm", type=int, help="create: tokens per minute")
    keys.add_argument(
        "--user",
        help="create: the ledger's user for this key (default key:NAME); keys with one user share its budgets",
    )
    keys.add_argument("--tag", help="create: the tag reports group by")
    keys.add_argument("--expires", metavar="DURATION", help="create: e.g. 90d, 12h")
    keys.add_argument("--all", action="store_true", help="list: include revoked keys")
    keys.add_argument("--yes", action="store_true", help="revoke/rotate without asking")
    keys.add_argument("--json", action="store_true", help='create/rotate: print {"key", "id", "name"}')
    keys.add_argument(
        "--format",
        choices=["table", "tsv", "csv", "json", "jsonl"],
        help="list: table on a terminal, tsv when piped (default); csv, json, jsonl",
    )
    keys.set_defaults(handler="unyo._cli._keys:run")

    serve = sub.add_parser(
        "serve",
        help="the OpenAI-compatible gateway: virtual keys, per-key budgets, audit, /metrics",
        description=(
            "Serve /v1/responses, /v1/chat/completions, /v1/embeddings and /v1/models through unyo's pipeline. "
            "Needs UNYO_GATEWAY_SECRET (hashes the virtual keys); UNYO_GATEWAY_ADMIN_TOKEN enables /admin/keys; "
            "UNYO_DB_URL / UNYO_REDIS_URL share state between replicas. pip install 'unyo[gateway]'."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8787, help="port (default 8787)")
    serve.add_argument(
        "--workers", type=int, default=1, help="processes on this port (default 1; about one per CPU core)"
    )
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(handler="unyo._cli._serve:run")
