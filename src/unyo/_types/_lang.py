"""The language of unyo's own messages: Japanese when UNYO_LANG (else LC_ALL, else LANG) starts
with "ja", English otherwise. Errors carry hints in both; the CLI's frames use `pick`."""

from __future__ import annotations

import os


def lang() -> str:
    value = os.environ.get("UNYO_LANG") or os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    return "ja" if value.lower().startswith("ja") else "en"


def pick(en: str, ja: str) -> str:
    """`ja` when messages are Japanese, else `en`."""
    return ja if lang() == "ja" else en
