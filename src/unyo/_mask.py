"""Mask personal data and secrets in text before it is written anywhere.

What is masked, in this order (earlier kinds win where they overlap):

    [SECRET]    API keys, bearer tokens, and every key value unyo loaded (via `redact`)
    [EMAIL]     e-mail addresses
    [CARD]      13-19 digit card numbers that pass the Luhn check (spaces / hyphens allowed)
    [MYNUMBER]  12-digit Japanese My Number (個人番号) with a valid check digit
    [IP]        IPv4 and IPv6 addresses
    [PHONE]     Japanese numbers (03-1234-5678, 090-1234-5678, 0120-123-456, 0312345678,
                +81 90-1234-5678, full-width digits too) and international +CC numbers

Digits are matched in ASCII and full-width forms (０-９), as Japanese text often uses both.
"""

from __future__ import annotations

import re

from unyo._redact import MASK, redact

D = "[0-9０-９]"
SEP = "[-‐－ー―\\s]"  # hyphens as typed in Japanese text, and spaces
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_CARDLIKE = re.compile(rf"(?<![0-9０-９]){D}(?:{D}|[ \-]){{11,22}}{D}(?![0-9０-９])")
_TWELVE = re.compile(rf"(?<![0-9０-９]){D}{{4}}[ \-]?{D}{{4}}[ \-]?{D}{{4}}(?![0-9０-９])")
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])")
_IPV6ISH = re.compile(r"(?<![0-9A-Za-z:])[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(?![0-9A-Za-z:])")
_PHONE = re.compile(
    rf"(?<![0-9０-９+＋])(?:"
    rf"[+＋]{D}{{1,3}}(?:{SEP}?\(?{D}{{1,4}}\)?){{2,4}}{D}"  # international
    rf"|[(（]?[0０]{D}{{1,4}}[)）]?{SEP}?{D}{{1,4}}{SEP}?{D}{{3,4}}"  # Japanese, with or without hyphens
    rf")(?![0-9０-９])"
)
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def _digits(text: str) -> str:
    return "".join(ch for ch in text.translate(_FULLWIDTH) if ch.isdigit())


def _is_ipv6(candidate: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def my_number_ok(digits: str) -> bool:
    """The check digit of a 12-digit individual number (番号法施行令 第8条)."""
    if len(digits) != 12:
        return False
    body, check = digits[:11], int(digits[11])
    total = sum(int(p) * (n + 1 if n <= 6 else n - 5) for n, p in enumerate(reversed(body), start=1))
    remainder = total % 11
    return check == (0 if remainder <= 1 else 11 - remainder)


def mask(text: str) -> str:
    if not text:
        return text
    text = redact(text).replace(MASK, "[SECRET]")
    text = _EMAIL.sub("[EMAIL]", text)

    def card(m: re.Match[str]) -> str:
        digits = _digits(m.group())
        return "[CARD]" if 13 <= len(digits) <= 19 and luhn_ok(digits) else m.group()

    text = _CARDLIKE.sub(card, text)
    text = _TWELVE.sub(lambda m: "[MYNUMBER]" if my_number_ok(_digits(m.group())) else m.group(), text)
    text = _IPV4.sub("[IP]", text)
    text = _IPV6ISH.sub(lambda m: "[IP]" if _is_ipv6(m.group()) else m.group(), text)
    text = _PHONE.sub(lambda m: "[PHONE]" if len(_digits(m.group())) >= 9 else m.group(), text)
    return text
