"""A suite: prompts (or tasks) x providers (models or roles) x test cases, in promptfoo's words.

    description: triage quality
    prompts:                      # a template ({{var}}), {id, prompt, system}, or {task: NAME, input, options}
      - "Classify this inquiry: {{text}}"
      - {task: triage}
    providers: [main, bulk, {id: gpt-4.1-mini, label: mini, config: {temperature: 0}}]
    defaultTest:                  # merged into every case
      assert: [{type: is-json}]
    tests:                        # inline cases, and/or files: CSV / JSONL / XLSX rows are vars
      - description: a refund request
        vars: {text: "返金してください"}
        assert: [{type: classification, value: billing}]
      - file: cases.csv           # columns are vars; __expected (e.g. "contains: 返金"), __description
    grader: {model: gpt-4.1-mini} # the fixed model llm-rubric uses (default: the profile's main role)

Every error names the file, the line and the case: a malformed YAML, an unknown assertion type,
a schema that is not a JSON Schema, a variable a prompt uses that a case does not set.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unyo._evals import _assertions, _yaml
from unyo._evals._assertions import Assertion
from unyo._types._errors import BadInput

TOP_KEYS = {"description", "prompts", "providers", "tests", "defaultTest", "grader", "options", "name"}
CASE_KEYS = {"description", "vars", "assert", "threshold", "id", "options"}
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][\w]*)\s*\}\}")


@dataclass(frozen=True)
class Prompt:
    id: str
    template: str | None = None  # a prompt text with {{vars}}
    system: str | None = None
    task: str | None = None  # or a task (its input is `input`, default {{text}})
    input: str = "{{text}}"
    options: dict[str, Any] = field(default_factory=dict)  # the task's option overrides
    schema: dict[str, Any] | None = None  # the task's output schema (extract needs one)

    def variables(self) -> set[str]:
        texts = [self.template or "", self.system or ""] if self.task is None else [self.input]
        return {m.group(1) for t in texts for m in VARIABLE.finditer(t)}

    def render(self, values: dict[str, Any]) -> tuple[str | None, str]:
        """(system, user text) with the case's vars filled in."""

        def fill(text: str) -> str:
            return VARIABLE.sub(lambda m: _text(values[m.group(1)]), text)

        if self.task is not None:
            return None, fill(self.input)
        return (fill(self.system) if self.system else None), fill(self.template or "")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class Provider:
    id: str  # a model id or a role of the profile
    label: str
    profile: str | None = None
    config: dict[str, Any] = field(default_factory=dict)  # temperature, max_output_tokens, api, ...


@dataclass
class Case:
    key: str  # stable across runs: `id`, else the description, else a hash of the vars
    description: str
    vars: dict[str, Any]
    asserts: list[Assertion]
    threshold: float | None
    where: str  # file:line


@dataclass
class Suite:
    name: str
    description: str
    prompts: list[Prompt]
    providers: list[Provider]
    cases: list[Case]
    grader: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path is not None else Path.cwd()


def _where(source: str, node: Any, fallback: int = 0) -> str:
    line = _yaml.line_of(node, fallback)
    return f"{source}:{line}" if line else source


def _case_label(index: int, description: str) -> str:
    return f"case {index}" + (f" ({description[:60]})" if description else "")


def _prompt(raw: Any, index: int, where: str) -> Prompt:
    if isinstance(raw, str):
        if raw.startswith("file://"):
            raise BadInput(f"{where}: prompt {index}: file:// prompts are not supported; put the text in the suite")
        return Prompt(id=f"prompt{index}", template=raw)
    if not isinstance(raw, dict):
        raise BadInput(f"{where}: prompt {index}: a text, {{prompt, system}} or {{task}}, got {raw!r}"[:300])
    unknown = set(raw) - {"id", "label", "prompt", "raw", "system", "task", "input", "options", "schema"}
    if unknown:
        raise BadInput(f"{where}: prompt {index}: unknown keys {sorted(unknown)}")
    pid = str(raw.get("id") or raw.get("label") or (raw.get("task") if raw.get("task") else f"prompt{index}"))
    if raw.get("task"):
        options = raw.get("options") or {}
        if not isinstance(options, dict):
            raise BadInput(f"{where}: prompt {pid}: options must be a mapping")
        schema = raw.get("schema")
        if schema is not None:
            import jsonschema

            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise BadInput(f"{where}: prompt {pid}: schema is not a valid JSON Schema: {exc.message}") from None
        return Prompt(id=pid, task=str(raw["task"]), input=str(raw.get("input", "{{text}}")), options=dict(options),
                      schema=schema)  # fmt: skip
    text = raw.get("prompt", raw.get("raw"))
    if not isinstance(text, str) or not text.strip():
        raise BadInput(f"{where}: prompt {pid}: needs `prompt` (the text) or `task`")
    system = raw.get("system")
    return Prompt(id=pid, template=text, system=str(system) if system else None)


