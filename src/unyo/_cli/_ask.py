"""`unyo ask`."""

from __future__ import annotations

import json
import sys
from argparse import Namespace

from unyo._cli._shared import clean, client_for, read_prompt, status_line


def _shown(text: str) -> str:
    """Model text on a terminal loses escape sequences (a reply could retitle the window or
    plant an OSC link); piped or redirected, it is written exactly."""
    return clean(text, multiline=True) if sys.stdout.isatty() else text


def run(args: Namespace) -> int:
    from unyo._quality._ask import ask, stream

    prompt = read_prompt(args.prompt)
    client = client_for(args.profile, user=args.user, tag=args.tag)
    options = dict(
        model=args.model,
        system=args.system,
        max_output_tokens=args.max_output_tokens,
        temperature=args.temperature,
        api=args.api,
        client=client,
    )
    if args.schema:
        return _structured(args, prompt, options)
    if args.kb:
        from unyo._cli._kb import ask as ask_kb

        return ask_kb(args, prompt, client)
    streaming = args.stream if args.stream is not None else (sys.stdout.isatty() and not args.json)
    if not streaming:
        answer = ask(prompt, **options)
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False))
        else:
            print(_shown(answer.text or ""))
            print(status_line(answer.call), file=sys.stderr)
        return 0
    text_stream = stream(prompt, **options)
    try:
        for delta in text_stream:
            if not args.json:
                print(_shown(delta), end="", flush=True)
    except KeyboardInterrupt:
        pass  # the stream is closed and marked cancelled; report it below
    result = text_stream.result
    if args.json:
        from unyo._quality._ask import Answer

        print(json.dumps(Answer.of(result.text, result.call).to_dict(), ensure_ascii=False))
    else:
        print()
        print(status_line(result.call), file=sys.stderr)
    return 130 if result.status == "cancelled" else 0


def _structured(args: Namespace, prompt: str, options: dict) -> int:  # type: ignore[type-arg]
    from unyo._quality._ask import Answer
    from unyo._quality._structured import ask_structured, load_schema

    result = ask_structured(prompt, load_schema(args.schema), max_repairs=args.max_repairs, **options)
    if args.json:
        record = Answer.of(result.text, result.calls[-1]).to_dict()
        record.update(result.to_dict())
        print(json.dumps(record, ensure_ascii=False))
    else:
        print(json.dumps(result.to_dict()["parsed"], ensure_ascii=False, indent=2))
        print(
            status_line(result.calls[-1]) + (f" · repairs {result.repairs}" if result.repairs else ""), file=sys.stderr
        )
    return 0
