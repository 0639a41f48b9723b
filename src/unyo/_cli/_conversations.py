"""`unyo conversations list|show|rm`: stored conversations, per user."""

from __future__ import annotations

from argparse import Namespace
from datetime import datetime

from unyo._cli._shared import clean, settings_for, table
from unyo._records._audit import to_json
from unyo._types._errors import UsageError
from unyo._types._messages import Message, msg


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M")


def run(args: Namespace) -> int:
    from unyo._quality._conversations import conversation, delete_conversation, list_conversations
    from unyo._records._store import store_for

    settings = settings_for(args.profile)
    store = store_for(settings)
    if args.action == "list":
        rows = list_conversations(store, args.user, args.limit)
        if args.json:
            print(to_json(rows))
        else:
            table(
                "conversations",
                ["id", "user", "strategy", "turns", "created", "updated"],
                [
                    [r["id"], r["user"], r["strategy"], r["turns"], _when(r["created_at"]), _when(r["updated_at"])]
                    for r in rows
                ],
            )
        return 0
    if not args.id or not args.user:
        raise UsageError(Message("conversations.needs_id_and_user", action=args.action))
    from unyo._client._openai import OpenAI

    client = OpenAI(settings=settings)  # sends nothing unless a provider copy has to be deleted
    if args.action == "rm":
        from unyo._cli._shared import confirm

        action = Message("conversations.rm_action", id=clean(args.id), user=clean(args.user))
        if not confirm(action, args.yes, untouched="confirm.nothing_deleted"):
            return 0
        turns = delete_conversation(store, args.user, args.id, client)
        print(msg("conversations.deleted", id=clean(args.id), turns=turns))
        return 0
    conv = conversation(args.user, args.id, create=False, client=client)
    turns = conv.turns()
    if args.json:
        print(
            to_json(
                {
                    "id": conv.id,
                    "user": conv.user,
                    "strategy": conv.strategy,
                    "system": conv.system,
                    "summary": conv.summary,
                    "turns": [{"seq": t.seq, "role": t.role, "content": t.content, "ts": t.ts} for t in turns],
                }
            )
        )
        return 0
    print(f"conversation {clean(conv.id)} · user {clean(conv.user)} · {clean(conv.strategy)} · {len(turns)} turns")
    if conv.system:
        print(f"[system] {clean(conv.system, multiline=True)}")
    if conv.summary:
        print(f"[summary] {clean(conv.summary, multiline=True)}")
    for t in turns:  # stored text, partly model-written: no escape sequence reaches the terminal
        print(f"{_when(t.ts)} {clean(t.role)}> {clean(t.content, multiline=True)}")
    return 0
