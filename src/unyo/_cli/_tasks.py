"""`unyo tasks list|show NAME`."""

from __future__ import annotations

import json
from argparse import Namespace

from unyo._cli._shared import settings_for, table
from unyo._types._errors import UsageError
from unyo._types._messages import Message


def run(args: Namespace) -> int:
    from unyo._jobs._tasks import find, names
    from unyo._jobs._tasks._spec import builtin_dir

    home = settings_for(args.profile).home
    if args.action == "list":
        found = names(home)
        rows = [
            [n, "built-in" if d.parent == builtin_dir() else str(d), find(n, home).description]
            for n, d in found.items()
        ]
        if args.json:
            print(json.dumps([{"name": r[0], "source": r[1], "description": r[2]} for r in rows], ensure_ascii=False))
        else:
            table(
                "tasks (add your own: ./tasks/NAME/{task.toml,system.md,user.md,schema.json})",
                ["task", "defined in", "what it does"],
                rows,
            )
        return 0
    if not args.name:
        raise UsageError(Message("tasks.show_needs_name"))
    task = find(args.name, home)
    record = {
        "name": task.name,
        "directory": str(task.directory),
        "description": task.description,
        "role": task.role,
        "max_output_tokens": task.max_output_tokens,
        "options": task.options,
        "system": task.system,
        "user": task.user,
        "schema": task.output_schema(),
        "embedding_fields": list(task.embedding_fields),
        "neighbour_fields": list(task.neighbour_fields),
    }
    if args.json:
        print(json.dumps(record, ensure_ascii=False, indent=2))
        return 0
    print(
        f"{task.name}: {task.description}\n  defined in {task.directory}\n  role {task.role}, "
        f"output cap {task.max_output_tokens} tokens"
    )
    if task.embedding_fields:
        print(
            f"  by embeddings (with --via embeddings; by default where the profile says so, e.g. local): "
            f"{', '.join(task.embedding_fields)} = the nearest label of labels_file (descriptions, examples), "
            "confidence calibrated by leave-one-out on the examples"
            + (f"; {', '.join(task.neighbour_fields)} = the nearest examples' values" if task.neighbour_fields else "")
            + "; the LLM writes the other fields"
        )
    print("\noptions (override with --set KEY=VALUE):")
    for key, value in task.options.items():
        print(f"  {key} = {json.dumps(value, ensure_ascii=False)}")
    print(f"\n--- system.md (first, stable: provider prompt caching reuses it) ---\n{task.system.strip()}")
    print(f"\n--- user.md ($text is the input) ---\n{task.user.strip()}")
    if record["schema"] is not None:
        print(f"\n--- schema.json ---\n{json.dumps(record['schema'], ensure_ascii=False, indent=2)}")
    return 0
