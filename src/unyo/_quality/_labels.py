"""Label sets: the labels a text can get, what each means, and labelled examples.

A labels file is TOML or JSON:

    [[labels]]
    name = "billing"
    description = "Invoices, charges, refunds. 請求書、返金。"     # or `definition`
    examples = ["I was charged twice", { text = "請求書を再発行して", urgency = 2 }]

    [[examples]]                      # more examples, anywhere in the file
    label = "billing"
    text = "Can I pay by bank transfer?"

An example is a string, or a table with `text` and other fields (ordinal values such as `urgency`
that a task takes from the nearest examples). Mistakes are errors naming the file and the line:
an empty file, a label without a description, a duplicate label, an example of an unknown label.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unyo._types._errors import ConfigError
from unyo._types._messages import Message, json_reason, os_reason


@dataclass(frozen=True)
class Example:
    text: str
    values: dict[str, Any] = field(default_factory=dict)  # e.g. {"urgency": 3}


@dataclass(frozen=True)
class Label:
    name: str
    description: str = ""
    examples: tuple[Example, ...] = ()


@dataclass(frozen=True)
class LabelSet:
    labels: tuple[Label, ...]
    source: str = ""  # the file it came from, if any

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]

    @property
    def examples_per_label(self) -> dict[str, int]:
        return {label.name: len(label.examples) for label in self.labels}

    def descriptions(self) -> dict[str, str]:
        """{name: definition} as the LLM prompt lists them (examples appended)."""
        out = {}
        for label in self.labels:
            shown = "; ".join(e.text for e in label.examples[:5])
            out[label.name] = label.description + (f" (examples: {shown})" if shown else "")
        return out

    def limited(self, per_label: int) -> LabelSet:
        """The same labels with at most `per_label` examples each (benchmarks: 0, 3, 10)."""
        return LabelSet(tuple(Label(x.name, x.description, x.examples[:per_label]) for x in self.labels), self.source)

    def fingerprint(self) -> str:
        blob = json.dumps(
            [[x.name, x.description, [[e.text, e.values] for e in x.examples]] for x in self.labels],
            ensure_ascii=False,
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()


def label_set(labels: LabelSet | Sequence[str] | Mapping[str, str] | str | Path) -> LabelSet:
    """A LabelSet from what the API accepts: names, {name: description}, a LabelSet or a file."""
    if isinstance(labels, LabelSet):
        found = labels
    elif isinstance(labels, (str, Path)):
        found = load_labels(labels)
    elif isinstance(labels, Mapping):
        found = LabelSet(tuple(Label(str(k), str(v)) for k, v in labels.items()))
    else:
        found = LabelSet(tuple(Label(str(n)) for n in labels))
    names = found.names
    if len(names) < 2 or len(set(names)) != len(names):
        raise ConfigError(Message("labels.two_distinct"))
    return found


def _lines(raw: str, toml_header: str, json_key: str, count: int, json_file: bool) -> list[int]:
    """The line of each table (TOML `[[labels]]` headers, JSON `"name"` keys), when they can be
    told apart; else zeros (the message then names the file only)."""
    import re

    pattern = re.escape(f'"{json_key}"') + r"\s*:" if json_file else r"^[ \t]*" + re.escape(toml_header)
    found = [raw.count("\n", 0, m.start()) + 1 for m in re.finditer(pattern, raw, re.MULTILINE)]
    return found if len(found) == count else [0] * count


def _where(path: Path, line: int) -> Message | str:
    return Message("labels.where", path=path, line=line) if line else str(path)


def _parse(path: Path, raw: str) -> Any:
    try:
        return json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(Message("labels.bad_json", path=path, line=exc.lineno, detail=json_reason(exc))) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(Message("labels.bad_toml", path=path, detail=exc)) from None


def _example(item: Any, where: str) -> Example:
    if isinstance(item, str) and item.strip():
        return Example(item.strip())
    if isinstance(item, dict) and isinstance(item.get("text"), str) and item["text"].strip():
        return Example(item["text"].strip(), {k: v for k, v in item.items() if k not in ("text", "label")})
    raise ConfigError(Message("labels.bad_example", where=where))


def load_labels(path: str | Path) -> LabelSet:
    """Read a labels file (see the module docstring); errors name the file and line."""
    file = Path(path)
    try:
        raw = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(Message("labels.unreadable", file=file, reason=os_reason(exc))) from None
    data = _parse(file, raw) if raw.strip() else {}
    items = data.get("labels") if isinstance(data, dict) else data
    if not items:
        raise ConfigError(Message("labels.empty", file=file))
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(Message("labels.shape", file=file))
    is_json = file.suffix == ".json"
    labels: dict[str, Label] = {}
    for item, line in zip(items, _lines(raw, "[[labels]]", "name", len(items), is_json), strict=True):
        where = _where(file, line)
        name = str(item.get("name") or "").strip()
        if not name:
            raise ConfigError(Message("labels.no_name", where=where))
        if name in labels:
            raise ConfigError(Message("labels.twice", where=where, name=name))
        description = str(item.get("description") or item.get("definition") or "").strip()
        if not description:
            raise ConfigError(Message("labels.no_description", where=where, name=name))
        examples = tuple(_example(e, where) for e in item.get("examples", []) or [])
        labels[name] = Label(name, description, examples)
    extra = data.get("examples", []) if isinstance(data, dict) else []
    extra = extra if isinstance(extra, list) else []
    for item, line in zip(extra, _lines(raw, "[[examples]]", "label", len(extra), is_json), strict=True):
        where = _where(file, line)
        label = str(item.get("label", "")) if isinstance(item, dict) else ""
        if label not in labels:
            raise ConfigError(Message("labels.unknown_label", where=where, label=label, labels=", ".join(labels)))
        old = labels[label]
        labels[label] = Label(old.name, old.description, (*old.examples, _example(item, where)))
    found = LabelSet(tuple(labels.values()), str(file))
    if len(found.labels) < 2:
        raise ConfigError(Message("labels.at_least_two", file=file))
    return found
