"""Classification with per-label confidence.

The model answers in strict JSON `{"label": one of the labels, "confidence": 0..1, "reason": ...}`
(`"labels": [...]` when multi-label). Where the provider returns token logprobs, confidence is
measured, not asked for:

    the chosen label        exp(sum of the logprobs of the tokens that spell it)
    every other label       the probability of the alternative first token that starts it
                            (from `top_logprobs` at the label's first token; 0 if not in the top k)

Without logprobs (the local model, providers that omit them) the model's own `confidence` is
reported, marked `source="self_reported"` — it is much less reliable; treat it as a hint.

`via="embeddings"` (and `via="auto"` on the local profile) classifies without an LLM: see
`_embed_classify`; its confidence is `source="loo_calibrated"` (leave-one-out on the examples).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from unyo._types._call import total_cost
from unyo._types._errors import ConfigError
from unyo._types._money_text import money_text

TOP_LOGPROBS = 5


@dataclass
class Classification:
    label: str | None  # the chosen label (None in multi-label mode)
    labels: list[str]  # the chosen labels (one in single-label mode)
    confidence: float | None  # of `label`, or the lowest among `labels`
    scores: dict[str, float]  # per-label probability (logprobs) or the self-reported one for the chosen
    reason: str
    source: Literal["logprobs", "self_reported", "loo_calibrated", "uncalibrated"]
    calls: list[Any] = field(default_factory=list)
    method: str = "llm"  # or "embeddings:MODEL"
    truncated: bool = False  # the text passed the embedding model's window: its start was used

    @property
    def cost_usd(self) -> Decimal | None:
        return total_cost(self.calls)

    def fields(self) -> dict[str, Any]:
        """The classification itself (what a task writes to its output row)."""
        return {"label": self.label, "labels": self.labels, "confidence": self.confidence, "scores": self.scores,
                "reason": self.reason, "confidence_source": self.source, "method": self.method,
                **({"truncated": True} if self.truncated else {})}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        cost = self.cost_usd
        return {
            **self.fields(),
            "calls": [c.to_dict() for c in self.calls],
            "cost_usd": money_text(cost),
        }


def schema(labels: list[str], multi_label: bool, reason_chars: int = 200) -> dict[str, Any]:
    choice = {"type": "string", "enum": labels}
    first = (
        {"labels": {"type": "array", "items": choice, "minItems": 1, "maxItems": len(labels)}}
        if multi_label
        else {"label": choice}
    )
    props = {
        **first,
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "reason": {"type": "string", "maxLength": reason_chars},
    }
    return {
        "type": "object",
        "title": "classification",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def token_logprobs(response: Any) -> list[dict[str, Any]] | None:
    """[{token, logprob, top_logprobs: [{token, logprob}]}] from either API's response, or None."""
    raw: Any = None
    if getattr(response, "choices", None):
        lp = response.choices[0].logprobs
        raw = lp.content if lp is not None else None
    else:
        for item in getattr(response, "output", None) or []:
            for part in getattr(item, "content", None) or []:
                if getattr(part, "logprobs", None):
                    raw = part.logprobs
    if not raw:
        return None
    return [
        {
            "token": t.token,
            "logprob": t.logprob,
            "top_logprobs": [{"token": a.token, "logprob": a.logprob} for a in (t.top_logprobs or [])],
        }
        for t in raw
    ]


def _spans(tokens: list[dict[str, Any]]) -> list[tuple[int, int]]:
    spans, at = [], 0
    for t in tokens:
        spans.append((at, at + len(t["token"])))
        at += len(t["token"])
    return spans


def value_scores(
    text: str, tokens: list[dict[str, Any]], start: int, value: str, labels: list[str]
) -> dict[str, float]:
    """Per-label probability for the string value `value` found at character `start` of `text`."""
    spans = _spans(tokens)
    if "".join(t["token"] for t in tokens) != text:
        return {}
    end = start + len(value)
    covering = [i for i, (a, b) in enumerate(spans) if a < end and b > start]
    if not covering:
        return {}
    chosen = math.exp(sum(tokens[i]["logprob"] for i in covering))
    scores = {label: 0.0 for label in labels}
    first = covering[0]
    offset = start - spans[first][0]
    prefix = tokens[first]["token"][:offset]
    for alt in tokens[first]["top_logprobs"]:
        if not alt["token"].startswith(prefix):
            continue
        piece = alt["token"][offset:].split('"')[0]
        if not piece:
            continue
        matches = [
            label
            for label in labels
            if label.startswith(piece)
            or (piece.startswith(label) and alt["token"][offset + len(label) :][:1] in ('"', ""))
        ]
        for label in matches:
            scores[label] = max(scores[label], math.exp(alt["logprob"]) / len(matches))
    scores[value] = chosen
    return scores


def _value_start(text: str, value: str, after: int) -> int | None:
    """Where the characters of the JSON string `value` start, searching from `after`."""
    at = text.find(json.dumps(value, ensure_ascii=False), after)
    return at + 1 if at >= 0 else None


def logprob_params(client: Any, api: str) -> dict[str, Any]:
    """The request options asking for token logprobs, where they are known to work: OpenAI itself.
    (Compatible endpoints differ; llama.cpp returns them only for models loaded with
    `logits_all`, which slows every call.)"""
    if not client.settings.profile.logprobs:
        return {}
    if api == "chat":
        return {"logprobs": True, "top_logprobs": TOP_LOGPROBS}
    return {"include": ["message.output_text.logprobs"], "top_logprobs": TOP_LOGPROBS}


