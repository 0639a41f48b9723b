"""Helpers shared by CLI commands."""

from __future__ import annotations

import re
import sys
from typing import Any

from unyo._types._errors import UsageError
from unyo._types._messages import Message, msg


def client_for(profile: str | None, user: str | None = None, tag: str | None = None) -> Any:
    import warnings

    from unyo._client._openai import OpenAI

    warnings.showwarning = _show_warning
    return OpenAI(profile=profile, user=user, tag=tag)


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    """Budget warnings on stderr as one plain line, not Python's file:line form."""
    print(f"{msg('label.warning')}: {message}", file=sys.stderr)


def read_prompt(prompt: str) -> str:
    if prompt == "-":
        if sys.stdin.isatty():
            raise UsageError(Message("prompt.none"))
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise UsageError(Message("prompt.empty"))
    return prompt


def confirm(action: Message, yes: bool, untouched: str = "confirm.nothing_changed") -> bool:
    """Ask before a destructive step: `action` says what it does ("delete conversation c1 of user
    alice and its turns"), `untouched` (a catalogue id) what was left alone if it is not taken.
    `--yes` skips the question; without a terminal to ask on, the step is refused (exit 2) rather
    than taken silently. A "no" prints `untouched` and returns False."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(Message("confirm.not_a_terminal", action=action, untouched=Message(untouched)))
    text = action.render()
    try:
        answer = input(msg("confirm.question", action=text[:1].upper() + text[1:]))
    except EOFError:
        answer = ""
    if answer.strip().lower() in ("y", "yes", "はい"):
        return True
    print(msg(untouched), file=sys.stderr)
    return False


def status_line(info: Any) -> str:
    usage = info.usage
    tokens = f"{usage.input_tokens} in / {usage.output_tokens} out" if usage else "no usage"
    counted = "" if (usage is None or usage.reported) else " (counted)"
    latency = f"{info.latency_s:.2f}s" if info.latency_s is not None else "?"
    ttft = f", first token {info.ttft_s:.2f}s" if info.ttft_s is not None else ""
    return (
        f"[{info.profile}:{info.model} · {info.status} · {tokens}{counted} · {latency}{ttft} "
        f"· attempts {info.attempts}]"
    )


def parse_since(text: str | None) -> float | None:
    """`--since`: a duration back from now, `today` / `yesterday` (local midnight), a date or
    date-time, or an ISO week (its Monday, 00:00 local time)."""
    import time
    from datetime import date, datetime, timedelta

    if not text:
        return None
    value = text.strip().lower()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", value)
    if m:
        return time.time() - float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    day: date | None = None
    if value in ("today", "yesterday"):
        day = date.today() - timedelta(days=1 if value == "yesterday" else 0)
    elif m := re.fullmatch(r"(\d{4})-?w(\d{1,2})", value):
        try:
            day = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        except ValueError:
            raise UsageError(Message("since.no_such_week", text=text)) from None
    if day is not None:
        return datetime(day.year, day.month, day.day).astimezone().timestamp()
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(Message("since.bad", text=text)) from None
    return (when if when.tzinfo else when.astimezone()).timestamp()


def settings_for(profile: str | None) -> Any:
    from unyo._core._config import load_settings

    return load_settings(profile=profile)


# Terminal safety: text unyo did not write itself (user ids, tags, model ids, model output, tool
# arguments, stored turns, error messages) is shown with `clean()` and never as rich markup, so a
# stored `[/]` cannot break a table, `[link=...]` cannot become a link and an ESC/OSC sequence
# cannot clear the screen, retitle the window or plant a hyperlink.
_SEQUENCES = re.compile(
    r"(?:\x1b\]|\x9d)[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"  # OSC ... BEL or ST (hyperlinks, window titles)
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c\n]*(?:\x1b\\|\x9c)?"  # DCS / SOS / PM / APC strings
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI (colours, cursor moves, clear screen)
    r"|\x1b[ -/]*[0-~]?"  # any other escape sequence, or a lone ESC
)
_CONTROLS = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)  # C0/C1 (not \t \n), DEL, bidi overrides
_LINE_BREAKS = re.compile(r"[\t\n\r\x0b\x0c\x85\u2028\u2029]+")


def clean(value: Any, multiline: bool = False) -> str:
    """`value` as text safe to print on a terminal: escape sequences and control characters
    removed; tabs and newlines kept only when `multiline` (else each run becomes one space)."""
    text = _SEQUENCES.sub("", "" if value is None else str(value))
    if multiline:
        text = text.replace("\r\n", "\n")
    else:
        text = _LINE_BREAKS.sub(" ", text)
    return _CONTROLS.sub("", text)


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A listing in the command's --format: a rich table on a terminal, TSV when piped (`_output`)."""
    from unyo._cli._output import render

    render(title, columns, rows)


def rich_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A rich table in which every cell, header and the title are plain text (`clean()`ed rich
    `Text`, never parsed as markup)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    t = Table(title=Text(clean(title)), title_justify="left")
    for i, column in enumerate(columns):
        t.add_column(Text(clean(column)), justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in rows:
        t.add_row(*[Text(clean(c, multiline=True)) for c in row])

    class _Console(Console):
        def on_broken_pipe(self) -> None:  # rich would exit 1 itself; main() ends every closed pipe the same way
            self.quiet = True
            raise BrokenPipeError

    console = _Console()
    (console if console.is_terminal else _Console(width=200)).print(t)  # piped output: never truncate
