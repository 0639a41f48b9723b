"""`unyo templates` and `unyo aliases`: named prompts and named models, kept in the user's config
directory (never a project's, so a cloned repository cannot plant one):

    ~/.config/unyo/templates/NAME.toml    system, prompt (with $input), model, options, schema
    ~/.config/unyo/aliases.toml           fast = "gpt-5-nano"

    unyo templates save summary --system "箇条書きで要約する" --prompt '次の文章を要約: $input' -m bulk
    unyo ask -t summary < report.txt
    unyo aliases set fast gpt-5-nano  &&  unyo ask -m fast "hi"
"""

from __future__ import annotations

import json
import os
import re
import string
import sys
import tomllib
from argparse import Namespace
from pathlib import Path
from typing import Any

from unyo._types._errors import UsageError, did_you_mean
from unyo._types._messages import Message, msg

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
FIELDS = ("system", "prompt", "model", "max_output_tokens", "temperature", "schema")


def _dir() -> Path:
    from unyo._core._config_files import user_config_dir

    return user_config_dir(os.environ)


def _check_name(name: str | None, what: str) -> str:
    if not name or not _NAME.fullmatch(name):
        raise UsageError(Message("templates.bad_name", what=Message(f"templates.what_{what}"), name=name))
    return name


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _write(path: Path, table: dict[str, Any]) -> None:
    from unyo._records._private_files import write_private

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, "".join(f"{k} = {_toml_value(v)}\n" for k, v in table.items() if v is not None))


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(Message("config.bad_toml", path=path, detail=exc)) from None


# --- templates -------------------------------------------------------------------------------------


def template_path(name: str) -> Path:
    return _dir() / "templates" / f"{_check_name(name, 'template')}.toml"


def template_names() -> list[str]:
    folder = _dir() / "templates"
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def load_template(name: str) -> dict[str, Any]:
    path = template_path(name)
    if not path.exists():
        raise UsageError(Message("templates.unknown", name=name, suggestion=did_you_mean(name, template_names())))
    table = _read(path)
    unknown = set(table) - set(FIELDS)
    if unknown:
        raise UsageError(
            Message("templates.unknown_keys", path=path, unknown=sorted(unknown), allowed=", ".join(FIELDS))
        )
    return table


def apply_template(table: dict[str, Any], prompt: str) -> str:
    """The user's text placed into the template's prompt (`$input`), or the text itself."""
    if not table.get("prompt"):
        return prompt
    try:
        return string.Template(table["prompt"]).substitute(input=prompt)
    except (KeyError, ValueError) as exc:
        raise UsageError(Message("templates.only_input", detail=exc)) from None


def run_templates(args: Namespace) -> int:
    from unyo._cli._output import emit

    if args.action == "list":
        rows = [[n, _summary(load_template(n))] for n in template_names()]
        if not rows and args.format in (None, "table"):
            print(msg("templates.none_yet"), file=sys.stderr)
            return 0
        emit(args, "templates", ["name", "summary"], rows)
        return 0
    name = _check_name(args.name, "template")
    path = template_path(name)
    if args.action == "show":
        print(json.dumps(load_template(name), ensure_ascii=False, indent=2))
        return 0
    if args.action == "rm":
        load_template(name)
        path.unlink()
        print(msg("templates.removed", name=name), file=sys.stderr)
        return 0
    if args.action == "edit":
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            raise UsageError(Message("templates.no_editor"))
        if not path.exists():
            _write(path, {"system": ""})
        import shlex
        import subprocess

        subprocess.run([*shlex.split(editor), str(path)], check=False)
        load_template(name)  # still valid?
        return 0
    table: dict[str, Any] = {k: getattr(args, k, None) for k in FIELDS}
    if args.schema:
        from unyo._quality._structured import check_schema, load_schema

        schema = load_schema(args.schema)
        if not isinstance(schema, dict):
            raise UsageError(Message("templates.schema_file"))
        check_schema(schema)
        table["schema"] = json.dumps(schema, ensure_ascii=False)
    if not any(v is not None for v in table.values()):
        raise UsageError(Message("templates.save_needs_option"))
    if table.get("prompt"):
        apply_template(table, "x")  # only $input
    _write(path, table)
    print(msg("templates.saved", name=name, path=path), file=sys.stderr)
    return 0


def _summary(table: dict[str, Any]) -> str:
    text = str(table.get("system") or table.get("prompt") or "")
    extra = " ".join(f"{k}={table[k]}" for k in ("model", "max_output_tokens") if table.get(k) is not None)
    return " · ".join(part for part in (text[:60] + ("…" if len(text) > 60 else ""), extra) if part)


# --- aliases ---------------------------------------------------------------------------------------


def aliases_path() -> Path:
    return _dir() / "aliases.toml"


def aliases() -> dict[str, str]:
    path = aliases_path()
    return {k: str(v) for k, v in _read(path).items()} if path.exists() else {}


def resolve_alias(model: Any) -> Any:
    """A model name given on the command line (or a list of them, `-m a -m b`), with a user
    alias replaced by its model."""
    if not model:
        return model
    table = aliases()
    if isinstance(model, list):
        return [table.get(m, m) if isinstance(m, str) else m for m in model]
    return table.get(model, model) if isinstance(model, str) else model


def run_aliases(args: Namespace) -> int:
    from unyo._cli._output import emit

    table = aliases()
    if args.action == "list":
        if not table and args.format in (None, "table"):
            print(msg("aliases.none_yet"), file=sys.stderr)
            return 0
        emit(args, "aliases", ["alias", "model"], [[k, v] for k, v in sorted(table.items())])
        return 0
    name = _check_name(args.name, "alias")
    if args.action == "set":
        if not args.model:
            raise UsageError(Message("aliases.needs_model"))
        table[name] = args.model
    else:
        if name not in table:
            raise UsageError(Message("aliases.unknown", name=name, suggestion=did_you_mean(name, table)))
        del table[name]
    _write(aliases_path(), table)
    print(msg("aliases.set" if args.action == "set" else "aliases.removed", name=name), file=sys.stderr)
    return 0
