"""`unyo ask`."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from typing import Any

from unyo._cli._shared import clean, client_for, status_line
from unyo._types._errors import UsageError
from unyo._types._messages import Message


def _shown(text: str) -> str:
    """Model text on a terminal loses escape sequences (a reply could retitle the window or
    plant an OSC link); piped or redirected, it is written exactly."""
    return clean(text, multiline=True) if sys.stdout.isatty() else text


def run(args: Namespace) -> int:
    from unyo._cli._input import gather
    from unyo._quality._ask import ask, stream

    prompt = gather(args.prompt, args.file)
    template: dict[str, Any] = {}
    if args.template:
        from unyo._cli._templates import apply_template, load_template

        template = load_template(args.template)
        prompt = apply_template(template, prompt)
    schema = args.schema or (json.loads(template["schema"]) if template.get("schema") else None)
    client = client_for(args.profile, user=args.user, tag=args.tag)
    options = dict(
        model=args.model or _alias(template.get("model")),
        system=args.system if args.system is not None else template.get("system"),
        max_output_tokens=args.max_output_tokens or template.get("max_output_tokens"),
        temperature=args.temperature if args.temperature is not None else template.get("temperature"),
        api=args.api,
        client=client,
    )
    images = getattr(args, "image", None) or []
    if (schema or args.continue_ or args.conversation) and images:
        raise UsageError(Message("ask.image_combination"))
    if args.continue_ or args.conversation:
        if schema:
            raise UsageError(Message("ask.schema_with_conversation"))
        return _in_conversation(args, prompt, options)
    if schema:
        return _structured(args, prompt, options, schema)
    if getattr(args, "rerank", False) and not args.kb:
        raise UsageError(Message("ask.rerank_needs_kb"))
    if args.max_tool_calls is not None and not (args.web or args.kb):
        raise UsageError(Message("ask.max_tool_calls_alone"))
    if args.web:
        from unyo._cli._kb import ask_web

        return ask_web(args, prompt, client)
    if args.kb:
        from unyo._cli._kb import ask as ask_kb

        return ask_kb(args, prompt, client)
    streaming = args.stream if args.stream is not None else (sys.stdout.isatty() and not args.json)
    if not streaming or images:  # a question with images is answered whole
        answer = (
            ask(prompt, images=images, image_detail=args.image_detail, **options) if images else ask(prompt, **options)
        )
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


def _alias(model: str | None) -> str | None:
    from unyo._cli._templates import resolve_alias

    return resolve_alias(model)


def _in_conversation(args: Namespace, prompt: str, options: dict[str, Any]) -> int:
    """`-c` continues this user's most recent conversation (a new one if there is none);
    `--conversation ID` continues or starts that one. The user is --user, else the OS login."""
    import getpass

    from unyo._quality._ask import Answer
    from unyo._quality._conversations import conversation, list_conversations
    from unyo._records._store import store_for

    client = options.pop("client")
    user = args.user or getpass.getuser()
    conversation_id = args.conversation
    if conversation_id is None:
        latest = list_conversations(store_for(client.settings), user, limit=1)
        conversation_id = latest[0]["id"] if latest else None
    conv = conversation(user, conversation_id, system=options.pop("system"), client=client, model=options.pop("model"))
    answer = conv.say(prompt, **{k: v for k, v in options.items() if v is not None})
    if args.json:
        record = Answer.of(answer.text, answer.call).to_dict()
        record["conversation"] = {"id": conv.id, "user": user}
        print(json.dumps(record, ensure_ascii=False))
    else:
        print(_shown(answer.text or ""))
        print(status_line(answer.call) + f" · conversation {clean(conv.id)}", file=sys.stderr)
    return 0


def _structured(args: Namespace, prompt: str, options: dict[str, Any], schema: Any) -> int:
    from unyo._quality._ask import Answer
    from unyo._quality._structured import ask_structured, load_schema

    if isinstance(schema, str):
        schema = load_schema(schema)
    result = ask_structured(prompt, schema, max_repairs=args.max_repairs, **options)
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
