"""Mask personal data and secrets in text before it is written anywhere.

What is masked, in this order (earlier kinds win where they overlap):

    [SECRET]    every key value unyo loaded and key-shaped strings (`_redact.secret_spans`):
                OpenAI/xAI sk-…, Google AIza…, AWS AKIA…/ASIA…, GitHub ghp_…/github_pat_…,
                Slack xox?-…, JWTs, Authorization: Basic/Bearer credentials, PEM private-key
                blocks; and a [REDACTED] left by an earlier `redact`
    [EMAIL]     e-mail addresses
    [CARD]      card numbers: 13-19 digits starting 2-6, run together or grouped 4-4-4-4(-…)
                or 4-6-5 / 4-6-4 by spaces or hyphens, that pass the Luhn check
    [MYNUMBER]  12-digit Japanese My Number (個人番号), run together or 4-4-4, valid check digit
    [IP]        IPv4 addresses (not inside a dotted version such as v1.2.3.4) and IPv6
                addresses with at least two groups (so `::` and `::1` in code stay)
    [PHONE]     Japanese numbers of 10-11 digits (03-1234-5678, 090-1234-5678, 0120-123-456,
                0312345678, 03(1234)5678, (03)1234-5678, 090.1234.5678) and international
                +CC numbers (+81 90-1234-5678, +1 415-555-0134)
    [POSTCODE]  postcodes after 〒 or 郵便番号 (〒100-0001, 〒1000001); not bare 100-0001
    [ADDRESS]   the town and block number (番地) of a Japanese street address, after the
                last 都道府県市区町村郡 (東京都千代田区千代田1-1 → 東京都千代田区[ADDRESS];
                1丁目2番3号, 5番地の2, 1-2-3); not a date, nor a number before a unit
                (市場2-3倍), nor after 区分/区間/市場/都度-like words
    [ACCOUNT]   7-digit bank account numbers shortly after 口座 / 普通 / 当座 / 預金 / 貯蓄
                (普通 1234567, 口座番号：1234567), not amounts (預金 1234567円); and
                ゆうちょ 記号/番号 pairs (記号12345 番号12345678)

Matching runs on a width-normalised copy of the text (NFKC, one character at a time, so
０３（１２３４）５６７８, ｔａｎａｋａ＠ｅｘａｍｐｌｅ．ｃｏ．ｊｐ and 4111　1111　1111　1111 are caught), but the
result keeps the original text outside the masked spans: each character is replaced by its
NFKC form only where that form is a single character (full-width ASCII, ideographic space,
half-width katakana), so positions in the copy are positions in the original. A character
whose NFKC form is longer (㈱, ℡, ½) is left as it is for matching.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator

from unyo._types._redact import MASK, merge_spans, secret_spans

_MASKED = re.compile(re.escape(MASK))
_BLANK = "\x00"  # stands in for an already masked span, so later kinds neither match nor cross it


class _Width(dict[int, int]):
    """str.translate table: a character's NFKC form where that is one character, else itself."""

    def __missing__(self, code: int) -> int:
        normal = unicodedata.normalize("NFKC", chr(code))
        self[code] = value = ord(normal) if len(normal) == 1 else code
        return value


_WIDTH = _Width()
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def normalise(text: str) -> str:
    """`text` with each character replaced by its single-character NFKC form: same length,
    same positions."""
    if text.isascii():
        return text
    return _NON_ASCII.sub(lambda m: m.group().translate(_WIDTH), text)