def provider_for(spec: str) -> Provider:
    """`-m` and a provider string: a model id or role (main, bulk), `PROFILE:MODEL` (local:main),
    or a profile's name alone (local: that profile's main role)."""
    from unyo._providers._profiles import profile_names

    spec = spec.strip()
    profile, sep, model = spec.partition(":")
    if sep and profile in profile_names() and model:
        return Provider(id=model, label=spec, profile=profile)
    if spec in profile_names():
        return Provider(id="main", label=spec, profile=spec)
    return Provider(id=spec, label=spec)


def _provider(raw: Any, index: int, where: str) -> Provider:
    if isinstance(raw, str) and raw.strip():
        return provider_for(raw)
    if not isinstance(raw, dict) or not raw.get("id"):
        raise BadInput(f"{where}: provider {index}: a model id or role, or {{id, label, profile, config}}")
    unknown = set(raw) - {"id", "label", "profile", "config"}
    if unknown:
        raise BadInput(f"{where}: provider {raw['id']}: unknown keys {sorted(unknown)}")
    config = raw.get("config") or {}
    if not isinstance(config, dict):
        raise BadInput(f"{where}: provider {raw['id']}: config must be a mapping")
    return Provider(str(raw["id"]), str(raw.get("label") or raw["id"]), raw.get("profile"), dict(config))


def _asserts(raw: Any, where: str, case: str = "") -> list[Assertion]:
    """`where` is file:line of the enclosing case; each assertion names its own line."""
    if raw is None:
        return []
    suffix = f": {case}" if case else ""
    if not isinstance(raw, list):
        raise BadInput(f"{where}{suffix}: `assert` must be a list of assertions")
    source = where.rsplit(":", 1)[0] if where.rsplit(":", 1)[-1].isdigit() else where
    return [_assertions.parse(item, (_where(source, item) if _yaml.line_of(item) else where) + suffix) for item in raw]


def _expected(text: str, where: str) -> Assertion:
    """A CSV `__expected` cell: `TYPE: value` (promptfoo's form) or a plain value (equals)."""
    kind, sep, value = str(text).partition(":")
    name = kind.strip()
    base = name[4:] if name.startswith("not-") else name
    if sep and base in _assertions.TYPES:
        raw: dict[str, Any] = {"type": name, "value": value.strip() or None}
        if base in ("contains-any", "contains-all", "icontains-any", "icontains-all"):
            raw["value"] = [v.strip() for v in value.split(",") if v.strip()]
        if base in ("cost", "latency", "similar"):
            raw = {"type": name, "value": value.strip()}
        if base in ("json-schema", "is-json") and value.strip():
            try:
                raw["value"] = json.loads(value)
            except ValueError:
                raise BadInput(f"{where}: __expected {name}: the schema is not JSON") from None
        return _assertions.parse(raw, where)
    return _assertions.parse({"type": "equals", "value": str(text)}, where)


def _file_cases(spec: str, base: Path, where: str) -> list[dict[str, Any]]:
    """Cases from a CSV / JSONL / XLSX file: each row's columns are vars, except __expected,
    __description, __threshold; a JSONL row with `vars` is a whole case."""
    from unyo._jobs._batch import _files

    name = spec.removeprefix("file://")
    path = (base / name) if not Path(name).is_absolute() else Path(name)
    try:
        table = _files.read(path)
    except BadInput as exc:
        raise BadInput(f"{where}: {exc}") from None
    out = []
    header = 0 if path.suffix.lower() == ".jsonl" else 1
    for i, row in enumerate(table.rows, 1):
        row_where = f"{path}:{i + header}"
        if path.suffix.lower() == ".jsonl" and isinstance(row.get("vars"), dict):
            case = dict(row)
        else:
            values = {k: v for k, v in row.items() if not str(k).startswith("__")}
            case = {"vars": values}
            if row.get("__description"):
                case["description"] = str(row["__description"])
            if row.get("__threshold") not in (None, ""):
                case["threshold"] = row["__threshold"]
            expected = row.get("__expected")
            if expected not in (None, ""):
                case["_expected"] = _expected(str(expected), row_where)
        case["_where"] = row_where
        out.append(case)
    return out


def _case_key(raw: dict[str, Any], merged_vars: dict[str, Any]) -> str:
    if raw.get("id"):
        return str(raw["id"])
    if raw.get("description"):
        return str(raw["description"])
    blob = json.dumps(merged_vars, sort_keys=True, ensure_ascii=False, default=str)
    return "vars:" + hashlib.sha256(blob.encode()).hexdigest()[:10]


