"""`unyo config path|show|trust`: which files apply, where each value came from, trusted hosts."""

from __future__ import annotations

import json
import os
from argparse import Namespace
from pathlib import Path
from typing import Any

from unyo._types._errors import UsageError
from unyo._types._messages import Message, msg


def run(args: Namespace) -> int:
    if args.action == "trust":
        return _trust(args)
    from unyo._core._config import load_settings
    from unyo._core._config_files import user_config_dir

    settings = load_settings(profile=args.profile)
    if args.action == "path":
        record = {"user_config": str(user_config_dir(os.environ) / "unyo.toml"), "applied": list(settings.config_files)}
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
            return 0
        print(f"user config: {record['user_config']}" + ("" if Path(record["user_config"]).is_file() else " (none)"))
        for label in settings.config_files or ("no config file applies (defaults and environment only)",):
            print(f"applies:     {label}")
        return 0
    values = _values(settings)
    if args.json:
        print(json.dumps(values, ensure_ascii=False, default=str))
        return 0
    from unyo._cli._shared import table

    table("configuration", ["setting", "value", "from"], [[k, v["value"], v["from"]] for k, v in values.items()])
    return 0


def _values(settings: Any) -> dict[str, dict[str, object]]:
    from unyo._core._config import _KNOBS

    out: dict[str, dict[str, object]] = {
        "profile": {"value": settings.profile.name, "from": settings.origins.get("profile", "default")},
        "base_url": {"value": settings.base_url, "from": settings.origins.get("base_url", "default")},
        "key": {
            "value": f"{len(settings.api_key)} characters" if settings.api_key else "none",
            "from": settings.key_source,
        },
    }
    for name in _KNOBS:
        if name in out:
            continue
        value = getattr(settings, name, None)
        if name.startswith(("budget_", "max_request")) or name in (
            "on_budget_exceeded",
            "downgrade_to",
            "soft_threshold",
            "allow_unpriced",
        ):
            value = _budget_value(settings, name)
        out[name] = {"value": value, "from": settings.origins.get(name, "default")}
    out.update(model_roles(settings))
    limits = [limit.describe() for limit in settings.budget.limits]
    out["budget limits"] = {"value": ", ".join(limits) or "none", "from": "the settings above and [budget.tags.*]"}
    return out


def model_roles(settings: Any) -> dict[str, dict[str, object]]:
    """Which model the default and each role resolve to on this profile, and which file says so.
    `ask`, `run` (tasks of the main role), `estimate` and `eval` all start from `model`."""
    from unyo._core._config_files import config_files, defining_file

    files = config_files(os.environ, Path.cwd())
    profile = settings.profile
    default_id, default_role = profile.resolve_model(settings.model)
    out: dict[str, dict[str, object]] = {
        "default model": {
            "value": default_id + (f" (role {default_role})" if default_role else ""),
            "from": f"model = {settings.model!r} from {settings.origins.get('model', 'default')}",
        }
    }
    for role, model_id in profile.models.items():
        found = defining_file(files, "profiles", profile.name, "models", role)
        out[f"role {role}"] = {
            "value": model_id,
            "from": f"{found.path} ({found.kind})" if found else f"profile {profile.name} (built-in)",
        }
    return out


def _budget_value(settings: Any, name: str) -> Any:
    budget = settings.budget
    simple = {
        "on_budget_exceeded": budget.on_exceed,
        "downgrade_to": budget.downgrade_to,
        "soft_threshold": budget.soft_threshold,
        "allow_unpriced": budget.allow_unpriced,
        "budget_tz": budget.tz,
    }
    if name in simple:
        return simple[name]
    from unyo._core._limits import LIMIT_KNOBS

    scope, period = LIMIT_KNOBS[name]
    return next((str(lim.usd) for lim in budget.limits if (lim.scope, lim.period) == (scope, period)), None)


def _trust(args: Namespace) -> int:
    from unyo._core._config_files import trust

    if not args.url:
        raise UsageError(Message("config.trust_needs_url"))
    entry, path = trust(args.url, os.environ)
    print(msg("config.trusted", entry=entry, path=path))
    return 0
