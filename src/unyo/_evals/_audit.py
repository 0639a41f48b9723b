"""`unyo eval audit`: do final answers agree with the tool results they were given?

The audit log keeps, for the call that ends a tool loop, its prompt with the tool results in it
(`[function_call_output] {...}` on the Responses API, `[tool] ...` on Chat Completions; masked
under the default content policy) and its output, the final answer. A random sample of such
calls since `--since` goes to the fixed grader with one rubric: the answer must not contradict,
misquote or invent beyond the tool results. A grader failure is an `error` for that call, not an
inconsistency. Eval calls themselves (tag eval:*) are not sampled; with `audit_content = "none"`
there is nothing to check, and the result says so.
"""

from __future__ import annotations

import random
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from unyo._evals._assertions import Unjudged

RUBRIC = (
    "The context holds the results of tool calls an assistant made; the output is the assistant's final "
    "answer to the user. Pass only if every fact, number, name and date the answer states about what the "
    "tools returned agrees with the tool results: no contradiction, no misquoted value, no claim of a "
    "result the tools did not return. Masked values such as [EMAIL] or [PHONE] are not contradictions."
)
TOOL_LINE = re.compile(r"^\[(?:function_call_output|tool)\] ", re.M)
NAME = re.compile(r'"name": "([^"]+)"')  # in the lines that carry the model's tool calls
TAG = "eval:audit"


def _tool_results(prompt: str) -> str:
    return "\n".join(line for line in prompt.splitlines() if TOOL_LINE.match(line))


def candidates(client: Any, since: float | None, tag: str | None) -> list[dict[str, Any]]:
    from unyo._records._audit import query
    from unyo._records._store import store_for

    if client.settings.db_url == "off":
        return []
    records = query(store_for(client.settings), limit=None, status="completed", since=since, tag=tag)
    return [
        r
        for r in records
        if r["prompt"] and r["output"] and TOOL_LINE.search(r["prompt"]) and not (r["tag"] or "").startswith("eval:")
    ]


def audit_check(client: Any, *, since: float | None, sample: int = 50, grader_model: str | None = None,
                tag: str | None = None, seed: int | None = None) -> dict[str, Any]:  # fmt: skip
    from unyo._client._openai import OpenAI
    from unyo._evals._grader import Grader, resolve
    from unyo._evals._run import eval_settings

    found = candidates(client, since, tag)
    chosen = random.Random(seed).sample(found, min(max(sample, 0), len(found)))
    model = resolve(client, {"model": grader_model})
    grader = Grader(OpenAI(settings=eval_settings(client.settings, TAG, None, batch=False)), model, TAG)

    def judge(record: dict[str, Any]) -> dict[str, Any]:
        calls = [line for line in record["prompt"].splitlines() if line.startswith(("[function_call]", "[assistant]"))]
        names = sorted({name for line in calls for name in NAME.findall(line)})
        entry = {"call_id": record["id"], "ts": record["ts"], "tag": record["tag"], "model": record["model"],
                 "tools": names}  # fmt: skip
        try:
            passed, score, reason = grader.grade(RUBRIC, record["output"], _tool_results(record["prompt"]))
        except Unjudged as exc:
            return {**entry, "status": "error", "score": 0.0, "reason": str(exc)}
        return {**entry, "status": "pass" if passed else "fail", "score": score, "reason": reason}

    with ThreadPoolExecutor(8) as pool:
        checked = list(pool.map(judge, chosen))
    return {
        "grader": model,
        "candidates": len(found),
        "checked": checked,
        "consistent": sum(c["status"] == "pass" for c in checked),
        "inconsistent": sum(c["status"] == "fail" for c in checked),
        "errors": sum(c["status"] == "error" for c in checked),
        "content_policy": client.settings.audit_content,
    }
