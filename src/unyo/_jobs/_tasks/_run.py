"""Running a task on one input: render the templates, ask for the task's schema, validate, then
the task's own checks (needs_human for triage, forbidden claims for draft, map -> reduce for
summarize, logprob confidence for classify). Every call is priced, budgeted and audited under the
tag `task:NAME` unless the caller gives another.

Each task is a flow (`unyo._quality._flow`): `run_task` drives it with OpenAI, `arun_task` awaits
it with AsyncOpenAI."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from unyo._jobs._tasks._spec import Task
from unyo._types._call import CallInfo, total_cost
from unyo._types._errors import ConfigError, NotBatchable, UsageError
from unyo._types._messages import Message
from unyo._types._money_text import money_text


@dataclass
class TaskResult:
    task: str
    output: dict[str, Any]
    calls: list[CallInfo] = field(default_factory=list)

    @property
    def cost_usd(self) -> Decimal | None:
        return total_cost(self.calls)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "output": self.output,
            "calls": len(self.calls),
            "cost_usd": money_text(self.cost_usd),
            "models": sorted({c.model for c in self.calls}),
            "call_ids": [c.call_id for c in self.calls],
        }


def _structured(
    task: Task,
    client: Any,
    text: str,
    schema: Any,
    options: dict[str, Any],
    system: str | None = None,
    user: str | None = None,
) -> Any:
    from unyo._quality._ask import _api_for
    from unyo._quality._classify import logprob_params
    from unyo._quality._structured import structured_flow

    rendered_system, rendered_user = task.render(text)
    api = _api_for(client, options.pop("api", None))
    extra = logprob_params(client, api) if task.confidence_field else {}
    return (
        yield from structured_flow(
            client,
            user or rendered_user,
            schema,
            system=system or rendered_system,
            api=api,
            model=options.pop("model", None) or task.model_for(client.settings),
            max_output_tokens=options.pop("max_output_tokens", None) or task.max_output_tokens,
            temperature=options.pop("temperature", 0),
            **extra,
            **options,
        )
    )


def _by_embeddings(task: Task, client: Any, text: str, options: dict[str, Any]) -> Any:
    """(output, calls) with the label fields by embeddings and the rest by one LLM call."""
    from unyo._jobs._tasks._embed_fields import decide_flow, decided_note, rest_schema, task_labels, with_labels
    from unyo._quality._flow import Blocking

    labels = yield Blocking(task_labels, task, io=False)
    task = with_labels(task, labels)
    decided = yield from decide_flow(task, client, text, labels, options.get("unyo_tag"))
    rest = rest_schema(task.output_schema(), [*decided.values, "confidence"])
    out, calls = dict(decided.values), list(decided.calls)
    methods = dict(decided.methods)
    if rest is not None:
        _, user = task.render(text)
        parsed = yield from _structured(task, client, text, rest, options, user=user + decided_note(decided.values))
        out.update(parsed.parsed)
        calls += parsed.calls
        methods.update({k: "llm" for k in parsed.parsed})
    out["confidence"] = round(decided.confidence, 4)
    out["confidence_source"] = decided.confidence_source
    methods["confidence"] = f"{decided.confidence_source}:{next(iter(decided.methods.values()))}"
    out["methods"] = methods
    if decided.truncated:
        out["truncated"] = "the text passed the embedding model's window: its start was classified"
    return out, calls


def triage(task: Task, client: Any, text: str, options: dict[str, Any]) -> Any:
    from unyo._jobs._tasks._embed_fields import uses_embeddings

    if uses_embeddings(task, client):
        out, calls = yield from _by_embeddings(task, client, text, options)
    else:
        out, calls = yield from _triage_by_llm(task, client, text, options)
    reasons = []
    threshold = float(task.options.get("confidence_threshold", 0.6))
    if out["confidence"] < threshold:
        reasons.append(f"confidence {out['confidence']:.2f} < {threshold}")
    folded = unicodedata.normalize("NFKC", text).lower()
    hits = [w for w in task.options.get("sensitive", []) if unicodedata.normalize("NFKC", w).lower() in folded]
    if hits:
        reasons.append("sensitive: " + ", ".join(hits))
    out["needs_human"] = bool(reasons)
    out["needs_human_reason"] = "; ".join(reasons)
    return TaskResult(task.name, out, calls)


def _triage_by_llm(task: Task, client: Any, text: str, options: dict[str, Any]) -> Any:
    parsed = yield from _structured(task, client, text, task.output_schema(), options)
    out = dict(parsed.parsed)
    from unyo._quality._classify import field_scores

    key = task.confidence_field or "category"
    measured = (
        field_scores(parsed, key, [out[key]], list(task.options.get("labels", []))).get(out[key])
        if isinstance(out.get(key), str)
        else None
    )
    out["confidence"] = round(measured if measured is not None else float(out.get("confidence", 0)), 4)
    out["confidence_source"] = "logprobs" if measured is not None else "self_reported"
    out["methods"] = {**{k: "llm" for k in parsed.parsed}, "confidence": f"{out['confidence_source']}:llm"}
    return out, parsed.calls


NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def draft_violations(task: Task, facts: str, draft: dict[str, Any]) -> list[str]:
    """Forbidden phrases, and numbers the facts do not contain (NFKC: full-width digits count)."""
    body = unicodedata.normalize("NFKC", f"{draft.get('subject', '')}\n{draft.get('body', '')}")
    known = unicodedata.normalize("NFKC", facts)
    problems = [
        f"forbidden claim {w!r}"
        for w in task.options.get("forbidden", [])
        if unicodedata.normalize("NFKC", w).lower() in body.lower()
    ]
    if task.options.get("check_numbers", True):
        known_numbers = {n.replace(",", "") for n in NUMBER.findall(known)}
        problems += [
            f"number {n} is not in the facts"
            for n in dict.fromkeys(NUMBER.findall(body))
            if n.replace(",", "") not in known_numbers
        ]
    return problems


def draft(task: Task, client: Any, text: str, options: dict[str, Any]) -> Any:
    schema = task.output_schema()
    parsed = yield from _structured(task, client, text, schema, dict(options))
    calls = list(parsed.calls)
    problems = draft_violations(task, text, parsed.parsed)
    if problems:  # one bounded repair with only the problems, then report what is left
        _, user = task.render(text)
        fix = (
            f"{user}\n\nYour previous draft:\n{parsed.text}\n\n"
            f"Rewrite it without these problems: {'; '.join(problems)}."
        )
        try:
            parsed = yield from _structured(task, client, text, schema, dict(options), user=fix)
        except NotBatchable:
            pass  # a provider batch answers one request: the draft keeps its problems, flagged for a human
        else:
            calls += parsed.calls
            problems = draft_violations(task, text, parsed.parsed)
    out = {**parsed.parsed, "violations": problems, "needs_human": bool(problems)}
    return TaskResult(task.name, out, calls)


def summary_parts(task: Task, client: Any, text: str, options: dict[str, Any]) -> list[str]:
    """The parts summarize maps over: the text split on structure into `part_tokens` pieces."""
    from unyo._core._steps import model_counter
    from unyo._jobs._tasks._split import split
    from unyo._providers._catalog import model_info

    model_id, _ = client.settings.profile.resolve_model(str(options.get("model") or task.model_for(client.settings)))
    counter = model_counter(client.settings, model_info(model_id, client.settings.models))
    return split(text, int(task.options.get("part_tokens", 1500)), counter.count_text)


def planned_calls(task: Task, client: Any, text: str, schema: Any = None, options: dict[str, Any] | None = None) -> int:
    """How many calls the task makes for `text` when nothing needs a repair (map-reduce: parts + 1)."""
    if task.name == "summarize" and schema is None:
        parts = len(summary_parts(task, client, text, options or {}))
        return parts + 1 if parts > 1 else 1
    if task.answers_from_kb and schema is None and task.options.get("rerank"):
        return 2  # the rerank call, then the answer
    return 1


def summarize(task: Task, client: Any, text: str, options: dict[str, Any]) -> Any:
    from unyo._quality._flow import Blocking

    max_chars = int(task.options.get("max_chars", 600))
    final_schema = json.loads(json.dumps(task.output_schema()))
    final_schema["properties"]["summary"]["maxLength"] = max_chars
    parts = yield Blocking(summary_parts, task, client, text, options, io=False)  # may load a BPE table: not on a loop
    if not parts:
        raise ConfigError(Message("task.summarise_empty"))
    calls: list[CallInfo] = []
    if len(parts) == 1:
        parsed = yield from _structured(task, client, parts[0], final_schema, dict(options))
        return TaskResult(task.name, {"summary": parsed.parsed["summary"], "parts_used": [1], "parts": 1}, parsed.calls)
    notes = []
    for i, part in enumerate(parts, 1):  # map: each part alone
        parsed = yield from _structured(
            task, client, f"[Part {i} of {len(parts)}]\n{part}", task.output_schema(), dict(options)
        )
        calls += parsed.calls
        notes.append((i, parsed.parsed["summary"]))
    merged = "\n\n".join(f"[Part {i}] {s}" for i, s in notes)
    instruction = ("Merge these summaries of the numbered parts of one document into one summary. "
                   "In parts_used list the part numbers whose content your summary includes.\n\n")  # fmt: skip
    parsed = yield from _structured(
        task, client, merged, final_schema, dict(options), user=instruction + merged
    )  # reduce
    calls += parsed.calls
    used = sorted({int(p) for p in parsed.parsed.get("parts_used", []) if isinstance(p, int) and 1 <= p <= len(parts)})
    return TaskResult(
        task.name,
        {
            "summary": parsed.parsed["summary"],
            "parts_used": used or list(range(1, len(parts) + 1)),
            "parts": len(parts),
        },
        calls,
    )


def classify(task: Task, client: Any, text: str, options: dict[str, Any]) -> Any:
    from unyo._jobs._tasks._embed_fields import task_labels
    from unyo._quality._classify import any_classify_flow
    from unyo._quality._flow import Blocking

    labels = yield Blocking(task_labels, task, io=False)
    result = yield from any_classify_flow(
        client,
        text,
        labels,
        via=str(task.options.get("via") or "auto"),
        embedding_model=str(task.options.get("embedding_model") or "") or None,
        tag=options.pop("unyo_tag", None),
        instructions=str(task.options.get("instructions") or ""),
        multi_label=bool(task.options.get("multi_label")),
        model=options.pop("model", None) or task.model_for(client.settings),
        max_output_tokens=task.max_output_tokens,
        **options,
    )
    return TaskResult(task.name, result.fields(), result.calls)


def generic(task: Task, client: Any, text: str, options: dict[str, Any], schema: Any = None) -> Any:
    from unyo._jobs._tasks._embed_fields import uses_embeddings

    if schema is None and uses_embeddings(task, client):  # a user's task with embedding_fields
        out, calls = yield from _by_embeddings(task, client, text, options)
        return TaskResult(task.name, out, calls)
    use = schema if schema is not None else task.output_schema()
    if use is None:
        raise UsageError(Message("schema.needed" if task.needs_schema else "schema.task_has_none", task=task.name))
    parsed = yield from _structured(task, client, text, use, options)
    value = parsed.parsed.model_dump(mode="json") if hasattr(parsed.parsed, "model_dump") else parsed.parsed
    return TaskResult(task.name, value, parsed.calls)


ANSWER_CALL_OPTIONS = ("model", "api", "max_output_tokens", "temperature")


def answer(task: Task, client: Any, text: str, options: dict[str, Any]) -> Any:
    """A question answered from the knowledge base `kb` (see `unyo._knowledge._answer`): the
    answer, whether it is a refusal, and the checked citations (source, page, heading, snippet)."""
    from unyo._knowledge._answer import answer_flow

    result = yield from answer_flow(
        client,
        text.strip(),
        kb=str(task.options.get("kb") or "default"),
        k=int(task.options.get("k", 4)),
        index=None,
        model=options.get("model") or task.model_for(client.settings),
        max_output_tokens=options.get("max_output_tokens") or task.max_output_tokens,
        temperature=options.get("temperature"),
        api=options.get("api"),
        threshold=None,
        rerank=bool(task.options.get("rerank", False)),
        extra={k: v for k, v in options.items() if k not in ANSWER_CALL_OPTIONS},
    )
    citations = [
        {"n": c.n, "source": c.source, "page": c.page, "heading": c.heading, "snippet": c.snippet}
        | ({"place": c.place} if c.place else {})
        for c in result.citations
    ]
    out = {"answer": result.text, "refused": result.refused, "refusal_reason": result.reason, "citations": citations}
    return TaskResult(task.name, out, result.calls)


SPECIAL = {"triage": triage, "draft": draft, "summarize": summarize, "classify": classify}


def task_flow(
    task: Task | str,
    text: str,
    client: Any,
    *,
    schema: Any = None,
    options: dict[str, Any] | None = None,
    user: str | None = None,
    tag: str | None = None,
    **call_options: Any,
) -> Any:
    """run_task's body, for either client (a flow: see `unyo._quality._flow`)."""
    from unyo._jobs._tasks._spec import find
    from unyo._quality._flow import Blocking

    if isinstance(task, str):
        task = yield Blocking(find, task, client.settings.home, io=False)  # reads the task's files
    if options:
        task = task.with_options(options)
    if not text or not text.strip():
        raise ConfigError(Message("task.input_empty"))
    call_options = {"unyo_tag": tag or f"task:{task.name}", **({"unyo_user": user} if user else {}), **call_options}
    special = answer if task.answers_from_kb else SPECIAL.get(task.name)  # a user's copy of a built-in keeps its checks
    if special is not None and schema is None:
        return (yield from special(task, client, text, call_options))
    return (yield from generic(task, client, text, call_options, schema))


