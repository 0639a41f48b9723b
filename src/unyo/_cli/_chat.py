"""`unyo chat`: a streaming REPL. Ctrl-C during a reply stops it (the partial reply is kept,
marked cancelled) and returns to the prompt; Ctrl-C at the prompt, EOF or `exit` quits."""

from __future__ import annotations

import sys
from argparse import Namespace
from typing import Any

from unyo._cli._shared import client_for, status_line


def _reply(client: Any, api: str, history: list[dict[str, str]], args: Namespace) -> tuple[str, Any]:
    from unyo._stream import TextStream

    params: dict[str, Any] = {"stream": True}
    if args.model:
        params["model"] = args.model
    if args.temperature is not None:
        params["temperature"] = args.temperature
    if api == "responses":
        if args.max_output_tokens:
            params["max_output_tokens"] = args.max_output_tokens
        text_stream = TextStream(client.responses.create(input=history, **params))
    else:
        if args.max_output_tokens:
            params["max_tokens"] = args.max_output_tokens
        text_stream = TextStream(client.chat.completions.create(messages=history, **params))
    try:
        for delta in text_stream:
            print(delta, end="", flush=True)
    except KeyboardInterrupt:
        pass
    return text_stream.text, text_stream.result


def run(args: Namespace) -> int:
    from unyo._errors import UnyoError

    client = client_for(args.profile)
    api = args.api or client.settings.profile.api
    history: list[dict[str, str]] = [{"role": "system", "content": args.system}] if args.system else []
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
            text, result = _reply(client, api, history, args)
        except UnyoError as exc:
            print(f"\nerror: {type(exc).__name__}: {exc}\nhint: {exc.hint()}", file=sys.stderr)
            history.pop()
            continue
        if result.status == "cancelled":
            print(" [cancelled]", end="")
        print()
        print(status_line(result.call), file=sys.stderr)
        history.append({"role": "assistant", "content": text})
