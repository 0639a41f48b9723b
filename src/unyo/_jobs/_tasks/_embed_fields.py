"""A task's label fields by embeddings; the LLM writes only the rest.

A task lists `embedding_fields` (enum fields, e.g. triage's category) and `neighbour_fields`
(ordinal fields, e.g. urgency) in task.toml, and its options give `labels_file` (descriptions and
examples; a relative path is next to the task), `via` (auto | llm | embeddings) and
`embedding_model` (empty: the bundled model). When `via` resolves to embeddings:

    category     the nearest label (see `unyo._quality._nearest`); its calibrated confidence
    urgency      the similarity-weighted mean of the nearest examples' values, rounded and kept
                 within the schema's minimum/maximum
    the rest     one LLM call with a schema of the remaining fields (summary, reply draft), told
                 what was decided; no call at all when nothing is left

The output says which method produced each field (`methods`), for the JSON record and every row
of an output file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unyo._jobs._tasks._spec import Task
from unyo._types._errors import ConfigError, UsageError
from unyo._types._messages import Message


@dataclass
class Decided:
    values: dict[str, Any]
    methods: dict[str, str]
    confidence: float
    confidence_source: str
    scores: dict[str, float]
    calls: list[Any] = field(default_factory=list)
    truncated: bool = False


def labels_path(task: Task) -> Path | None:
    raw = str(task.options.get("labels_file") or "")
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_absolute() and (task.directory / path).exists():
        return task.directory / path
    return path


def task_labels(task: Task) -> Any:
    """The task's LabelSet: its labels file, else its `labels` names (zero-shot)."""
    from unyo._quality._labels import label_set, load_labels

    path = labels_path(task)
    if path is not None:
        return load_labels(path)
    names = task.options.get("labels") or []
    if not names:
        raise UsageError(Message("task.needs_labels", task=task.name))
    return label_set(list(names))


def with_labels(task: Task, labels: Any) -> Task:
    """The task with its `labels` option set to the label set's names (schema enums and prompts agree)."""
    if "labels" in task.options and list(task.options["labels"]) != labels.names:
        return task.with_options({"labels": labels.names})
    return task


def uses_embeddings(task: Task, client: Any) -> bool:
    from unyo._quality._embed_classify import resolve_via

    via = str(task.options.get("via") or "auto")
    if via == "embeddings" and not task.embedding_fields:
        raise ConfigError(Message("task.no_embedding_fields", task=task.name))
    return bool(task.embedding_fields) and resolve_via(client, via) == "embeddings"


def _ordinal(value: float, spec: dict[str, Any]) -> float | int:
    low, high = spec.get("minimum"), spec.get("maximum")
    if isinstance(low, (int, float)):
        value = max(value, low)
    if isinstance(high, (int, float)):
        value = min(value, high)
    return int(round(value)) if spec.get("type") == "integer" else round(value, 3)


def decide_flow(task: Task, client: Any, text: str, labels: Any, tag: str | None) -> Any:
    """The embedding and neighbour fields of one input (a flow)."""
    from unyo._quality._embed_classify import classify_vectors, fitted_flow
    from unyo._quality._vectors import vectors_flow

    model = str(task.options.get("embedding_model") or "") or None
    classifier, setup_calls = yield from fitted_flow(client, labels, model, tag)
    vectors = yield from vectors_flow(client, [text], model, tag)
    result = classify_vectors(classifier, vectors, setup_calls)[0]
    properties = (task.output_schema() or {}).get("properties", {})
    for name in task.embedding_fields:
        enum = properties.get(name, {}).get("enum")
        if not enum or sorted(map(str, enum)) != sorted(labels.names):
            raise ConfigError(
                Message(
                    "task.field_not_label_enum", task=task.name, field=name, labels=", ".join(labels.names), enum=enum
                )
            )
    values: dict[str, Any] = {name: result.label for name in task.embedding_fields}
    methods = {name: result.method for name in task.embedding_fields}
    for name in task.neighbour_fields:
        value = classifier.neighbour_value(vectors.array[0], name)
        if value is not None:
            values[name] = _ordinal(value, properties.get(name, {}))
            methods[name] = f"nearest_examples:{vectors.model}"
    return Decided(
        values, methods, float(result.confidence or 0), result.source, result.scores, result.calls, result.truncated
    )


def rest_schema(schema: dict[str, Any] | None, decided: list[str]) -> dict[str, Any] | None:
    """The schema of the fields still to write (None when nothing is left)."""
    if schema is None:
        return None
    rest = json.loads(json.dumps(schema))
    for name in decided:
        rest.get("properties", {}).pop(name, None)
    rest["required"] = [r for r in rest.get("required", []) if r in rest.get("properties", {})]
    return rest if rest.get("properties") else None


def decided_note(values: dict[str, Any]) -> str:
    shown = ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in values.items())
    return f"\n\n(Already decided: {shown}. Write only the remaining fields.)"
