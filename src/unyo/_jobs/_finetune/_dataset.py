"""Check a chat fine-tuning dataset (JSONL) the way the provider will, and further, before any upload.

Errors (the provider rejects the file or the example, or trains on something else than meant):
    json          a line that is not JSON (or not UTF-8), or not an object
    structure     no `messages` list; a message that is not an object; an unknown key
    role          an unknown role; the first turn after system/developer is not the user's;
                  no assistant message to learn from
    content       content that is not text, text parts, or null (null only beside tool_calls)
    empty         an assistant turn with no text and no tool call
    weight        `weight` other than 0 or 1, or on a non-assistant message
    tools         a malformed tool call (id, type "function", name, arguments as a JSON string),
                  a call to a function the example's `tools` do not declare, a tool message
                  answering no earlier call, a malformed `tools` entry
    too_long      an example over the model's training limit (the provider truncates it)
    too_few       fewer than MIN_EXAMPLES examples
Warnings:
    duplicate     an example identical to an earlier one
    pii           personal data or secrets the audit masker finds (kinds only, never the text)
    ends_with     an example whose last message is not the assistant's
    overlap       (validation file) an example also in the training file
    unknown_model no training price or example limit known for the model

Tokens are counted with the model's tokenizer (`_providers._tokens`), tool definitions and calls
included; the cost estimate is tokens x epochs x the training price (`_providers._fine_tuning`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from unyo._providers._fine_tuning import auto_epochs, max_example_tokens, training_cost, training_price
from unyo._providers._training_tokens import flat_messages

MIN_EXAMPLES = 10  # the provider's minimum
MAX_FILE_BYTES = 512 * 1024 * 1024  # the provider's limit on a fine-tuning file
ROLES = ("system", "developer", "user", "assistant", "tool")
MESSAGE_KEYS = {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "refusal"}
TOP_KEYS = {"messages", "tools", "parallel_tool_calls"}
PART_TYPES = ("text", "image_url")
MAX_FINDINGS_PER_CODE = 50  # a file broken on every line is reported by its first 50 lines, then counted


@dataclass
class Finding:
    line: int | None  # 1-based line number in the file; None: the whole file
    level: Literal["error", "warning"]
    code: str
    message: str

    def __str__(self) -> str:
        return f"{f'line {self.line}' if self.line else 'file'}: {self.level}: {self.message} [{self.code}]"


@dataclass
class DatasetReport:
    """What `validate` found, and what training on the file will cost."""

    path: str
    model: str
    examples: int = 0
    tokens: int = 0  # per epoch: every example's tokens, as the provider bills them
    longest: int = 0  # the longest example's tokens
    epochs: int = 0
    epochs_auto: bool = False  # chosen by the provider's "auto" rule
    training_price: Decimal | None = None  # USD per 1M trained tokens; None: unknown
    findings: list[Finding] = field(default_factory=list)
    suppressed: int = 0  # findings past MAX_FINDINGS_PER_CODE, counted only
    hashes: dict[str, int] = field(default_factory=dict, repr=False)  # example hash -> its first line

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def trained_tokens(self) -> int:
        return self.tokens * self.epochs

    @property
    def estimate_usd(self) -> Decimal | None:
        return None if self.training_price is None else training_cost(self.trained_tokens, self.training_price)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "model": self.model,
            "ok": self.ok,
            "examples": self.examples,
            "tokens_per_epoch": self.tokens,
            "longest_example_tokens": self.longest,
            "epochs": self.epochs,
            "epochs_auto": self.epochs_auto,
            "trained_tokens": self.trained_tokens,
            "training_price_per_1m": None if self.training_price is None else str(self.training_price),
            "estimated_cost_usd": None if self.estimate_usd is None else str(self.estimate_usd),
            "errors": [vars(f) for f in self.errors],
            "warnings": [vars(f) for f in self.warnings],
            "suppressed_findings": self.suppressed,
        }


def validate(
    path: str | Path,
    model: str = "gpt-4.1-mini",
    epochs: int | None = None,
    settings: Any = None,
    training: DatasetReport | None = None,
) -> DatasetReport:
    """Check `path` for fine-tuning `model` over `epochs` (None: the provider's auto choice).
    With `training` (that file's report), `path` is the validation file: overlap is warned."""
    from unyo._core._config import load_settings
    from unyo._providers._catalog import model_info
    from unyo._providers._tokens import bpe_counter

    settings = settings or load_settings()
    tokenizer = model_info(model, settings.models).tokenizer  # the provider's, whichever profile is active
    counter = bpe_counter(tokenizer if tokenizer.lstrip("~") in ("o200k_base", "cl100k_base") else "o200k_base")
    limit = max_example_tokens(model, settings.models)
    report = DatasetReport(str(path), model, training_price=training_price(model, settings.models))
    data = _read_dataset(Path(path))
    for number, raw in enumerate(data.splitlines(), 1):
        if raw.strip():
            _check_line(report, number, raw[3:] if number == 1 and raw.startswith(b"\xef\xbb\xbf") else raw,
                        counter, limit, training)  # fmt: skip
    if training is None and report.training_price is None and limit is None:
        _add(report, None, "warning", "unknown_model",
             f"unyo knows no fine-tuning facts for {model!r} (no training price, no example limit): the cost is "
             f'not estimated and long examples are not caught; add [models."{model}"] training = "..." and '
             "max_example_tokens = N to unyo.toml")  # fmt: skip
    if training is None and report.examples < MIN_EXAMPLES:
        _add(
            report, None, "error", "too_few", f"{report.examples} examples; the provider needs at least {MIN_EXAMPLES}"
        )
    report.epochs_auto = epochs is None
    report.epochs = auto_epochs(report.examples) if epochs is None else epochs
    return report


def _read_dataset(path: Path) -> bytes:
    """The file's bytes: a regular file (not /dev/zero or a pipe) within the provider's size limit."""
    import stat

    from unyo._types._errors import BadInput

    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise BadInput(f"{path}: not a regular file (a device, pipe or socket); give the JSONL dataset")
        if info.st_size > MAX_FILE_BYTES:
            raise BadInput(
                f"{path}: {info.st_size / 2**20:.0f} MiB; the provider takes at most {MAX_FILE_BYTES >> 20} MiB"
            )
        return path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the dataset: {exc.strerror}") from None


def _add(report: DatasetReport, line: int | None, level: Literal["error", "warning"], code: str, message: str) -> None:
    if sum(1 for f in report.findings if f.code == code) >= MAX_FINDINGS_PER_CODE:
        report.suppressed += 1
        return
    report.findings.append(Finding(line, level, code, message))


def _check_line(
    report: DatasetReport, number: int, raw: bytes, counter: Any, limit: int | None, training: DatasetReport | None
) -> None:
    try:
        example = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return _add(report, number, "error", "json", f"not UTF-8 (byte {exc.start})")
    except json.JSONDecodeError as exc:
        return _add(report, number, "error", "json", f"not JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(example, dict):
        return _add(report, number, "error", "json", f"a JSON {type(example).__name__}, not an object")
    problems: list[tuple[Literal["error", "warning"], str, str]] = []
    _check_example(example, problems)
    for level, code, message in problems:
        _add(report, number, level, code, message)
    if any(level == "error" and code in ("structure",) for level, code, _ in problems):
        return  # no messages to count
    report.examples += 1
    tokens = counter.count_messages(flat_messages(example))
    report.tokens += tokens
    report.longest = max(report.longest, tokens)
    if limit is not None and tokens > limit:
        _add(report, number, "error", "too_long", f"{tokens:,} tokens; {report.model} trains on at most {limit:,}")
    _check_duplicates(report, number, example, training)
    _check_pii(report, number, example)


def _check_example(example: dict[str, Any], out: list[tuple[Any, str, str]]) -> None:
    unknown = sorted(set(example) - TOP_KEYS)
    if unknown:
        out.append(("error", "structure", f"unknown key(s) {', '.join(unknown)}; a chat example has messages, tools"))
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        out.append(("error", "structure", "no `messages` list"))
        return
    declared = _check_tools(example.get("tools"), out)
    calls: set[str] = set()
    for index, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            out.append(("error", "structure", f"message {index} is not an object"))
            return
        _check_message(index, message, declared, calls, out)
    roles = [m.get("role") for m in messages]
    first = next((r for r in roles if r not in ("system", "developer")), None)
    if first is not None and first != "user":
        out.append(("error", "role", f"the first turn after the system prompt is {first!r}, not 'user'"))
    if "assistant" not in roles:
        out.append(("error", "role", "no assistant message: nothing to learn from"))
    elif roles[-1] != "assistant":
        out.append(("warning", "ends_with", f"the last message is {roles[-1]!r}'s; only assistant turns are learned"))


def _check_message(index: int, m: dict[str, Any], declared: set[str] | None, calls: set[str], out: list[Any]) -> None:
    role = m.get("role")
    where = f"message {index} ({role})" if isinstance(role, str) else f"message {index}"
    if role not in ROLES:
        out.append(("error", "role", f"{where}: unknown role {role!r}; one of {', '.join(ROLES)}"))
    unknown = sorted(set(m) - MESSAGE_KEYS)
    if unknown:
        out.append(("error", "structure", f"{where}: unknown key(s) {', '.join(unknown)}"))
    if "weight" in m and (m["weight"] not in (0, 1) or isinstance(m["weight"], bool) or role != "assistant"):
        out.append(("error", "weight", f"{where}: weight must be 0 or 1, on assistant messages only"))
    content, tool_calls = m.get("content"), m.get("tool_calls")
    text = _text_of(content, where, out)
    if role == "assistant":
        if tool_calls is not None:
            _check_calls(where, tool_calls, declared, calls, out)
        if not (text or "").strip() and not tool_calls:
            out.append(("error", "empty", f"{where}: the assistant turn is empty"))
    elif tool_calls is not None:
        out.append(("error", "tools", f"{where}: only assistant messages make tool calls"))
    if role == "tool":
        if m.get("tool_call_id") not in calls:
            out.append(("error", "tools", f"{where}: tool_call_id {m.get('tool_call_id')!r} answers no earlier call"))
    elif content is None and role != "assistant":
        out.append(("error", "content", f"{where}: no content"))


def _text_of(content: Any, where: str, out: list[Any]) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in PART_TYPES:
                out.append(("error", "content", f"{where}: a content part of type {kind!r}; text or image_url"))
            elif kind == "text":
                if not isinstance(part.get("text"), str):
                    out.append(("error", "content", f"{where}: a text part without text"))
                else:
                    texts.append(part["text"])
        return " ".join(texts)
    out.append(("error", "content", f"{where}: content is a {type(content).__name__}; text, parts or null"))
    return None


def _check_calls(where: str, tool_calls: Any, declared: set[str] | None, calls: set[str], out: list[Any]) -> None:
    if not isinstance(tool_calls, list) or not tool_calls:
        out.append(("error", "tools", f"{where}: tool_calls must be a non-empty list"))
        return
    for n, call in enumerate(tool_calls, 1):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(call.get("id"), str) or call.get("type") != "function":
            out.append(("error", "tools", f"{where}: tool call {n} needs an id and type 'function'"))
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            out.append(("error", "tools", f"{where}: tool call {n} has no function name"))
            continue
        if isinstance(call.get("id"), str):
            calls.add(call["id"])
        arguments = fn.get("arguments")
        if not isinstance(arguments, str):
            out.append(("error", "tools", f"{where}: tool call {n} ({fn['name']}): arguments must be a JSON string"))
        else:
            try:
                json.loads(arguments)
            except json.JSONDecodeError:
                out.append(("error", "tools", f"{where}: tool call {n} ({fn['name']}): arguments are not valid JSON"))
        if declared is not None and fn["name"] not in declared:
            out.append(("error", "tools", f"{where}: calls {fn['name']!r}, which the example's tools do not declare"))


def _check_tools(tools: Any, out: list[Any]) -> set[str] | None:
    """The function names an example declares; None when it declares no tools."""
    if tools is None:
        return None
    names: set[str] = set()
    if not isinstance(tools, list):
        out.append(("error", "tools", "tools must be a list"))
        return names
    for n, tool in enumerate(tools, 1):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
            out.append(("error", "tools", f"tool {n}: needs type 'function' and a function object"))
        elif not isinstance(fn.get("name"), str):
            out.append(("error", "tools", f"tool {n}: the function has no name"))
        else:
            names.add(fn["name"])
            if "parameters" in fn and not isinstance(fn["parameters"], dict):
                out.append(("error", "tools", f"tool {n} ({fn['name']}): parameters must be a JSON Schema object"))
    return names


def _check_duplicates(
    report: DatasetReport, number: int, example: dict[str, Any], training: DatasetReport | None
) -> None:
    digest = hashlib.sha256(json.dumps(example, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    first = report.hashes.setdefault(digest, number)
    if first != number:
        _add(report, number, "warning", "duplicate", f"the same example as line {first}")
    if training is not None and digest in training.hashes:
        line = training.hashes[digest]
        _add(report, number, "warning", "overlap", f"also in the training file (line {line}): it says nothing new")


@functools.lru_cache(maxsize=1024)
def _pii_kinds(text: str) -> frozenset[str]:
    """The kinds the audit masker finds in one message (cached: system prompts repeat on every line)."""
    from unyo._records._mask import find

    return frozenset(kind for _, _, kind in find(text))


def _check_pii(report: DatasetReport, number: int, example: dict[str, Any]) -> None:
    kinds = sorted(set().union(*(_pii_kinds(m["content"]) for m in flat_messages(example))))
    if kinds:
        _add(report, number, "warning", "pii", f"personal data or secrets the audit masker finds: {', '.join(kinds)}")
