"""Tools: a typed Python function becomes a strict JSON-schema tool the model may call.

    @unyo.tool(guards={"url": unyo.guards.url_host_in(["api.example.com"])}, timeout_s=5)
    def fetch_status(url: str, retries: Annotated[int, Field(ge=0, le=3)] = 0) -> dict:
        '''Fetch a status page and return its JSON.'''

The signature (type hints, `Annotated[..., Field(...)]` constraints, defaults) becomes a Pydantic
model, the first docstring paragraph the description, `Args:` lines the parameter descriptions.
The model's arguments are validated against that model, then against the `guards`, before the
function runs (a guard that returns a value of the argument's type hands the tool that value instead,
e.g. the resolved path it checked; other results such as True or a regex match change nothing); see `_tool_loop`
for the loop that executes calls.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from unyo._quality._structured import to_strict
from unyo._types._errors import ConfigError

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
Guard = Callable[
    [Any], Any
]  # raises ValueError (or returns False) to refuse; a result of the argument's own type replaces it


class ToolArgumentError(ValueError):
    """The model's arguments failed the schema or a guard; the message goes back to the model."""


@dataclass
class Tool:
    name: str
    description: str
    fn: Callable[..., Any]
    args_model: Any  # a Pydantic model class
    guards: dict[str, Guard] = field(default_factory=dict)
    timeout_s: float = 30.0
    max_result_chars: int = 8000
    needs_approval: bool = False

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ConfigError(f"tool name {self.name!r} must be 1-64 letters, digits, '_' or '-'")
        unknown = set(self.guards) - set(self.args_model.model_fields)
        if unknown:
            raise ConfigError(f"tool {self.name}: guards name unknown arguments {sorted(unknown)}")

    @property
    def parameters(self) -> dict[str, Any]:
        """The strict JSON schema of the arguments (what the provider is sent)."""
        schema = to_strict(self.args_model.model_json_schema())
        schema.pop("title", None)
        return schema

    def spec(self, api: str) -> dict[str, Any]:
        """The tool definition for `tools=` in either API."""
        fn = {"name": self.name, "description": self.description, "parameters": self.parameters, "strict": True}
        return {"type": "function", **fn} if api == "responses" else {"type": "function", "function": fn}

    def parse(self, arguments: str) -> dict[str, Any]:
        """The model's argument text → validated keyword arguments, or ToolArgumentError."""
        from pydantic import ValidationError

        try:
            raw = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ToolArgumentError(f"arguments are not valid JSON: {exc.msg}") from None
        if not isinstance(raw, dict):
            raise ToolArgumentError("arguments must be a JSON object")
        fields = self.args_model.model_fields
        # strict mode makes optional arguments nullable: a null means "use the default"
        raw = {k: v for k, v in raw.items() if not (v is None and k in fields and not fields[k].is_required())}
        try:
            model = self.args_model.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise ToolArgumentError(problems) from None
        kwargs = {name: getattr(model, name) for name in fields}
        for name, guard in self.guards.items():
            try:
                ok = guard(kwargs[name])
            except (ValueError, TypeError) as exc:
                raise ToolArgumentError(f"{name}: {exc}") from None
            if ok is False:
                raise ToolArgumentError(f"{name}: refused by {getattr(guard, '__name__', 'a guard')}")
            if not isinstance(ok, bool) and isinstance(ok, type(kwargs[name])):
                kwargs[name] = ok  # the guard's checked form (e.g. the resolved path) is what the tool gets
        return kwargs


def _arg_docs(doc: str) -> dict[str, str]:
    """`Args:` section lines (`name: text` or `name (type): text`) of a Google-style docstring."""
    found: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args:
            m = re.match(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$", stripped)
            if m:
                found[m.group(1)] = m.group(2)
            elif stripped and not line.startswith((" ", "\t")):
                in_args = False
    return found


def _args_model(fn: Callable[..., Any], name: str) -> Any:
    from pydantic import ConfigDict, Field, create_model
    from pydantic.fields import FieldInfo

    hints = get_type_hints(fn, include_extras=True)
    docs = _arg_docs(inspect.getdoc(fn) or "")
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigError(f"tool {name}: *args / **kwargs cannot be described to a model; name each argument")
        if param.name not in hints:
            raise ConfigError(f"tool {name}: argument {param.name!r} needs a type hint")
        default = ... if param.default is inspect.Parameter.empty else param.default
        info = default if isinstance(default, FieldInfo) else Field(default, description=docs.get(param.name))
        fields[param.name] = (hints[param.name], info)
    return create_model(f"{name}_args", __config__=ConfigDict(extra="forbid"), **fields)


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    guards: dict[str, Guard] | None = None,
    timeout_s: float = 30.0,
    max_result_chars: int = 8000,
    needs_approval: bool = False,
) -> Any:
    """Decorator: `@tool` or `@tool(guards=..., timeout_s=..., max_result_chars=..., needs_approval=...)`.
    Returns a Tool; calling the Tool object is not supported — the loop runs `tool.fn`."""

    def wrap(f: Callable[..., Any]) -> Tool:
        tool_name = name or f.__name__
        doc = inspect.getdoc(f) or ""
        text = description or doc.split("\n\n")[0].strip()
        if not text:
            raise ConfigError(f"tool {tool_name}: give it a docstring (the model reads it to decide when to call it)")
        return Tool(
            tool_name,
            text,
            f,
            _args_model(f, tool_name),
            dict(guards or {}),
            timeout_s,
            max_result_chars,
            needs_approval,
        )

    return wrap(fn) if fn is not None else wrap


class ToolRegistry:
    """Named tools an application offers; each call picks the subset it allows."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.add(t)

    def add(self, t: Tool) -> Tool:
        if not isinstance(t, Tool):
            raise ConfigError(f"register a @unyo.tool, not {type(t).__name__}")
        if t.name in self._tools and self._tools[t.name] is not t:
            raise ConfigError(f"a different tool named {t.name!r} is already registered")
        self._tools[t.name] = t
        return t

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def allowed(self, allow: Iterable[str] | None) -> list[Tool]:
        if allow is None:
            return list(self._tools.values())
        allow = list(allow)
        unknown = [n for n in allow if n not in self._tools]
        if unknown:
            raise ConfigError(f"allow names tools that are not registered: {unknown}")
        return [self._tools[n] for n in allow]
