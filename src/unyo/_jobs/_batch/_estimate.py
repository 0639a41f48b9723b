"""What running a task over rows will cost, before anything is sent (`--dry-run`, and the
`--max-cost` check before each row).

Input tokens are counted exactly as the request will be built (instructions, the rendered row,
the output schema). Expected output is the task's `typical_output_tokens`; the worst case is its
output cap, one call per row (structured-output repairs can add up to two calls for a row; the
budget layer still caps each of those before it is sent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from unyo._types._call import Usage
from unyo._types._money_text import money_text


@dataclass
class Estimate:
    rows: int
    model: str
    input_tokens: int
    expected_usd: Decimal | None  # None: the model has no price
    worst_usd: Decimal | None

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "model": self.model, "input_tokens": self.input_tokens,
                "expected_usd": money_text(self.expected_usd),
                "worst_usd": money_text(self.worst_usd)}  # fmt: skip


def estimate_rows(
    task: Any,
    client: Any,
    texts: list[str],
    schema: Any = None,
    model: str | None = None,
    price_factor: Decimal | None = None,
) -> Estimate:
    """`model` (an id or role) overrides the task's role, as `unyo run -m` does; `price_factor`
    scales list prices (a provider's Batch API discount)."""
    from unyo._core._steps import model_counter
    from unyo._providers._catalog import model_info
    from unyo._quality._structured import json_schema_of

    settings = client.settings
    model_id, _ = settings.profile.resolve_model(model or task.model_for(settings))
    info = model_info(model_id, settings.models)
    price = settings.profile.price(info)
    if price is not None and price_factor is not None:
        price = price.scaled(price_factor)
    counter = model_counter(settings, info)
    shape = schema if schema is not None else task.output_schema()
    schema_tokens = (
        counter.count_text(json.dumps(json_schema_of(shape), ensure_ascii=False)) if shape is not None else 0
    )
    per_call_factor = 2 if task.name == "summarize" else 1  # map + reduce reads the text about twice
    if task.answers_from_kb and task.options.get("rerank"):
        per_call_factor = 2  # the rerank prompt (8 shorter passages) is about as long as the answer's
    total_in = 0
    for text in texts:
        system, user = _rendered(task, text)
        total_in += (
            counter.count_messages([{"role": "system", "content": system}, {"role": "user", "content": user}])
            + schema_tokens
        ) * per_call_factor
    if price is None:
        return Estimate(len(texts), model_id, total_in, None, None)
    expected = price.cost(Usage(total_in, 0, task.typical_output_tokens * len(texts)))
    worst = price.cost(Usage(total_in, 0, task.max_output_tokens * len(texts) * per_call_factor))
    return Estimate(len(texts), model_id, total_in, expected, worst)


def _rendered(task: Any, text: str) -> tuple[str, str]:
    """The instructions and user message of one row: the answer task's carry the passages retrieved for it."""
    if task.answers_from_kb:
        from unyo._knowledge._answer import estimate_prompt

        return estimate_prompt(str(task.options.get("kb") or "default"), text.strip(), int(task.options.get("k", 4)))
    return task.render(text)  # type: ignore[no-any-return]


def row_estimate(task: Any, client: Any, text: str, schema: Any = None, model: str | None = None) -> Estimate:
    return estimate_rows(task, client, [text], schema, model)
