"""`unyo ask`."""

from __future__ import annotations

import json
import sys
from argparse import Namespace

from unyo._cli._shared import client_for, read_prompt, status_line


def run(args: Namespace) -> int:
    from unyo._ask import ask, stream

    prompt = read_prompt(args.prompt)
    client = client_for(args.profile, user=args.user, tag=args.tag)
    options = dict(model=args.model, system=args.system, max_output_tokens=args.max_output_tokens, temperature=args.temperature, api=args.api, client=client)
    streaming = args.stream if args.stream is not None else (sys.stdout.isatty() and not args.json)
    if not streaming:
        answer = ask(prompt, **options)
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False))
        else:
            print(answer.text)
            print(status_line(answer.call), file=sys.stderr)
        return 0
    text_stream = stream(prompt, **options)
    try:
        for delta in text_stream:
            if not args.json:
                print(delta, end="", flush=True)
    except KeyboardInterrupt:
        pass  # the stream is closed and marked cancelled; report it below
    result = text_stream.result
    if args.json:
        from unyo._ask import Answer

        print(json.dumps(Answer.of(result.text, result.call).to_dict(), ensure_ascii=False))
    else:
        print()
        print(status_line(result.call), file=sys.stderr)
    return 130 if result.status == "cancelled" else 0
