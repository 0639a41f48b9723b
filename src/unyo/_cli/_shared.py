"""Helpers shared by CLI commands."""

from __future__ import annotations

import sys
from typing import Any

from unyo._errors import ConfigError


def client_for(profile: str | None) -> Any:
    from unyo._client import OpenAI

    return OpenAI(profile=profile)


def read_prompt(prompt: str) -> str:
    if prompt == "-":
        if sys.stdin.isatty():
            raise ConfigError("no prompt: pass it as an argument or pipe it on stdin (unyo ask - < file)")
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise ConfigError("the prompt is empty")
    return prompt


def status_line(info: Any) -> str:
    usage = info.usage
    tokens = f"{usage.input_tokens} in / {usage.output_tokens} out" if usage else "no usage"
    counted = "" if (usage is None or usage.reported) else " (counted)"
    latency = f"{info.latency_s:.2f}s" if info.latency_s is not None else "?"
    ttft = f", first token {info.ttft_s:.2f}s" if info.ttft_s is not None else ""
    return f"[{info.profile}:{info.model} · {info.status} · {tokens}{counted} · {latency}{ttft} · attempts {len(info.attempts)}]"
