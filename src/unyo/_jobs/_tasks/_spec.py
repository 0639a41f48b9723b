"""Task definitions: a directory with `task.toml`, `system.md`, `user.md` and `schema.json`.

    task.toml   description, role, max_output_tokens, typical_output_tokens (cost estimates),
                input_column (the column a batch reads, default "text"),
                confidence_field (measured from logprobs), needs_schema, embedding_fields (enum
                fields chosen by the nearest label: see `_embed_fields`), neighbour_fields
                (ordinal fields taken from the nearest examples), and [options]
    system.md   the instructions: first and stable, so provider prompt caching can reuse them
    user.md     the variable part, last: `$text` is the input
    schema.json the output's JSON Schema; a string "$option" stands for a list option's value

Templates use `$name` (string.Template) for `text` and every option; list options render as a
comma-separated list. Tasks are found in `./tasks/NAME/`, then `UNYO_HOME/tasks/NAME/`, then the
built-ins, so a user adds or overrides a task with files alone, no Python.
"""

from __future__ import annotations

import json
import string
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from unyo._types._errors import ConfigError, UsageError, did_you_mean
from unyo._types._messages import Message, json_reason


def builtin_dir() -> Path:
    return Path(str(resources.files("unyo") / "data" / "tasks"))


def search_path(home: Path | None) -> list[Path]:
    paths = [Path.cwd() / "tasks"]
    if home is not None:
        paths.append(home / "tasks")
    return [*paths, builtin_dir()]


@dataclass(frozen=True)
class Task:
    name: str
    directory: Path
    description: str
    system: str
    user: str
    schema: dict[str, Any] | None
    role: str = "main"
    max_output_tokens: int = 600
    typical_output_tokens: int = 200
    confidence_field: str | None = None
    needs_schema: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    embedding_fields: tuple[str, ...] = ()  # enum fields the nearest label can fill (labels_file's labels)
    neighbour_fields: tuple[str, ...] = ()  # ordinal fields the nearest examples can fill (urgency)
    input_column: str = "text"  # the column a batch reads unless --column says otherwise

    @property
    def builtin(self) -> bool:
        return self.directory.parent == builtin_dir()

    @property
    def answers_from_kb(self) -> bool:
        """A task with a `kb` option and no schema answers from that knowledge base (the built-in answer)."""
        return "kb" in self.options and self.schema is None

    def with_options(self, overrides: dict[str, Any]) -> Task:
        """Options from unyo.toml `[tasks.NAME]` or `--set key=value` (text is converted to the
        default's type: lists split on commas, booleans from true/false)."""
        merged = dict(self.options)
        for key, value in overrides.items():
            if key not in merged:
                raise UsageError(
                    Message(
                        "task.no_option",
                        task=self.name,
                        key=key,
                        suggestion=did_you_mean(key, merged),
                        options=sorted(merged),
                    )
                )
            merged[key] = _convert(key, value, merged[key])
        return replace(self, options=merged)

    def _values(self, text: str) -> dict[str, str]:
        values = {k: ", ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in self.options.items()}
        return {**values, "text": text}

    def render(self, text: str) -> tuple[str, str]:
        """(instructions, user message) for an input text."""
        values = self._values(text)
        try:
            return string.Template(self.system).substitute(values).strip(), string.Template(self.user).substitute(
                values
            ).strip()
        except (KeyError, ValueError) as exc:
            raise ConfigError(Message("task.template_variable", task=self.name, detail=exc)) from None

    def model_for(self, settings: Any) -> str:
        """The model or role this task runs on: a task of the `main` role follows the one default
        model every command uses (UNYO_MODEL / `model` in unyo.toml, itself `main` by default)."""
        return str(settings.model) if self.role == "main" else self.role

    def output_schema(self) -> dict[str, Any] | None:
        return None if self.schema is None else _fill(self.schema, self.options, self.name)


def _convert(key: str, value: Any, default: Any) -> Any:
    if not isinstance(value, str):
        return value
    if isinstance(default, bool):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise UsageError(Message("task.option_bool", key=key, value=value))
        return value.lower() in ("true", "1", "yes")
    if isinstance(default, list):
        return [part.strip() for part in value.split(",") if part.strip()]
    for kind in (int, float):
        if isinstance(default, kind):
            try:
                return kind(value)
            except ValueError:
                raise UsageError(Message("task.option_number", key=key, value=value)) from None
    return value


def _fill(node: Any, options: dict[str, Any], name: str) -> Any:
    if isinstance(node, str) and node.startswith("$") and node[1:] in options:
        value = options[node[1:]]
        if not isinstance(value, list) or not value:
            raise ConfigError(Message("task.schema_placeholder", task=name, node=node))
        return list(value)
    if isinstance(node, dict):
        return {k: _fill(v, options, name) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, options, name) for v in node]
    return node


def _read(directory: Path, filename: str, required: bool = True) -> str | None:
    path = directory / filename
    if not path.exists():
        if required:
            raise ConfigError(Message("task.file_missing", task=directory.name, path=path))
        return None
    return path.read_text(encoding="utf-8")


def load(directory: Path) -> Task:
    try:
        meta = tomllib.loads(_read(directory, "task.toml") or "")
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(Message("task.bad_toml", task=directory.name, detail=exc)) from None
    raw_schema = _read(directory, "schema.json", required=False)
    try:
        schema = json.loads(raw_schema) if raw_schema else None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            Message("task.bad_schema_json", task=directory.name, detail=json_reason(exc), line=exc.lineno)
        ) from None
    known = {
        "description",
        "role",
        "max_output_tokens",
        "typical_output_tokens",
        "confidence_field",
        "needs_schema",
        "options",
        "embedding_fields",
        "neighbour_fields",
        "input_column",
    }
    unknown = set(meta) - known
    if unknown:
        raise ConfigError(Message("task.unknown_keys", task=directory.name, keys=sorted(unknown)))
    return Task(
        name=directory.name,
        directory=directory,
        description=str(meta.get("description", "")),
        system=_read(directory, "system.md") or "",
        user=_read(directory, "user.md") or "$text",
        schema=schema,
        role=str(meta.get("role", "main")),
        max_output_tokens=int(meta.get("max_output_tokens", 600)),
        typical_output_tokens=int(meta.get("typical_output_tokens", 200)),
        confidence_field=meta.get("confidence_field"),
        needs_schema=bool(meta.get("needs_schema", False)),
        options=dict(meta.get("options", {})),
        embedding_fields=tuple(str(f) for f in meta.get("embedding_fields", [])),
        neighbour_fields=tuple(str(f) for f in meta.get("neighbour_fields", [])),
        input_column=str(meta.get("input_column", "text")),
    )


def find(name: str, home: Path | None = None) -> Task:
    if not name.replace("-", "_").isidentifier():
        raise UsageError(Message("task.bad_name", name=name))
    for base in search_path(home):
        if (base / name / "task.toml").exists():
            return load(base / name)
    known = {
        d.name for base in search_path(home) if base.is_dir() for d in base.iterdir() if (d / "task.toml").exists()
    }
    raise UsageError(Message("task.unknown", name=name, suggestion=did_you_mean(name, known)))


def names(home: Path | None = None) -> dict[str, Path]:
    """Every task name and the directory that defines it (earlier search paths win)."""
    found: dict[str, Path] = {}
    for base in search_path(home):
        if base.is_dir():
            for d in sorted(base.iterdir()):
                if (d / "task.toml").exists():
                    found.setdefault(d.name, d)
    return found
