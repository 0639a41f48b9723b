"""The tool loop: ask, run the tools the model calls, send the results back, until it answers.

    model call ──> tool calls? ──no──> answer
                       │yes
                       ▼  for each call (in parallel when the model sends several):
          allowed? ─> arguments valid (schema, then guards)? ─> approved? ─> run with a timeout
                       │ any "no", an exception or a timeout becomes a structured error
                       ▼  that goes back to the model as the call's output; nothing crashes
          results (capped in size) appended ──> next round (at most `max_rounds` rounds of tools)

After `max_rounds` rounds the model is asked once more with `tool_choice="none"`, so it must
answer from what it has; a model that still calls a tool raises ToolLoopExceeded. Each model
call goes through the client's pipeline (priced, budgeted, audited); each tool call gets its
own audit row (name, masked arguments, duration, result size, outcome). A tool that times out is
abandoned, not stopped: its row says "still running in the background". A tool's exception
text is masked (secrets, personal data) before it goes back to the model.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Literal

from unyo._quality._tools import Tool, ToolArgumentError, ToolRegistry
from unyo._types._call import CallInfo, total_cost
from unyo._types._errors import ConfigError, ToolLoopExceeded
from unyo._types._money_text import money_text

Outcome = Literal["ok", "not_allowed", "invalid_arguments", "denied", "error", "timeout"]


@dataclass
class ToolRequest:
    """What the model asked for, as the approval hook sees it (arguments already validated)."""

    name: str
    arguments: dict[str, Any]
    call_id: str


@dataclass
class ToolCallRecord:
    name: str
    call_id: str
    arguments: str  # as the model sent them
    outcome: Outcome
    output: str  # what went back to the model
    duration_s: float = 0.0
    error: str | None = None
    truncated: bool = False


@dataclass
class ToolAnswer:
    text: str
    rounds: int  # rounds in which tools ran
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    calls: list[CallInfo] = field(default_factory=list)  # every model call, in order

    @property
    def cost_usd(self) -> Decimal | None:
        return total_cost(self.calls)

    def to_dict(self) -> dict[str, Any]:
        cost = self.cost_usd
        return {
            "text": self.text,
            "rounds": self.rounds,
            "tool_calls": [asdict(t) for t in self.tool_calls],
            "calls": [c.to_dict() for c in self.calls],
            "cost_usd": money_text(cost),
        }


_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@")  # scheme://user:password@host
STILL_RUNNING = "still running in the background (a thread cannot be stopped; its side effects may still happen)"


def _clean(text: str) -> str:
    """Exception text as the model (and the record) may see it: secrets and personal data masked,
    as in the audit copy — a tool's error can quote a connection string, a key or a customer."""
    from unyo._records._mask import mask
    from unyo._types._redact import redact

    return mask(redact(_URL_PASSWORD.sub(r"\1[SECRET]@", text)))


def _error(kind: str, message: str) -> str:
    return json.dumps({"error": {"type": kind, "message": message}}, ensure_ascii=False)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if hasattr(value, "model_dump_json"):
        return str(value.model_dump_json())
    return json.dumps(value, ensure_ascii=False, default=str)


