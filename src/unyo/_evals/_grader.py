"""The `llm-rubric` grader: one fixed model (the suite's `grader.model`, else the profile's main
role, resolved to a model id once per run and named in the report) reads the rubric and the
output and answers {pass, score, reason} as validated JSON, at temperature 0.

Its calls go through the guarded client like every other (budget, ledger tagged `eval:<suite>`,
audit) and through the response cache, so re-grading an unchanged output costs nothing. When
the grader fails (an API error after retries, output that never validates) the assertion is
`Unjudged`: its case is an `error`, not a `fail`, and the run goes on.
"""

from __future__ import annotations

import json
from typing import Any

from unyo._evals._assertions import Unjudged
from unyo._types._errors import UnyoError

SCHEMA = {
    "type": "object",
    "properties": {
        "pass": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "reason": {"type": "string", "maxLength": 300},
    },
    "required": ["pass", "score", "reason"],
    "additionalProperties": False,
}
SYSTEM = (
    "You grade the output of an AI system against a rubric. Judge only what the rubric asks. "
    "Answer in JSON: pass (true when the output meets the rubric), score (0 to 1: how well it meets it) "
    "and reason (one short sentence)."
)
MAX_OUTPUT_TOKENS = 300


class Grader:
    def __init__(self, client: Any, model: str, tag: str) -> None:
        self.client, self.model, self.tag = client, model, tag

    def prompt(self, rubric: str, output: str, context: str = "") -> str:
        extra = f"\n\nContext:\n<<<\n{context}\n>>>" if context else ""
        return f"Rubric:\n{rubric}{extra}\n\nOutput to grade:\n<<<\n{output}\n>>>"

    def grade(self, rubric: str, output: str, context: str = "") -> tuple[bool, float, str]:
        from unyo._quality._structured import ask_structured

        try:
            parsed = ask_structured(
                self.prompt(rubric, output, context),
                SCHEMA,
                system=SYSTEM,
                model=self.model,
                temperature=0,
                max_output_tokens=MAX_OUTPUT_TOKENS,
                max_repairs=1,
                client=self.client,
                unyo_tag=self.tag,
            )
        except UnyoError as exc:
            raise Unjudged(f"grader {self.model} failed: {type(exc).__name__}: {str(exc)[:200]}") from None
        verdict = parsed.parsed
        return bool(verdict["pass"]), float(verdict["score"]), f"grader {self.model}: {verdict['reason']}"


def resolve(client: Any, suite_grader: dict[str, Any]) -> str:
    """The grader's model id, fixed for the run (a role is resolved now, not per call)."""
    model_id, _ = client.settings.profile.resolve_model(str(suite_grader.get("model") or "main"))
    return str(model_id)


def context_of(values: dict[str, Any]) -> str:
    return json.dumps(values, ensure_ascii=False, default=str)[:4000] if values else ""
