"""Helpers shared by CLI commands."""

from __future__ import annotations

import sys
from typing import Any

from unyo._errors import ConfigError


def client_for(profile: str | None, user: str | None = None, tag: str | None = None) -> Any:
    import warnings

    from unyo._client import OpenAI

    warnings.showwarning = _show_warning
    return OpenAI(profile=profile, user=user, tag=tag)


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    """Budget warnings on stderr as one plain line, not Python's file:line form."""
    print(f"warning: {message}", file=sys.stderr)


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


def parse_since(text: str | None) -> float | None:
    """`--since`: a duration back from now (90m, 24h, 7d) or a date/time (2026-11-01, 2026-11-01T09:00)."""
    import re
    import time
    from datetime import datetime

    if not text:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if m:
        return time.time() - float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--since {text!r}: give a duration (90m, 24h, 7d) or a date (2026-11-01)") from None
    return (when if when.tzinfo else when.astimezone()).timestamp()


def settings_for(profile: str | None) -> Any:
    from unyo._config import load_settings

    return load_settings(profile=profile)


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        t.add_column(column, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in rows:
        t.add_row(*[str(c) for c in row])
    console = Console()
    (console if console.is_terminal else Console(width=200)).print(t)  # piped output: never truncate
