"""`unyo models`."""

from __future__ import annotations

import json
from argparse import Namespace

from unyo._cli._shared import client_for


def run(args: Namespace) -> int:
    from unyo._providers._catalog import model_info

    client = client_for(args.profile)
    settings = client.settings
    served = sorted(m.id for m in client.models.list())
    roles: dict[str, list[str]] = {}
    for role, model_id in settings.profile.models.items():
        roles.setdefault(model_id, []).append(role)
    rows = []
    for model_id in sorted(set(served) | set(roles)):
        info = model_info(model_id, settings.models)
        window = settings.profile.context_window(info, settings.local_model, settings.local_ctx)
        rows.append(
            {
                "model": model_id,
                "roles": roles.get(model_id, []),
                "served": model_id in served,
                "context_window": window,
                "max_output": info.max_output,
            }
        )
    if args.json:
        print(json.dumps({"profile": settings.profile.name, "models": rows}, ensure_ascii=False))
        return 0
    from unyo._cli._shared import table

    table(
        f"profile {settings.profile.name} ({settings.host})",
        ["model", "roles", "served", "context window", "max output"],
        [
            [
                r["model"],
                ", ".join(r["roles"]),
                "yes" if r["served"] else "NO",
                f"{r['context_window']:,}" if r["context_window"] else "?",
                f"{r['max_output']:,}" if r["max_output"] else "?",
            ]
            for r in rows
        ],
    )
    return 0