H = "[-‐‑‒–—―−ー]"  # hyphens as typed in Japanese text (after NFKC: - and the ones it keeps)
SEP = rf"(?:{H}|\s)"
CSEP = rf"(?:[ \t]?{H}[ \t]?|[ \t])"  # between the groups of a card number
# e-mail: found from each @ (a regex starting at the local part backtracks quadratically in long
# runs of letters or digits, such as base64 data)
_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,63}(?![A-Za-z])")
_CARD = re.compile(
    r"(?=[2-6])(?<![0-9A-Za-z_])(?<![0-9][.,])(?:[2-6][0-9]{12,18}"
    rf"|[2-6][0-9]{{3}}{CSEP}[0-9]{{4}}{CSEP}[0-9]{{4}}{CSEP}[0-9]{{1,4}}(?:{CSEP}[0-9]{{1,3}})?"
    rf"|3[0-9]{{3}}{CSEP}[0-9]{{6}}{CSEP}[0-9]{{4,5}})(?![0-9A-Za-z_])"
)
_TWELVE = re.compile(
    rf"(?=[0-9])(?<![0-9A-Za-z_])(?<![0-9][.,])[0-9]{{4}}{CSEP}?[0-9]{{4}}{CSEP}?[0-9]{{4}}(?![0-9A-Za-z_])"
)
_IPV4 = re.compile(
    r"(?=[0-9])(?<![0-9A-Za-z.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![0-9.])", re.ASCII
)
_IPV6ISH = re.compile(r"(?=[0-9A-Fa-f:])(?<![0-9A-Za-z:])[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(?![0-9A-Za-z:])")
_PHONE = re.compile(
    r"(?=[0-9+(])(?<![0-9A-Za-z_+])(?<![0-9][.,\-])(?:"
    rf"\+[0-9]{{1,3}}(?:{SEP}?\(?[0-9]{{1,4}}\)?){{2,4}}[0-9]"  # international
    rf"|\(?0(?!0)[0-9]{{1,4}}\)?{SEP}?[0-9]{{1,4}}{SEP}?[0-9]{{3,4}}"  # 03-1234-5678, (03)1234-5678, 0312345678
    r"|0(?!0)[0-9]{1,4}[ \t]?\([0-9]{1,4}\)[ \t]?[0-9]{3,4}"  # 03(1234)5678
    r"|0(?!0)[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{3,4}"  # 090.1234.5678
    r")(?![0-9A-Za-z_])"
)
_POSTCODE = re.compile(rf"(?:〒|郵便番号[ \t]*:?)[ \t]*(?P<m>[0-9]{{3}}{H}?[0-9]{{4}})(?![0-9])")
_KANJI_NUM = "[一二三四五六七八九十]{1,3}"
_BLOCK = (
    rf"(?:[0-9]{{1,4}}|{_KANJI_NUM})丁目(?:[ \t]?[0-9]{{1,4}}(?:番地?|{H})?(?:[0-9]{{1,4}}号?)?)?"  # 1丁目2番3号
    r"|[0-9]{1,4}番地?(?:の?[0-9]{1,4}号?)?"  # 5番地の2, 2番3号
    # 1-1, 1-2-3 (not a date)
    rf"|(?!(?:19|20)[0-9]{{2}}{H}[0-9]{{1,2}}{H}[0-9]{{1,2}}(?![0-9]))"
    rf"[0-9]{{1,4}}{H}[0-9]{{1,4}}(?:{H}[0-9]{{1,4}})?号?"
)
# After the last 都道府県市区町村郡: a town name in kanji / katakana (no kana particles), then a
# block number not followed by a unit (so 市場2-3倍 stays). Not after a marker that begins a
# common word rather than ends a place name (区分, 区間, 区画, 区域, 区別, 市場, 市販, 市民, 都度,
# 都合, 道具, 道路).
_TOWN = r"(?:(?![都道府県市区町村郡])[\u3400-\u4DBF\u4E00-\u9FFF\u30A1-\u30FAヶ々〆])"
_UNIT = "(?![0-9%倍年月日時分秒人個件回円万億割]|[.,][0-9])"
_ADDRESS = re.compile(rf"[都道府県市区町村郡](?![分間画域別場販民度合具路])(?P<m>{_TOWN}{{0,10}}?(?:{_BLOCK})){_UNIT}")
_ACCOUNT = re.compile(
    rf"(?:口座|普通|当座|預金|貯蓄)[^0-9\n。]{{0,8}}?(?<![0-9])(?P<m>[0-9]{{7}}){_UNIT}"  # not 預金残高 1234567円
    r"|記号[ \t]*:?[ \t]*(?P<j>[0-9]{5}[^0-9\n。]{0,8}?[0-9]{8})(?![0-9])"  # ゆうちょ 記号 12345 番号 12345678
)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _is_ipv6(candidate: str) -> bool:
    import ipaddress

    if sum(1 for group in candidate.split(":") if group) < 2:
        return False  # `::`, `::1`, `a[::2]` in code
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


