"""`unyo chat`: a streaming REPL. Ctrl-C during a reply stops it (the partial reply is kept,
marked cancelled) and returns to the prompt; Ctrl-C at the prompt, EOF or `exit` quits."""

from __future__ import annotations

import sys
from argparse import Namespace
from typing import Any

from unyo._cli._shared import client_for, status_line


def _reply(client: Any, history: list[dict[str, str]], args: Namespace) -> tuple[str, Any]:
    from unyo._ask import stream

    text_stream = stream(history, client=client, model=args.model, system=args.system, max_output_tokens=args.max_output_tokens, temperature=args.temperature, api=args.api)
    try:
        for delta in text_stream:
            print(delta, end="", flush=True)
    except KeyboardInterrupt:
        pass
    return text_stream.text, text_stream.result


def run(args: Namespace) -> int:
    from unyo._errors import UnyoError

    client = client_for(args.profile)
    history: list[dict[str, str]] = []
    print(f"unyo chat · {client.settings.profile.name} · Ctrl-C stops a reply · `exit` or Ctrl-C at the prompt quits", file=sys.stderr)
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return 0
        if line.strip() in ("exit", "quit", "/exit", "/quit"):
            return 0
        if not line.strip():
            continue
        history.append({"role": "user", "content": line})
        print("ai> ", end="", flush=True)
        try:
            text, result = _reply(client, history, args)
        except UnyoError as exc:
            print(f"\nerror: {type(exc).__name__}: {exc}\nhint: {exc.hint()}", file=sys.stderr)
            history.pop()
            continue
        if result.status == "cancelled":
            print(" [cancelled]", end="")
        print()
        print(status_line(result.call), file=sys.stderr)
        history.append({"role": "assistant", "content": text})
