"""Structured output: a Pydantic model or a JSON Schema in, a validated object out.

    schema ──to_strict──> the provider's strict form (Responses `text.format`, Chat
    `response_format`; a grammar on the local model) ──call──> text ──validate locally──> object
                                                        └─ invalid: re-ask with only the error,
                                                           at most `max_repairs` extra calls

Strict-mode rewriting (what OpenAI's strict JSON schema accepts):
  * every object gets `additionalProperties: false` and lists every property in `required`;
    a property that was optional becomes nullable (`anyOf [..., {"type": "null"}]`)
  * `oneOf` becomes `anyOf`; `const` becomes a one-value `enum`; `allOf` of one schema is inlined
  * keywords strict mode rejects are dropped (`default`, `examples`, `discriminator`, ...)
  * `$defs` / `$ref` are kept (strict mode supports them); the root must be an object
Validation always uses the caller's ORIGINAL schema (Pydantic model or JSON Schema), so the
rewrite can never loosen what is accepted.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from unyo._types._call import CallInfo, total_cost
from unyo._types._errors import ConfigError, OutputInvalid, UsageError
from unyo._types._messages import Message, json_reason, os_reason
from unyo._types._money_text import money_text

DROPPED = {
    "default",
    "examples",
    "discriminator",
    "readOnly",
    "writeOnly",
    "deprecated",
    "$schema",
    "$id",
    "$comment",
    "contentMediaType",
}


def _is_model(schema: Any) -> bool:
    return isinstance(schema, type) and hasattr(schema, "model_json_schema") and hasattr(schema, "model_validate_json")


def schema_name(schema: Any) -> str:
    name = schema.__name__ if _is_model(schema) else str(schema.get("title") or "output")
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name)[:64] or "output"


def json_schema_of(schema: Any) -> dict[str, Any]:
    if _is_model(schema):
        return schema.model_json_schema()  # type: ignore[no-any-return]
    if isinstance(schema, dict):
        return schema
    raise ConfigError(Message("schema.wrong_type", got=type(schema).__name__))


def to_strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The strict-mode form of a JSON Schema (see the module docstring)."""
    out = _strict(copy.deepcopy(schema))
    if out.get("type") != "object":
        raise ConfigError(Message("schema.root_not_object"))
    return out


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: v for k, v in node.items() if k not in DROPPED}
    if "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "allOf" in node and len(node["allOf"]) == 1:
        inner = node.pop("allOf")[0]
        node = {**inner, **node}
    for key in ("$defs", "definitions", "properties"):
        if isinstance(node.get(key), dict):
            node[key] = {name: _strict(sub) for name, sub in node[key].items()}
    for key in ("items", "anyOf", "prefixItems", "not"):
        if key in node:
            node[key] = _strict(node[key])
    if node.get("type") == "object" or "properties" in node:
        props = node.setdefault("properties", {})
        required = set(node.get("required", []))
        for name, sub in props.items():
            if name not in required:
                props[name] = _nullable(sub)
        node["required"] = list(props)
        node["additionalProperties"] = False
        node.setdefault("type", "object")
    return node


def _nullable(sub: dict[str, Any]) -> dict[str, Any]:
    if sub.get("type") == "null" or any(isinstance(a, dict) and a.get("type") == "null" for a in sub.get("anyOf", [])):
        return sub
    if isinstance(sub.get("type"), str) and "$ref" not in sub and "anyOf" not in sub:
        return {**sub, "type": [sub["type"], "null"]}
    if "anyOf" in sub:
        return {**sub, "anyOf": [*sub["anyOf"], {"type": "null"}]}
    return {"anyOf": [sub, {"type": "null"}]}


def output_format(api: str, schema: Any) -> dict[str, Any]:
    """The request parameters asking for strict JSON output in either API."""
    strict = to_strict(json_schema_of(schema))
    name = schema_name(schema)
    if api == "responses":
        return {"text": {"format": {"type": "json_schema", "name": name, "schema": strict, "strict": True}}}
    return {"response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": strict, "strict": True}}}


def validate(schema: Any, text: str) -> tuple[Any, str | None]:
    """(the parsed object, None) or (None, a short description of what is wrong)."""
    if _is_model(schema):
        from pydantic import ValidationError

        try:
            return schema.model_validate_json(text), None
        except ValidationError as exc:
            problems = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:5]]
            return None, "; ".join(problems)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at character {exc.pos}"
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))[:5]
    if errors:
        return None, "; ".join(f"{'.'.join(str(p) for p in e.path) or '(root)'}: {e.message}" for e in errors)
    return data, None


def check_schema(schema: Any) -> None:
    """Refuse an invalid JSON Schema before anything is sent."""
    if _is_model(schema):
        return
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise UsageError(Message("schema.invalid", detail=exc.message)) from None