def _run_with_timeout(tool: Tool, kwargs: dict[str, Any]) -> tuple[str, Outcome, str | None]:
    """Run in a daemon thread; a tool that overruns is abandoned (Python cannot kill a thread:
    make slow tools honour their own deadlines) and reported as a timeout."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            result = tool.fn(**kwargs)
            if asyncio.iscoroutine(result):
                result = asyncio.run(result)
            box["value"] = _as_text(result)
        except BaseException as exc:  # noqa: BLE001 - any failure goes back to the model
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"unyo-tool-{tool.name}", daemon=True)
    worker.start()
    worker.join(tool.timeout_s)
    if worker.is_alive():
        message = f"{tool.name} did not finish within {tool.timeout_s} s"
        return _error("timeout", message), "timeout", f"timeout: {message}; {STILL_RUNNING}"
    if "error" in box:
        exc = box["error"]
        message = _clean(f"{type(exc).__name__}: {exc}")
        return _error("tool_error", message), "error", message
    return box["value"], "ok", None


def execute(
    name: str,
    arguments: str,
    call_id: str,
    registry: ToolRegistry,
    allowed: set[str],
    approve: Callable[[ToolRequest], bool] | None,
) -> ToolCallRecord:
    """One tool call, start to finish; never raises."""
    began = time.monotonic()

    def done(output: str, outcome: Outcome, error: str | None = None, truncated: bool = False) -> ToolCallRecord:
        return ToolCallRecord(name, call_id, arguments, outcome, output, time.monotonic() - began, error, truncated)

    tool = registry.get(name)
    if tool is None or name not in allowed:
        message = f"tool {name!r} is not available in this request; available: {sorted(allowed)}"
        return done(_error("not_allowed", message), "not_allowed", message)
    try:
        kwargs = tool.parse(arguments)
    except ToolArgumentError as exc:
        return done(_error("invalid_arguments", str(exc)), "invalid_arguments", str(exc))
    if tool.needs_approval or approve is not None:
        try:
            ok = approve is not None and bool(approve(ToolRequest(name, kwargs, call_id)))
        except Exception as exc:  # noqa: BLE001 - a failing hook denies
            ok, message = False, _clean(f"approval hook failed: {type(exc).__name__}: {exc}")
        else:
            message = (
                "no approval hook was given for a tool that needs approval"
                if approve is None
                else "a reviewer denied this call"
            )
        if not ok:
            return done(_error("denied", message), "denied", message)
    output, outcome, error = _run_with_timeout(tool, kwargs)
    truncated = len(output) > tool.max_result_chars
    if truncated:
        output = (
            output[: tool.max_result_chars] + f"\n[truncated: {len(output) - tool.max_result_chars} more characters]"
        )
    return done(output, outcome, error, truncated)


def _execute_all(
    requested: list[tuple[str, str, str]], registry: ToolRegistry, allowed: set[str], approve: Any, parallel: bool
) -> list[ToolCallRecord]:
    if not parallel or len(requested) < 2:
        return [execute(n, a, c, registry, allowed, approve) for n, a, c in requested]
    results: list[ToolCallRecord | None] = [None] * len(requested)

    def one(i: int) -> None:
        results[i] = execute(*requested[i], registry, allowed, approve)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(requested))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in results if r is not None]


class _Turns:
    """The conversation so far, as the API's input items / messages."""

    def __init__(self, prompt: str | list[dict[str, Any]]) -> None:
        self.turns: list[dict[str, Any]] = (
            [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        )


class _Responses(_Turns):
    """Responses API: function_call output items in, function_call_output items back."""

    @staticmethod
    def calls(response: Any) -> list[tuple[str, str, str]]:
        return [
            (o.name, o.arguments, o.call_id) for o in response.output if getattr(o, "type", None) == "function_call"
        ]

    def add(self, response: Any, records: list[ToolCallRecord]) -> None:
        self.turns += [
            o.model_dump(exclude_none=True)
            for o in response.output
            if getattr(o, "type", None) in ("function_call", "message", "reasoning")
        ]
        self.turns += [{"type": "function_call_output", "call_id": r.call_id, "output": r.output} for r in records]


class _Chat(_Turns):
    """Chat Completions: an assistant message with tool_calls, then one `tool` message per call."""

    @staticmethod
    def calls(response: Any) -> list[tuple[str, str, str]]:
        message = response.choices[0].message
        return [(c.function.name, c.function.arguments, c.id) for c in message.tool_calls or []]

    def add(self, response: Any, records: list[ToolCallRecord]) -> None:
        message = response.choices[0].message.model_dump(exclude_none=True, include={"role", "content", "tool_calls"})
        self.turns.append(message)
        self.turns += [{"role": "tool", "tool_call_id": r.call_id, "content": r.output} for r in records]


def _audit(client: Any, info: CallInfo, records: list[ToolCallRecord]) -> None:
    settings = client.settings
    if settings.db_url == "off" or not records:
        return
    from unyo._records._audit import record_tool_calls
    from unyo._records._store import store_for

    now = time.time()
    rows = [
        {
            "id": uuid.uuid4().hex,
            "call_id": info.call_id,
            "ts": now,
            "user_id": info.user,
            "tag": info.tag,
            "name": r.name,
            "arguments": r.arguments,
            "outcome": r.outcome,
            "error": r.error,
            "duration_s": r.duration_s,
            "result_chars": len(r.output),
        }
        for r in records
    ]
    record_tool_calls(store_for(settings), rows, settings.audit_content)


def tools_flow(
    client: Any,
    prompt: str | list[dict[str, Any]],
    tools: Iterable[Tool] | ToolRegistry,
    *,
    allow: Iterable[str] | None = None,
    approve: Callable[[ToolRequest], bool] | None = None,
    max_rounds: int = 4,
    parallel: bool = True,
    tool_choice: Any = "auto",
    model: str | None = None,
    system: str | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    api: str | None = None,
    **extra: Any,
) -> Any:
    """ask_with_tools' body, for either client (a flow: see `_flow`). The tools run in threads
    (never on an event loop), the audit rows are written in the storage pool."""
    from unyo._client._openai import response_text
    from unyo._quality._ask import _api_for, build_request
    from unyo._quality._flow import Blocking, Create

    if max_rounds < 0:
        raise ConfigError("max_rounds must be 0 or more")
    registry = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
    offered = registry.allowed(allow)
    allowed = {t.name for t in offered}
    which = _api_for(client, api)
    convo = _Responses(prompt) if which == "responses" else _Chat(prompt)
    answer = ToolAnswer("", 0)
    for round_no in range(max_rounds + 1):
        last = round_no == max_rounds
        choice = "none" if last else (tool_choice if round_no == 0 else "auto")
        options: dict[str, Any] = {"tools": [t.spec(which) for t in offered], "tool_choice": choice} if offered else {}
        if offered and not last:
            options["parallel_tool_calls"] = parallel
        params = build_request(
            which,
            convo.turns,
            model=model,
            system=system,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            stream=False,
            extra={**extra, **options},
        )  # type: ignore[arg-type]
        response = yield Create(which, params)
        info: CallInfo = response._unyo_call
        answer.calls.append(info)
        requested = convo.calls(response)
        if not requested:
            answer.text = response_text(response) or ""
            return answer
        if last:
            break
        records = yield Blocking(_execute_all, requested, registry, allowed, approve, parallel, io=False)
        yield Blocking(_audit, client, info, records)
        answer.tool_calls += records
        answer.rounds += 1
        convo.add(response, records)
    raise ToolLoopExceeded(
        f"the model still called tools after {max_rounds} rounds and a final request for an answer",
        calls=answer.calls,
        tool_calls=answer.tool_calls,
    )


def ask_with_tools(
    prompt: str | list[dict[str, Any]],
    tools: Iterable[Tool] | ToolRegistry,
    *,
    allow: Iterable[str] | None = None,
    approve: Callable[[ToolRequest], bool] | None = None,
    max_rounds: int = 4,
    parallel: bool = True,
    tool_choice: Any = "auto",
    model: str | None = None,
    system: str | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    api: Literal["responses", "chat"] | None = None,
    client: Any = None,
    profile: str | None = None,
    **extra: Any,
) -> ToolAnswer:
    """Ask with tools. Only the tools in `allow` (default: all given) are offered and may run; a
    call to any other name is refused and reported to the model as an error. `tool_choice`
    applies to the first round (later rounds use "auto")."""
    from unyo._quality._ask import default_client
    from unyo._quality._flow import run

    if max_rounds < 0:
        raise ConfigError("max_rounds must be 0 or more")
    client = client or default_client(profile)
    return run(
        tools_flow(
            client,
            prompt,
            tools,
            allow=allow,
            approve=approve,
            max_rounds=max_rounds,
            parallel=parallel,
            tool_choice=tool_choice,
            model=model,
            system=system,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            api=api,
            **extra,
        ),
        client,
    )


async def aask_with_tools(
    prompt: str | list[dict[str, Any]],
    tools: Iterable[Tool] | ToolRegistry,
    *,
    allow: Iterable[str] | None = None,
    approve: Callable[[ToolRequest], bool] | None = None,
    max_rounds: int = 4,
    parallel: bool = True,
    tool_choice: Any = "auto",
    model: str | None = None,
    system: str | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    api: Literal["responses", "chat"] | None = None,
    client: Any = None,
    profile: str | None = None,
    **extra: Any,
) -> ToolAnswer:
    """The async twin of `ask_with_tools`, on an AsyncOpenAI. Tools (sync or async functions) and
    the approval hook run in a worker thread, as in the sync loop, with the same timeouts."""
    from unyo._quality._flow import arun, default_async_client

    if max_rounds < 0:
        raise ConfigError("max_rounds must be 0 or more")
    client = client or default_async_client(profile)
    return await arun(
        tools_flow(
            client,
            prompt,
            tools,
            allow=allow,
            approve=approve,
            max_rounds=max_rounds,
            parallel=parallel,
            tool_choice=tool_choice,
            model=model,
            system=system,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            api=api,
            **extra,
        ),
        client,
    )