def field_scores(parsed: Any, key: str, chosen: list[str], labels: list[str]) -> dict[str, float]:
    """Per-label probabilities for the chosen string value(s) of `key` in a structured answer
    (a Parsed), measured from its logprobs; {} when there are none."""
    tokens = token_logprobs(parsed.response)
    if not tokens:
        return {}
    raw = parsed.text
    after = max(raw.find(f'"{key}"'), 0)
    scores: dict[str, float] = {}
    for value in chosen:
        start = _value_start(raw, value, after)
        if start is None:
            return {}
        for label, p in value_scores(raw, tokens, start, value, labels).items():
            scores[label] = p if label in chosen else max(scores.get(label, 0.0), p)
        after = start
    return scores


def classify_flow(
    client: Any,
    text: str,
    labels: list[str] | dict[str, str],
    *,
    instructions: str | None = None,
    multi_label: bool = False,
    model: str | None = None,
    api: str | None = None,
    max_output_tokens: int = 200,
    **extra: Any,
) -> Any:
    """classify's body, for either client (a flow: see `_flow`)."""
    from unyo._quality._ask import _api_for
    from unyo._quality._structured import structured_flow

    names = _check_labels(labels)
    which = _api_for(client, api)
    listing = "\n".join(f"- {n}: {labels[n]}" if isinstance(labels, dict) else f"- {n}" for n in names)
    system = (
        f"{instructions or 'Classify the text.'}\nLabels:\n{listing}\n"
        "Answer in JSON; confidence is your probability (0-1) that the label is right."
    )
    parsed = yield from structured_flow(
        client,
        text,
        schema(names, multi_label),
        system=system,
        model=model,
        api=which,
        max_output_tokens=max_output_tokens,
        temperature=extra.pop("temperature", 0),
        **logprob_params(client, which),
        **extra,
    )
    data = parsed.parsed
    chosen = list(data["labels"]) if multi_label else [data["label"]]
    scores = field_scores(parsed, "labels" if multi_label else "label", chosen, names)
    source: Literal["logprobs", "self_reported"] = "logprobs" if scores else "self_reported"
    if not scores:
        scores = {value: float(data["confidence"]) for value in chosen}
    confidence = min(scores[v] for v in chosen)
    return Classification(
        None if multi_label else chosen[0],
        chosen,
        round(confidence, 6),
        {k: round(v, 6) for k, v in scores.items()},
        str(data.get("reason", "")),
        source,
        parsed.calls,
    )


def any_classify_flow(
    client: Any,
    text: str,
    labels: Any,
    *,
    via: str | None = "auto",
    embedding_model: str | None = None,
    multi_label: bool = False,
    tag: str | None = None,
    **llm_options: Any,
) -> Any:
    """classify by the LLM or by embeddings, as `via` and the profile say (a flow)."""
    from unyo._quality._embed_classify import embedding_classify_flow, resolve_via
    from unyo._quality._labels import label_set

    found = label_set(labels)
    if resolve_via(client, via) == "embeddings":
        if multi_label:
            raise ConfigError("multi_label needs via='llm': embeddings choose one label")
        results = yield from embedding_classify_flow(client, [text], found, embedding_model=embedding_model, tag=tag)
        return results[0]
    names: Any = found.descriptions() if any(x.description or x.examples for x in found.labels) else found.names
    extra = {"unyo_tag": tag, **llm_options} if tag else llm_options
    return (yield from classify_flow(client, text, names, multi_label=multi_label, **extra))


def _check_labels(labels: list[str] | dict[str, str]) -> list[str]:
    names = list(labels)
    if len(names) < 2 or len(set(names)) != len(names):
        raise ConfigError("classify needs at least two distinct labels")
    return names


def classify(
    text: str,
    labels: Any,
    *,
    instructions: str | None = None,
    multi_label: bool = False,
    model: str | None = None,
    api: Literal["responses", "chat"] | None = None,
    max_output_tokens: int = 200,
    client: Any = None,
    profile: str | None = None,
    via: Literal["auto", "llm", "embeddings"] = "auto",
    embedding_model: str | None = None,
    **extra: Any,
) -> Classification:
    """Classify `text` into `labels`: names, {label: definition}, a LabelSet or a labels file
    (descriptions and examples). `via="llm"` asks the model (logprobs requested; see the module
    docstring); `via="embeddings"` takes the nearest label by embeddings, no LLM call (free on
    the bundled model; `embedding_model=` for a provider's, priced); "auto" is the profile's
    choice (embeddings on the local profile)."""
    from unyo._quality._ask import default_client
    from unyo._quality._flow import run
    from unyo._quality._labels import label_set

    label_set(labels)
    client = client or default_client(profile)
    return run(
        any_classify_flow(
            client,
            text,
            labels,
            via=via,
            embedding_model=embedding_model,
            instructions=instructions,
            multi_label=multi_label,
            model=model,
            api=api,
            max_output_tokens=max_output_tokens,
            **extra,
        ),
        client,
    )


async def aclassify(
    text: str,
    labels: Any,
    *,
    instructions: str | None = None,
    multi_label: bool = False,
    model: str | None = None,
    api: Literal["responses", "chat"] | None = None,
    max_output_tokens: int = 200,
    client: Any = None,
    profile: str | None = None,
    via: Literal["auto", "llm", "embeddings"] = "auto",
    embedding_model: str | None = None,
    **extra: Any,
) -> Classification:
    """The async twin of `classify`, on an AsyncOpenAI."""
    from unyo._quality._flow import arun, default_async_client
    from unyo._quality._labels import label_set

    label_set(labels)
    client = client or default_async_client(profile)
    return await arun(
        any_classify_flow(
            client,
            text,
            labels,
            via=via,
            embedding_model=embedding_model,
            instructions=instructions,
            multi_label=multi_label,
            model=model,
            api=api,
            max_output_tokens=max_output_tokens,
            **extra,
        ),
        client,
    )
