"""`unyo chat`: a streaming REPL. Ctrl-C during a reply stops it (the partial reply is kept,
marked cancelled) and returns to the prompt; Ctrl-C at the prompt, EOF or `exit` quits.

With `--user` the conversation is stored (see unyo._quality._conversations) and `--conversation ID`
resumes it later, in this process or another; without it the history lives only in memory."""

from __future__ import annotations

import sys
from argparse import Namespace
from typing import Any

from unyo._cli._shared import clean, client_for, status_line


def _print_stream(text_stream: Any) -> tuple[str, Any]:
    try:
        for delta in text_stream:
            print(
                clean(delta, multiline=True), end="", flush=True
            )  # model-written: no escape sequence reaches the terminal
    except KeyboardInterrupt:
        text_stream.cancel("ctrl-c")
        for _ in text_stream:  # drain: the stream ends at once and its on_close runs
            pass
    return text_stream.text, text_stream.result


class _Memory:
    """History for an unstored chat session."""

    def __init__(self, client: Any, args: Namespace) -> None:
        self.client, self.args, self.history = client, args, []  # type: list[dict[str, str]]

    def reply(self, line: str) -> tuple[str, Any]:
        from unyo._quality._ask import stream

        a = self.args
        self.history.append({"role": "user", "content": line})
        try:
            text, result = _print_stream(
                stream(
                    self.history,
                    client=self.client,
                    model=a.model,
                    system=a.system,
                    max_output_tokens=a.max_output_tokens,
                    temperature=a.temperature,
                    api=a.api,
                )
            )
        except BaseException:
            self.history.pop()
            raise
        self.history.append({"role": "assistant", "content": text})
        return text, result


class _Stored:
    def __init__(self, conversation: Any, args: Namespace) -> None:
        self.conversation, self.args = conversation, args

    def reply(self, line: str) -> tuple[str, Any]:
        a = self.args
        return _print_stream(
            self.conversation.stream(line, max_output_tokens=a.max_output_tokens, temperature=a.temperature, api=a.api)
        )


def run(args: Namespace) -> int:
    from unyo._types._errors import UnyoError, UsageError
    from unyo._types._messages import Message

    if args.conversation and not args.user:
        raise UsageError(Message("chat.conversation_needs_user"))
    client = client_for(args.profile, user=args.user)
    session: Any = _Memory(client, args)
    where = ""
    if args.user:
        from unyo._quality._conversations import conversation

        conv = conversation(args.user, args.conversation, strategy=args.strategy, system=args.system, client=client,
                            max_history_tokens=args.max_history_tokens, trim=args.trim, model=args.model)  # fmt: skip
        turns = conv.turns()
        where = f" · conversation {conv.id} ({conv.strategy}, {len(turns)} stored turns)"
        session = _Stored(conv, args)
    print(
        f"unyo chat · {client.settings.profile.name}{clean(where)} · Ctrl-C stops a reply "
        "· `exit` or Ctrl-C at the prompt quits",
        file=sys.stderr,
    )
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
        print("ai> ", end="", flush=True)
        try:
            _, result = session.reply(line)
        except UnyoError as exc:
            print(
                f"\nerror: {type(exc).__name__}: {clean(exc, multiline=True)}"
                f"\nhint: {clean(exc.hint(), multiline=True)}",
                file=sys.stderr,
            )
            continue
        if result.status == "cancelled":
            print(" [cancelled]", end="")
        print()
        print(clean(status_line(result.call)), file=sys.stderr)
