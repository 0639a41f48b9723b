"""Assertions: what a suite checks in an output, and how a case is scored.

    exact        equals, contains, icontains, contains-any, icontains-any, contains-all,
                 icontains-all, regex, starts-with
    structural   is-json (value: an optional schema), json-schema (Draft 2020-12), json-path
                 (`path: $.a.b[0]`, value: what it must equal)
    code         python (an expression over `output`, `vars`, `record`, or file://f.py:function),
                 run in a subprocess with a timeout (`_python`)
    model-based  similar (embedding cosine >= threshold, default 0.8; the bundled e5 model),
                 llm-rubric (a fixed grader model; `_grader`)
    run          cost <= value USD, latency <= value seconds
    safety       contains-pii (the audit masker's detectors; use it as not-contains-pii)
    knowledge    refuses (the record's `refused`), cites (the record's `citations`, value: the
                 sources that must be among them)
    labels       classification (the record's label, or `field`, equals value; confidence >= threshold)

Every type takes a `not-` prefix (inverts pass and score), a `weight` (default 1; 0 reports only)
and a `threshold`. A case passes when its weighted score (each check scores 0..1) reaches the
case's `threshold`; with no threshold every weighted check must pass. A check that could not be
judged (the grader failed, the python code raised or timed out) is an error, and so is its case.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

TYPES = (
    "equals", "contains", "icontains", "contains-any", "icontains-any", "contains-all", "icontains-all",
    "regex", "starts-with", "is-json", "json-schema", "json-path", "python", "similar", "llm-rubric",
    "cost", "latency", "contains-pii", "refuses", "cites", "classification",
)  # fmt: skip
NEEDS_VALUE = {"equals", "contains", "icontains", "contains-any", "icontains-any", "contains-all", "icontains-all",
               "regex", "starts-with", "json-schema", "python", "similar", "llm-rubric", "classification"}  # fmt: skip
EXTRA_KEYS = {"path", "field", "timeout"}
SIMILAR_THRESHOLD = 0.8


class Unjudged(Exception):
    """An assertion that could not be judged (its case becomes `error`, not `fail`)."""


@dataclass(frozen=True)
class Assertion:
    type: str  # the base type, without not-
    negate: bool = False
    value: Any = None
    weight: float = 1.0
    threshold: float | None = None
    options: dict[str, Any] = field(default_factory=dict)  # path, field, timeout

    @property
    def name(self) -> str:
        return ("not-" if self.negate else "") + self.type


@dataclass
class Check:
    type: str
    passed: bool
    score: float
    reason: str
    weight: float = 1.0
    error: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "pass": self.passed, "score": round(self.score, 4), "reason": self.reason,
                "weight": self.weight, "error": self.error}  # fmt: skip


@dataclass
class Output:
    """What an assertion looks at: one cell's answer."""

    text: str
    record: dict[str, Any] | None = None  # a task's output fields (label, refused, citations, ...)
    cost_usd: Decimal | None = None  # what the answer cost at list prices (also when served from the cache)
    latency_s: float | None = None
    vars: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        if self.record is not None:
            return self.record
        text = self.text.strip()
        fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.S)
        return json.loads(fence.group(1) if fence else text)


# --- parsing (at load time: a bad assertion is an error naming the file, line and case) ----------


def parse(raw: Any, where: str) -> Assertion:
    from unyo._types._errors import BadInput

    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise BadInput(f"{where}: an assertion is a mapping with a `type`, got {raw!r}"[:300])
    name = raw["type"].strip()
    negate = name.startswith("not-") and name[4:] in TYPES
    base = name[4:] if negate else name
    if base not in TYPES:
        raise BadInput(f"{where}: unknown assertion type {name!r}; known: {', '.join(TYPES)} (each also as not-TYPE)")
    unknown = set(raw) - {"type", "value", "weight", "threshold", *EXTRA_KEYS}
    if unknown:
        raise BadInput(f"{where}: assertion {name}: unknown keys {sorted(unknown)}")
    value = raw.get("value")
    if base in NEEDS_VALUE and value is None:
        raise BadInput(f"{where}: assertion {name} needs a `value`")
    try:
        weight = float(raw.get("weight", 1.0))
        threshold = None if raw.get("threshold") is None else float(raw["threshold"])
    except (TypeError, ValueError):
        raise BadInput(f"{where}: assertion {name}: weight and threshold are numbers") from None
    if weight < 0:
        raise BadInput(f"{where}: assertion {name}: weight must be 0 or more")
    if base in ("cost", "latency") and value is None and threshold is None:
        raise BadInput(f"{where}: assertion {name} needs a `value` (or `threshold`): the most it may be")
    options = {k: raw[k] for k in EXTRA_KEYS if k in raw}
    assertion = Assertion(base, negate, value, weight, threshold, options)
    _validate(assertion, where)
    return assertion


