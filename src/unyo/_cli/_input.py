"""What a command's text input is, as `llm` and httpie users expect it.

    unyo ask "要約して" < minutes.txt        the words are the instruction, stdin the material
    unyo ask "要約して" @minutes.txt         an `@path` word is a file's text (`@@x` is a literal "@x")
    unyo ask "比較して" --file a.md --file b.md
    unyo ask < prompt.txt                    no words: stdin is the whole prompt

Material comes first and the instruction last (llm's order): the model reads the text, then what
to do with it. stdin is read only when it is a pipe or a file, never a terminal or /dev/null, so a
cron job without input does not hang.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from unyo._types._errors import BadInput, UsageError
from unyo._types._messages import Message, os_reason

MAX_FILE_BYTES = 20 * 1024 * 1024  # far above any context window; beyond it the text cannot be one prompt


def stdin_has_data() -> bool:
    """True when stdin is a pipe or a regular file (not a terminal, /dev/null or closed)."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def read_file(path: str) -> str:
    p = Path(path).expanduser()
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise UsageError(Message("input.not_a_file", path=path))
        if size > MAX_FILE_BYTES:
            raise BadInput(Message("input.file_too_big", path=path, size=size, limit=MAX_FILE_BYTES))
        data = p.read_bytes()
    except FileNotFoundError:
        raise UsageError(Message("input.no_such_file", path=path, literal=path.lstrip("@"))) from None
    except OSError as exc:
        raise UsageError(Message("input.unreadable", path=path, reason=os_reason(exc))) from None
    return _text(data, path)


def _text(data: bytes, where: str) -> str:
    if b"\x00" in data[:8192]:
        raise BadInput(Message("input.binary", where=where))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(Message("input.not_utf8", where=where, byte=exc.start)) from None


def gather(words: Sequence[str], files: Sequence[str] = ()) -> str:
    """The prompt from the command's words, `@path` words, `--file` paths and stdin."""
    instruction: list[str] = []
    material: list[tuple[str | None, str]] = []
    wants_stdin = False
    for word in words:
        if word == "-":
            wants_stdin = True
        elif word.startswith("@@"):
            instruction.append(word[1:])
        elif word.startswith("@") and len(word) > 1:
            material.append((word[1:], read_file(word[1:])))
        else:
            instruction.append(word)
    material += [(path, read_file(path)) for path in files]
    if wants_stdin or stdin_has_data():
        if wants_stdin and sys.stdin.isatty():
            raise UsageError(Message("prompt.none"))
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise BadInput(Message("input.stdin_too_big", limit=MAX_FILE_BYTES))
        text = _text(data, "stdin")
        if text.strip():
            material.insert(0, (None, text))
    labelled = len(material) > 1
    parts = [f"--- {name or 'stdin'} ---\n{text}" if labelled else text for name, text in material]
    prompt = "\n\n".join([*(p.rstrip("\n") for p in parts), " ".join(instruction)]).strip()
    if not prompt:
        if not words and not files and sys.stdin.isatty():
            raise UsageError(Message("prompt.none"))
        raise UsageError(Message("prompt.empty"))
    return prompt