def load_schema(spec: str) -> object:
    """A schema given by name: `path/to/schema.json` or `package.module:ModelClass`."""
    import importlib
    import sys
    from pathlib import Path

    path = Path(spec)
    if path.suffix == ".json" or path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(Message("schema.unreadable", spec=spec, reason=os_reason(exc))) from None
        except json.JSONDecodeError as exc:
            raise UsageError(Message("schema.bad_json", spec=spec, detail=json_reason(exc), line=exc.lineno)) from None
    module, _, name = spec.partition(":")
    if not name:
        raise UsageError(Message("schema.bad_spec", spec=spec))
    sys.path.insert(0, ".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise UsageError(Message("schema.cannot_load", spec=spec, detail=exc)) from None


@dataclass
class Parsed:
    """A validated structured answer: `.parsed` (the model instance or dict) and the raw `.text`."""

    parsed: Any
    text: str
    calls: list[CallInfo] = field(default_factory=list)  # the first call, then each repair
    response: Any = field(default=None, repr=False)  # the SDK response that was accepted (logprobs, ids)

    @property
    def repairs(self) -> int:
        return len(self.calls) - 1

    @property
    def cost_usd(self) -> Decimal | None:
        return total_cost(self.calls)

    def to_dict(self) -> dict[str, Any]:
        data = self.parsed.model_dump(mode="json") if hasattr(self.parsed, "model_dump") else self.parsed
        return {
            "parsed": data,
            "text": self.text,
            "repairs": self.repairs,
            "cost_usd": money_text(self.cost_usd),
        }


REPAIR = (
    "Your previous reply did not match the required JSON schema: {error}. Reply again with only the corrected JSON."
)


def structured_flow(client: Any, prompt: str, schema: Any, *, model: str | None = None, system: str | None = None,
                    max_output_tokens: int | None = None, temperature: float | None = None, api: str | None = None,
                    max_repairs: int = 2, **extra: Any) -> Any:  # fmt: skip
    """ask_structured's body, for either client (a flow: see `_flow`)."""
    from unyo._client._openai import response_text
    from unyo._quality._ask import _api_for, build_request
    from unyo._quality._flow import Create

    check_schema(schema)
    if max_repairs < 0:
        raise ConfigError(Message("schema.max_repairs"))
    which = _api_for(client, api)
    fmt = output_format(which, schema)
    calls: list[CallInfo] = []
    turns: str | list[dict[str, str]] = prompt
    text, error = "", None
    for attempt in range(max_repairs + 1):
        if attempt:
            turns = [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": text},
                {"role": "user", "content": REPAIR.format(error=error)},
            ]
        params = build_request(
            which,
            turns,
            model=model,
            system=system,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            stream=False,
            extra={**extra, **fmt},
        )
        response = yield Create(which, params)
        info: CallInfo = response._unyo_call
        calls.append(info)
        text = response_text(response) or ""
        parsed, error = validate(schema, text)
        if error is None:
            return Parsed(parsed, text, calls, response)
        if info.status == "incomplete":
            error = Message("schema.output_cut", cap=info.max_output_tokens, error=error).render()
    raise OutputInvalid(
        Message("schema.output_invalid", calls=len(calls), repairs=max_repairs, error=error),
        last_output=text,
        errors=error,
        calls=calls,
    )


def ask_structured(
    prompt: str,
    schema: Any,
    *,
    model: str | None = None,
    system: str | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    api: Literal["responses", "chat"] | None = None,
    max_repairs: int = 2,
    client: Any = None,
    profile: str | None = None,
    **extra: Any,
) -> Parsed:
    """Ask for output matching `schema` (a Pydantic model class or a JSON Schema dict); get it
    validated. Each repair is a separate call — priced, budgeted and audited like any other —
    carrying the original request, the last bad output and only the latest validation error."""
    from unyo._quality._ask import default_client
    from unyo._quality._flow import run

    check_schema(schema)
    client = client or default_client(profile)
    return run(
        structured_flow(
            client,
            prompt,
            schema,
            model=model,
            system=system,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            api=api,
            max_repairs=max_repairs,
            **extra,
        ),
        client,
    )


async def aask_structured(
    prompt: str,
    schema: Any,
    *,
    model: str | None = None,
    system: str | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    api: Literal["responses", "chat"] | None = None,
    max_repairs: int = 2,
    client: Any = None,
    profile: str | None = None,
    **extra: Any,
) -> Parsed:
    """The async twin of `ask_structured`, on an AsyncOpenAI."""
    from unyo._quality._flow import arun, default_async_client

    check_schema(schema)
    client = client or default_async_client(profile)
    return await arun(
        structured_flow(
            client,
            prompt,
            schema,
            model=model,
            system=system,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            api=api,
            max_repairs=max_repairs,
            **extra,
        ),
        client,
    )