def _validate(a: Assertion, where: str) -> None:
    from unyo._types._errors import BadInput

    if a.type == "regex":
        try:
            re.compile(str(a.value))
        except re.error as exc:
            raise BadInput(f"{where}: assertion {a.name}: not a valid regular expression ({exc})") from None
    if a.type in ("contains-any", "icontains-any", "contains-all", "icontains-all") and not isinstance(a.value, list):
        raise BadInput(f"{where}: assertion {a.name}: value must be a list")
    if a.type == "json-schema" or (a.type == "is-json" and a.value is not None):
        import jsonschema

        try:
            jsonschema.Draft202012Validator.check_schema(a.value)
        except jsonschema.SchemaError as exc:
            raise BadInput(f"{where}: assertion {a.name}: not a valid JSON Schema (2020-12): {exc.message}") from None
    if a.type == "json-path":
        if not isinstance(a.options.get("path"), str):
            raise BadInput(f"{where}: assertion {a.name} needs `path` (e.g. $.category)")
        json_path(a.options["path"])  # raises on a malformed path
    if a.type in ("cost", "latency"):
        try:
            float(a.value if a.value is not None else a.threshold)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BadInput(f"{where}: assertion {a.name}: value must be a number") from None


_PATH_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def json_path(path: str) -> list[str | int]:
    """`$.a.b[0]['c d']` as steps; a small JSONPath subset (names and indexes, no filters)."""
    from unyo._types._errors import BadInput

    text = path.strip()
    if not text.startswith("$"):
        raise BadInput(f"json-path {path!r}: must start with $")
    steps: list[str | int] = []
    at = 1
    while at < len(text):
        m = _PATH_STEP.match(text, at)
        if not m:
            raise BadInput(f"json-path {path!r}: cannot read it at {text[at:]!r} (use $.name, [0], ['name'])")
        name, index, quoted, dquoted = m.groups()
        steps.append(int(index) if index is not None else (name or quoted or dquoted or ""))
        at = m.end()
    return steps


def _walk(value: Any, steps: list[str | int]) -> Any:
    for step in steps:
        if isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        else:
            raise KeyError(step)
    return value


# --- judging ----------------------------------------------------------------------------------

Judge = Callable[[Assertion, Output], tuple[bool, float, str]]


def _bool(ok: bool, reason: str) -> tuple[bool, float, str]:
    return ok, 1.0 if ok else 0.0, reason


def _short(value: Any, n: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= n else text[: n - 1] + "…"


def _equals(a: Assertion, out: Output) -> tuple[bool, float, str]:
    if isinstance(a.value, (dict, list)):
        try:
            got = out.json()
        except ValueError:
            return _bool(False, "output is not JSON")
        return _bool(got == a.value, f"JSON {'equals' if got == a.value else 'differs from'} the expected value")
    ok = out.text.strip() == str(a.value).strip()
    return _bool(ok, "equal" if ok else f"expected {_short(a.value)!r}, got {_short(out.text.strip())!r}")


def _contains(a: Assertion, out: Output) -> tuple[bool, float, str]:
    fold = a.type.startswith("i")
    text = out.text.casefold() if fold else out.text
    wanted = a.value if isinstance(a.value, list) else [a.value]
    hits = [str(w) for w in wanted if (str(w).casefold() if fold else str(w)) in text]
    if a.type.endswith("-all"):
        missing = [str(w) for w in wanted if str(w) not in hits]
        return _bool(not missing, "all found" if not missing else f"missing {missing}")
    return _bool(bool(hits), f"found {hits}" if hits else f"none of {[str(w) for w in wanted]} found")


def _regex(a: Assertion, out: Output) -> tuple[bool, float, str]:
    m = re.search(str(a.value), out.text)
    return _bool(m is not None, f"matched {_short(m.group())!r}" if m else f"no match for /{a.value}/")


def _starts_with(a: Assertion, out: Output) -> tuple[bool, float, str]:
    ok = out.text.lstrip().startswith(str(a.value))
    return _bool(ok, "starts with it" if ok else f"starts with {_short(out.text.lstrip()[:30])!r}")


def _schema_errors(schema: Any, value: Any) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(value)]


def _is_json(a: Assertion, out: Output) -> tuple[bool, float, str]:
    try:
        value = out.json()
    except ValueError as exc:
        return _bool(False, f"not JSON ({exc})")
    if a.value is None and a.type == "is-json":
        return _bool(True, "valid JSON")
    errors = _schema_errors(a.value, value)
    return _bool(not errors, "matches the schema" if not errors else "; ".join(errors[:3]))


def _json_path(a: Assertion, out: Output) -> tuple[bool, float, str]:
    try:
        got = _walk(out.json(), json_path(a.options["path"]))
    except ValueError:
        return _bool(False, "output is not JSON")
    except KeyError:
        return _bool(False, f"{a.options['path']} is not in the output")
    if a.value is None:
        return _bool(True, f"{a.options['path']} = {_short(got)}")
    ok = got == a.value
    return _bool(ok, f"{a.options['path']} = {_short(got)}" + ("" if ok else f", expected {_short(a.value)}"))


