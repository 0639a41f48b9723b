"""Remove secrets from any text before it is stored, printed or logged.

Two layers: every key value unyo loads is registered here (`register_secret`) and replaced
wherever it appears; on top, patterns catch key-shaped strings unyo never saw (a provider
echoing a key in an error body, a key pasted into a prompt).
"""

from __future__ import annotations

import logging
import re
import threading

_lock = threading.Lock()
_secrets: set[str] = set()

MASK = "[REDACTED]"
_PATTERNS = re.compile(
    r"(?:sk|xai|pk|rk)-[A-Za-z0-9_\-]{8,}"  # OpenAI / xAI style keys
    r"|AIza[0-9A-Za-z_\-]{20,}"  # Google API keys
    r"|(?i:bearer)\s+[A-Za-z0-9._\-~+/]{8,}=*"  # bearer tokens
)


def register_secret(value: str | None) -> None:
    """Remember a secret so that `redact` removes it everywhere. Short values are ignored
    (a 3-character "key" would mask ordinary words)."""
    if value and len(value) >= 8:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    if not text:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return _PATTERNS.sub(MASK, text)


_installed = False


def install_log_redaction() -> None:
    """Redact every log record in this process as it is created, whatever logger or handler
    it goes to (logger filters do not apply to child loggers such as `openai._base_client`).
    Records are only created for enabled levels, so this costs nothing when logging is off."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs) -> logging.LogRecord:  # type: ignore[no-untyped-def]
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a broken format string must not break logging
                message = str(record.msg)
            record.msg, record.args = redact(message), None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
