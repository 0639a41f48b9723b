"""Remove secrets from any text before it is stored, printed or logged.

Two layers: every key value unyo loads is registered here (`register_secret`) and replaced
wherever it appears; on top, patterns catch key-shaped strings unyo never saw (a provider
echoing a key in an error body, a key pasted into a prompt):

    OpenAI / xAI style keys (sk-…, xai-…), Google API keys (AIza…), AWS access key ids
    (AKIA…, ASIA…), GitHub tokens (ghp_/gho_/ghu_/ghs_/ghr_…, github_pat_…), Slack tokens
    (xoxa-/xoxb-/xoxp-/xoxr-/xoxs-…, xapp-…), JSON Web Tokens (eyJ….eyJ….…), the credential
    of an `Authorization:` header (Basic / Bearer / Token) and of a free-standing `Bearer …`,
    the password of a URL (`https://user:pw@host`) and secret-looking query values
    (`?api_key=…`, `&access_token=…`, `&sig=…`), and PEM private-key blocks
    (-----BEGIN … PRIVATE KEY----- … -----END … PRIVATE KEY-----, also when the end line is cut off).

Where a pattern has a label and a credential (`Authorization: Bearer …`), only the credential
is replaced, so a log still says which header carried it.
"""

from __future__ import annotations

import logging
import re
import threading

_lock = threading.Lock()
_secrets: set[str] = set()

MASK = "[REDACTED]"
_TOKEN = r"[A-Za-z0-9._~+/\-]"  # the characters of an RFC 6750 bearer token (b64token)
_PEM_BEGIN = r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
_PEM_END = r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
# A match is replaced whole, or only its named group where it has one (the credential after a
# label). Each pattern starts with a literal, which the regex engine searches for quickly (one
# alternation of them all tries every pattern at every position: 4x slower); a boundary that
# would come first is a lookbehind after the literal. The case-insensitive ones (folded=True)
# are written in lower case and run on `text.lower()`, which keeps a literal to search for.
_PATTERNS: tuple[tuple[bool, re.Pattern[str]], ...] = tuple(
    (folded, re.compile(pattern))
    for folded, pattern in [
        (False, r"sk-(?<![A-Za-z0-9]sk-)[A-Za-z0-9_\-]{8,}"),  # OpenAI style keys
        (False, r"xai-(?<![A-Za-z0-9]xai-)[A-Za-z0-9_\-]{8,}"),  # xAI
        (False, r"pk-(?<![A-Za-z0-9]pk-)[A-Za-z0-9_\-]{8,}"),
        (False, r"rk-(?<![A-Za-z0-9]rk-)[A-Za-z0-9_\-]{8,}"),
        (False, r"AIza[0-9A-Za-z_\-]{20,}"),  # Google API keys
        (False, r"AKIA(?<![A-Za-z0-9]AKIA)[0-9A-Z]{16}(?![A-Za-z0-9])"),  # AWS access key ids
        (False, r"ASIA(?<![A-Za-z0-9]ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"),  # AWS temporary ones
        (False, r"gh[pousr]_(?<![A-Za-z0-9]gh._)[A-Za-z0-9]{20,}"),  # GitHub tokens
        (False, r"github_pat_[A-Za-z0-9_]{20,}"),
        (False, r"xox[abprs]-(?<![A-Za-z0-9]xox.-)[A-Za-z0-9\-]{10,}"),  # Slack tokens
        (False, r"xapp-[0-9]+-[A-Za-z0-9\-]{10,}"),
        (False, r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"),  # JSON Web Tokens
        # an Authorization header's credential, whatever the case, quoted or not
        (True, rf"authorization[\"']?[ \t]*[:=][ \t]*[\"']?(?:basic|bearer|token)[ \t]+(?P<auth>{_TOKEN}{{6,}}=*)"),
        # a free-standing bearer token that looks like one (a digit, an inner . _ ~ + /, or
        # 20+ characters), so that "bearer authentication." in prose stays
        (True, rf"bearer\s+(?P<bearer>(?=[A-Za-z0-9\-]*(?:[0-9]|[._~+/][A-Za-z0-9])|{_TOKEN}{{20}}){_TOKEN}{{8,}}=*)"),
        # the credentials of a URL: user:password@ (what a fetched or cited URL may carry) ...
        (False, r"://(?P<userinfo>[^/\s:@\[\]]{1,256}:[^/\s@]{1,256})@"),
        # ... and secret-looking query values (?api_key=…, &access_token=…, &sig=…)
        (
            True,
            r"(?<=[?&])(?:api[_-]?key|access[_-]?token|token|secret|password|sig|signature|key)="
            r"(?P<query>[^&\s#\"'<>]{4,})",
        ),  # fmt: skip
        # PEM private keys: the whole block, or, if the end line is cut off, the begin line
        # with the header and base64 lines that follow (raw or JSON-escaped newlines)
        # (the scan for the end line stops at the next begin line: linear in repeated ones)
        (
            False,
            rf"{_PEM_BEGIN}(?:(?:(?!-----BEGIN)[\s\S]){{0,16000}}?{_PEM_END}"
            r"|(?:(?:\s|\\[rn])*(?:[A-Za-z0-9+/=]{16,}|[A-Za-z][A-Za-z\-]*:[^\r\n\\]*))*)",
        ),
    ]
)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def register_secret(value: str | None) -> None:
    """Remember a secret so that `redact` removes it everywhere. Short values are ignored
    (a 3-character "key" would mask ordinary words)."""
    if value and len(value) >= 8:
        with _lock:
            _secrets.add(value)


def secret_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) spans of `text` that `redact` replaces: registered secrets and
    key-shaped strings, sorted and merged where they overlap."""
    spans: list[tuple[int, int]] = []
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        start = text.find(secret)
        while start >= 0:
            spans.append((start, start + len(secret)))
            start = text.find(secret, start + len(secret))
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lower to two (İ): fold ASCII only
        lowered = text.translate(_ASCII_LOWER)
    for folded, pattern in _PATTERNS:
        spans += [
            m.span(m.lastgroup) if m.lastgroup else m.span() for m in pattern.finditer(lowered if folded else text)
        ]
    return merge_spans(spans)


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        elif end > start:
            merged.append((start, end))
    return merged


def replace_spans(text: str, spans: list[tuple[int, int]], replacement: str = MASK) -> str:
    """`text` with each of the sorted, disjoint `spans` replaced by `replacement`."""
    if not spans:
        return text
    out, at = [], 0
    for start, end in spans:
        out += [text[at:start], replacement]
        at = end
    out.append(text[at:])
    return "".join(out)


def redact(text: str) -> str:
    if not text:
        return text
    return replace_spans(text, secret_spans(text))


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