def _threshold(value: Any, where: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadInput(f"{where}: threshold must be a number, got {value!r}") from None


def from_data(data: Any, source: str = "<suite>", path: Path | None = None) -> Suite:
    """A suite from its parsed YAML (or a dict given to `unyo.evaluate`)."""
    if not isinstance(data, dict):
        raise BadInput(f"{source}: a suite is a mapping (prompts, providers, tests, ...)")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise BadInput(f"{_where(source, data)}: unknown keys {sorted(unknown)}; a suite has {sorted(TOP_KEYS)}")
    base = path.parent if path is not None else Path.cwd()
    raw_prompts = data.get("prompts")
    if isinstance(raw_prompts, (str, dict)):
        raw_prompts = [raw_prompts]
    if not raw_prompts:
        raise BadInput(f"{_where(source, data)}: the suite has no `prompts`")
    prompts = [_prompt(p, i, _where(source, p, _yaml.line_of(raw_prompts))) for i, p in enumerate(raw_prompts, 1)]
    if len({p.id for p in prompts}) != len(prompts):
        raise BadInput(f"{_where(source, raw_prompts)}: two prompts have the same id; give each an `id`")
    raw_providers = data.get("providers") or ["main"]
    if isinstance(raw_providers, (str, dict)):
        raw_providers = [raw_providers]
    providers = [
        _provider(p, i, _where(source, p, _yaml.line_of(raw_providers))) for i, p in enumerate(raw_providers, 1)
    ]
    if len({p.label for p in providers}) != len(providers):
        raise BadInput(f"{_where(source, raw_providers)}: two providers have the same label; give each a `label`")
    default = data.get("defaultTest") or {}
    if not isinstance(default, dict):
        raise BadInput(f"{_where(source, data)}: defaultTest must be a mapping")
    default_vars = default.get("vars") or {}
    default_asserts = _asserts(default.get("assert"), _where(source, default))
    default_threshold = _threshold((default.get("options") or {}).get("threshold", default.get("threshold")), source)
    raw_tests = data.get("tests")
    if raw_tests is None:
        raise BadInput(f"{_where(source, data)}: the suite has no `tests`")
    if isinstance(raw_tests, str):
        raw_tests = [raw_tests]
    entries: list[dict[str, Any]] = []
    for item in raw_tests:
        item_where = _where(source, item, _yaml.line_of(raw_tests))
        if isinstance(item, str) or (isinstance(item, dict) and set(item) == {"file"}):
            entries += _file_cases(item if isinstance(item, str) else str(item["file"]), base, item_where)
        elif isinstance(item, dict):
            entries.append({**item, "_where": item_where})
        else:
            raise BadInput(f"{item_where}: a test case is a mapping (vars, assert) or a file name")
    cases = []
    for index, raw in enumerate(entries, 1):
        where = raw.pop("_where")
        expected = raw.pop("_expected", None)
        description = str(raw.get("description") or "")
        label = f"{where}: {_case_label(index, description)}"
        unknown = set(raw) - CASE_KEYS
        if unknown:
            raise BadInput(f"{label}: unknown keys {sorted(unknown)}; a case has {sorted(CASE_KEYS)}")
        values = raw.get("vars") or {}
        if not isinstance(values, dict):
            raise BadInput(f"{label}: vars must be a mapping")
        merged = {**default_vars, **values}
        for prompt in prompts:
            missing = sorted(prompt.variables() - set(merged))
            if missing:
                raise BadInput(
                    f"{label}: prompt {prompt.id} uses {', '.join('{{' + m + '}}' for m in missing)}, "
                    f"which the case does not set (its vars: {sorted(merged) or 'none'})"
                )
        own = _asserts(raw.get("assert"), where, _case_label(index, description))
        asserts = default_asserts + own + ([expected] if expected else [])
        threshold = _threshold((raw.get("options") or {}).get("threshold", raw.get("threshold")), label)
        cases.append(
            Case(
                _case_key(raw, merged),
                description,
                merged,
                asserts,
                threshold if threshold is not None else default_threshold,
                where,
            )
        )
    keys = [c.key for c in cases]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise BadInput(f"{source}: cases must be distinct (give each an `id` or a description); repeated: {dupes[:5]}")
    grader = data.get("grader") or {}
    if isinstance(grader, str):
        grader = {"model": grader}
    name = str(data.get("name") or (path.stem if path is not None else "suite"))
    return Suite(name, str(data.get("description") or ""), prompts, providers, cases, dict(grader),
                 dict(data.get("options") or {}), path)  # fmt: skip


def load(path: str | Path) -> Suite:
    file = Path(path)
    if not file.exists():
        raise BadInput(f"{file}: no such suite file")
    return from_data(_yaml.load(file), str(file), file)
