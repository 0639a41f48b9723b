"""How long an audio file is, from its header, before it is sent (for the budget's worst case).

WAV is read with the standard library (`wave`); for other formats the length is not known
before sending, and the caller decides (a budget refuses; without one the reported usage counts).
"""

from __future__ import annotations

import io
import os
import wave
from typing import Any

MAX_AUDIO_BYTES = 25 * 1024 * 1024  # the provider's limit on an audio upload


def _checked(name: str, data: bytes) -> tuple[str, bytes]:
    if len(data) > MAX_AUDIO_BYTES:
        from unyo._types._errors import BadInput

        raise BadInput(f"{name}: over the {MAX_AUDIO_BYTES // 2**20} MiB audio limit; not read further, not sent")
    return name, data


def audio_bytes(file: Any) -> tuple[str, bytes] | None:
    """(name, bytes) of what the SDK accepts as `file=` (a path, bytes, a binary file or a
    (name, content[, type]) tuple) without consuming it; None if it cannot be read here. More
    than MAX_AUDIO_BYTES is refused after reading one byte past it (a path to /dev/zero ends)."""
    if isinstance(file, tuple) and len(file) >= 2:
        name, content = str(file[0]), file[1]
        found = audio_bytes(content)
        return (name, found[1]) if found else None
    if isinstance(file, (bytes, bytearray)):
        return _checked("audio", bytes(file))
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as f:
            return _checked(os.fspath(file), f.read(MAX_AUDIO_BYTES + 1))
    read, seek, tell = (getattr(file, name, None) for name in ("read", "seek", "tell"))
    if callable(read) and callable(seek) and callable(tell):
        at = tell()
        try:
            data = read(MAX_AUDIO_BYTES + 1)
        finally:
            seek(at)
        return _checked(str(getattr(file, "name", "audio")), data if isinstance(data, bytes) else b"")
    return None


def duration_s(data: bytes) -> float | None:
    """Seconds of audio in a WAV file's bytes; None for another format or a damaged header."""
    if not (data[:4] == b"RIFF" and data[8:12] == b"WAVE"):
        return None
    try:
        with wave.open(io.BytesIO(data)) as w:
            rate, frame = w.getframerate(), w.getsampwidth() * w.getnchannels()
            if not rate or not frame:
                return None
            # the header's frame count, or every byte as audio if the header claims less
            return max(w.getnframes(), (len(data) - 44) // frame) / rate
    except (wave.Error, EOFError):
        return None