def _limit(a: Assertion) -> float:
    return float(a.value if a.value is not None else a.threshold)  # type: ignore[arg-type]


def _cost(a: Assertion, out: Output) -> tuple[bool, float, str]:
    if out.cost_usd is None:
        raise Unjudged("the model has no price, so its cost is unknown")
    ok = out.cost_usd <= Decimal(str(_limit(a)))
    return _bool(ok, f"${out.cost_usd} {'<=' if ok else '>'} ${_limit(a)}")


def _latency(a: Assertion, out: Output) -> tuple[bool, float, str]:
    if out.latency_s is None:
        raise Unjudged("no latency was recorded")
    ok = out.latency_s <= _limit(a)
    return _bool(ok, f"{out.latency_s:.2f}s {'<=' if ok else '>'} {_limit(a)}s")


def _pii(a: Assertion, out: Output) -> tuple[bool, float, str]:
    from unyo._records._mask import find

    kinds = sorted({kind for _, _, kind in find(out.text)})
    return _bool(bool(kinds), f"personal data or secrets: {', '.join(kinds)}" if kinds else "no personal data found")


def _record(out: Output, key: str) -> Any:
    if out.record is None or key not in out.record:
        raise Unjudged(f"the result has no `{key}` field (it comes from a knowledge answer or a task that sets it)")
    return out.record[key]


def _refuses(a: Assertion, out: Output) -> tuple[bool, float, str]:
    refused = bool(_record(out, "refused"))
    return _bool(refused, "refused" if refused else "answered")


def _citation_names(citations: Any) -> list[str]:
    names = []
    for c in citations if isinstance(citations, list) else []:
        if isinstance(c, dict):
            names.append(" ".join(str(c[k]) for k in ("source", "id", "title", "path", "url") if c.get(k)))
        else:
            names.append(str(c))
    return names


def _cites(a: Assertion, out: Output) -> tuple[bool, float, str]:
    names = _citation_names(_record(out, "citations"))
    if a.value is None:
        return _bool(bool(names), f"{len(names)} citation(s)" if names else "no citations")
    wanted = a.value if isinstance(a.value, list) else [a.value]
    missing = [str(w) for w in wanted if not any(str(w) in n for n in names)]
    return _bool(not missing, f"cites {wanted}" if not missing else f"does not cite {missing} (cites {names[:5]})")


def _classification(a: Assertion, out: Output) -> tuple[bool, float, str]:
    key = a.options.get("field") or ("label" if out.record and "label" in out.record else "category")
    label = _record(out, key)
    confidence = (out.record or {}).get("confidence")
    if label != a.value:
        return _bool(False, f"{key} {label!r}, expected {a.value!r}")
    if a.threshold is not None:
        if not isinstance(confidence, (int, float)):
            return _bool(False, f"{key} {label!r} but no confidence to hold against {a.threshold}")
        ok = confidence >= a.threshold
        return (
            ok,
            1.0 if ok else float(confidence),
            f"{key} {label!r}, confidence {confidence:.2f}" + ("" if ok else f" < {a.threshold}"),
        )
    return _bool(True, f"{key} {label!r}" + (f", confidence {confidence:.2f}" if isinstance(confidence, float) else ""))


JUDGES: dict[str, Judge] = {
    "equals": _equals,
    "contains": _contains,
    "icontains": _contains,
    "contains-any": _contains,
    "icontains-any": _contains,
    "contains-all": _contains,
    "icontains-all": _contains,
    "regex": _regex,
    "starts-with": _starts_with,
    "is-json": _is_json,
    "json-schema": _is_json,
    "json-path": _json_path,
    "cost": _cost,
    "latency": _latency,
    "contains-pii": _pii,
    "refuses": _refuses,
    "cites": _cites,
    "classification": _classification,
}  # python, similar and llm-rubric need more than the output: see `_score.Scorer`


def finish(a: Assertion, passed: bool, score: float, reason: str) -> Check:
    """A judged assertion as a check: negation applied."""
    if a.negate:
        passed, score, reason = not passed, 1.0 - score, f"not: {reason}"
    return Check(a.name, passed, max(0.0, min(1.0, score)), reason, a.weight)


def case_verdict(checks: list[Check], threshold: float | None) -> tuple[str, float]:
    """(pass | fail | error, weighted score)."""
    weighted = [c for c in checks if c.weight > 0]
    total = sum(c.weight for c in weighted)
    score = sum(c.weight * c.score for c in weighted) / total if total else 1.0
    if any(c.error for c in checks):
        return "error", score
    if threshold is not None:
        return ("pass" if score >= threshold - 1e-9 else "fail"), score
    return ("pass" if all(c.passed for c in weighted) else "fail"), score