def _emails(text: str) -> Iterator[tuple[int, int]]:
    done = 0  # where the last address ended: a local part starts no earlier
    at = text.find("@")
    while at >= 0:
        start, floor = at, max(done, at - 64)
        while start > floor and text[start - 1] in _EMAIL_LOCAL:
            start -= 1
        domain = _EMAIL_DOMAIN.match(text, at + 1) if start < at else None
        if domain:
            yield start, domain.end()
            done = domain.end()
        at = text.find("@", max(at + 1, done))


def _phone_ok(number: str) -> bool:
    digits = _digits(number)
    return len(digits) >= 9 if number.startswith("+") else len(digits) in (10, 11)


def _spans(
    pattern: re.Pattern[str], ok: Callable[[str], bool] | None = None
) -> Callable[[str], Iterator[tuple[int, int]]]:
    """A detector: the spans of `pattern`'s matches (of its named group, if one matched)
    that `ok` accepts."""

    def find(text: str) -> Iterator[tuple[int, int]]:
        for m in pattern.finditer(text):
            span = m.span(m.lastgroup) if m.lastgroup else m.span()
            if ok is None or ok(text[span[0] : span[1]]):
                yield span

    return find


DETECTORS: list[tuple[str, Callable[[str], Iterator[tuple[int, int]]]]] = [
    ("EMAIL", _emails),
    ("CARD", _spans(_CARD, lambda s: luhn_ok(_digits(s)))),
    ("MYNUMBER", _spans(_TWELVE, lambda s: my_number_ok(_digits(s)))),
    ("IP", _spans(_IPV4)),
    ("IP", _spans(_IPV6ISH, _is_ipv6)),
    ("PHONE", _spans(_PHONE, _phone_ok)),
    ("POSTCODE", _spans(_POSTCODE)),
    ("ADDRESS", _spans(_ADDRESS)),
    ("ACCOUNT", _spans(_ACCOUNT)),
]


def find(text: str) -> list[tuple[int, int, str]]:
    """The spans `mask` replaces, as sorted (start, end, kind), kind without brackets."""
    if not text:
        return []
    work = normalise(text)
    # what an earlier pass already replaced counts as a secret, as the old text-based pass did
    found = [(s, e, "SECRET") for s, e in merge_spans(secret_spans(work) + [m.span() for m in _MASKED.finditer(work)])]
    work = _blank(work, found)
    for kind, detect in DETECTORS:
        new = [(s, e, kind) for s, e in detect(work)]
        if new:
            found += new
            work = _blank(work, new)
    return sorted(found)


def _blank(text: str, spans: list[tuple[int, int, str]]) -> str:
    if not spans:
        return text
    out, at = [], 0
    for start, end, _ in sorted(spans):
        out += [text[at:start], _BLANK * (end - start)]
        at = end
    out.append(text[at:])
    return "".join(out)


def mask(text: str) -> str:
    """`text` with every span `find` reports replaced by its [KIND]; the rest as written."""
    if not text:
        return text
    out, at = [], 0
    for start, end, kind in find(text):
        out += [text[at:start], f"[{kind}]"]
        at = end
    out.append(text[at:])
    return "".join(out)