def run_task(
    task: Task | str,
    text: str,
    *,
    client: Any = None,
    profile: str | None = None,
    schema: Any = None,
    options: dict[str, Any] | None = None,
    user: str | None = None,
    tag: str | None = None,
    **call_options: Any,
) -> TaskResult:
    """Run `task` (a Task or a name) on `text`. `options` override the task's [options];
    `call_options` (model, api, max_output_tokens, temperature, ...) go to the calls."""
    from unyo._quality._ask import default_client
    from unyo._quality._flow import run

    client = client or default_client(profile)
    return run(
        task_flow(task, text, client, schema=schema, options=options, user=user, tag=tag, **call_options), client
    )  # type: ignore[no-any-return]


async def arun_task(
    task: Task | str,
    text: str,
    *,
    client: Any = None,
    profile: str | None = None,
    schema: Any = None,
    options: dict[str, Any] | None = None,
    user: str | None = None,
    tag: str | None = None,
    **call_options: Any,
) -> TaskResult:
    """The async twin of `run_task`, on an AsyncOpenAI."""
    from unyo._quality._flow import arun, default_async_client

    client = client or default_async_client(profile)
    return await arun(
        task_flow(task, text, client, schema=schema, options=options, user=user, tag=tag, **call_options), client
    )  # type: ignore[no-any-return]
