"""Audit masking (`_mask.mask`, secrets via `_redact`): one table of positive and negative samples
per detector, the original text kept around masked spans, linear time, and a run over the real
Japanese guides in ../shared/corpus/ja-guides (read at run time, never copied here)."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest

from unyo._records._mask import find, mask, normalise
from unyo._types._redact import redact

# Key-shaped samples are assembled at run time so that no secret scanner mistakes this file for a leak.
AWS = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's documented example id
AWS_TEMP = "ASIA" + "Y34FZKBOKMUTVV7A"
GH = "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GH_OAUTH = "gh" + "o_" + "16C7e42F292c6912E7710c838347Ae178B4a"
GH_SERVER = "gh" + "s_" + "abcdefghijklmnopqrstuvwxyz0123456789"
GH_PAT = "github" + "_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
SLACK_BOT = "xo" + "xb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
SLACK_USER = "xo" + "xp-" + "123456789012-123456789012-123456789012-0123456789abcdef0123456789abcdef"
GOOGLE = "AI" + "zaSyD-1234567890abcdefghijklmnopqrstu"
BASIC = "dXNlcjpwYXNzd29yZA=="  # base64("user:password")
PEM_BODY = [
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cK2",
    "Zm9vYmFy",
]
PEM = "-----BEGIN " + "PRIVATE KEY-----\n" + "\n".join(PEM_BODY) + "\n-----END " + "PRIVATE KEY-----"
PEM_RSA = PEM.replace("BEGIN PRIVATE", "BEGIN RSA PRIVATE").replace("END PRIVATE", "END RSA PRIVATE")

# (kind, text, what must be gone). `True` in the 4th column: the old masker (before NFKC matching
# and the new detectors) let this through.
POSITIVES: list[tuple[str, str, str, bool]] = [
    # phone numbers
    ("PHONE", "お電話は03(1234)5678までお願いします", "03(1234)5678", True),
    ("PHONE", "ＴＥＬ：０３（１２３４）５６７８", "０３（１２３４）５６７８", True),
    ("PHONE", "携帯 090.1234.5678 にどうぞ", "090.1234.5678", True),
    ("PHONE", "代表 03 (1234) 5678", "03 (1234) 5678", True),
    ("PHONE", "携帯 ０９０．１２３４．５６７８", "０９０．１２３４．５６７８", True),
    ("PHONE", "折り返しは 090-1234-5678 まで", "090-1234-5678", False),
    ("PHONE", "(03)1234-5678", "(03)1234-5678", False),
    ("PHONE", "電話0312345678", "0312345678", False),
    ("PHONE", "フリーダイヤル 0120-123-456", "0120-123-456", False),
    ("PHONE", "call +81 90-1234-5678", "90-1234-5678", False),
    ("PHONE", "０６－６１２３－４５６７", "６１２３", False),
    # e-mail
    ("EMAIL", "ｔａｎａｋａ＠ｅｘａｍｐｌｅ．ｃｏ．ｊｐ", "ｔａｎａｋａ", True),
    ("EMAIL", "連絡先はｙａｍａｄａ．ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍまで", "ｙａｍａｄａ", True),
    ("EMAIL", "mail: taro.yamada+inv@example.co.jp.", "taro.yamada+inv@example.co.jp", False),
    # cards (all pass the Luhn check)
    ("CARD", "カード番号 4111－1111－1111－1111", "4111－1111－1111－1111", True),
    ("CARD", "カード 4111　1111　1111　1111 です", "4111　1111　1111　1111", True),
    ("CARD", "４１１１ー１１１１ー１１１１ー１１１１", "４１１１ー１１１１ー１１１１ー１１１１", True),
    ("CARD", "４２４２４２４２４２４２４２４２", "４２４２４２４２４２４２４２４２", False),
    ("CARD", "Amex 3782 822463 10005", "822463", False),
    ("CARD", "card 5555-5555-5555-4444 declined", "5555-5555-5555-4444", False),
    # My Number
    ("MYNUMBER", "個人番号 １２３４　５６７８　９０１８", "５６７８", True),
    ("MYNUMBER", "マイナンバー 1234-5678-9018", "1234-5678-9018", False),
    # postcodes and street addresses
    ("POSTCODE", "〒100-0001 東京都千代田区千代田1-1", "100-0001", True),
    ("ADDRESS", "〒100-0001 東京都千代田区千代田1-1", "千代田1-1", True),
    ("POSTCODE", "〒１００－０００１", "１００－０００１", True),
    ("POSTCODE", "郵便番号：530-0001", "530-0001", True),
    ("ADDRESS", "大阪府大阪市北区梅田3丁目1番3号 梅田ビル", "梅田3丁目1番3号", True),
    ("ADDRESS", "東京都港区六本木６－１０－１", "六本木６－１０－１", True),
    ("ADDRESS", "愛知県名古屋市中村区名駅四丁目7番1号", "名駅四丁目7番1号", True),
    ("ADDRESS", "長野県北佐久郡軽井沢町大字軽井沢1323番地の5", "1323番地の5", True),
    # bank accounts
    ("ACCOUNT", "三井住友銀行 渋谷支店 普通 1234567", "1234567", True),
    ("ACCOUNT", "口座番号：1234567", "1234567", True),
    ("ACCOUNT", "当座 0123456", "0123456", True),
    ("ACCOUNT", "普通預金　口座番号１２３４５６７", "１２３４５６７", True),
    ("ACCOUNT", "ゆうちょ銀行 記号12345 番号12345678", "12345678", True),
    # secrets
    ("SECRET", f"aws_access_key_id = {AWS}", AWS, True),
    ("SECRET", f"temporary {AWS_TEMP} expires", AWS_TEMP, True),
    ("SECRET", f"GITHUB_TOKEN={GH}", GH, True),
    ("SECRET", f"oauth {GH_OAUTH}", GH_OAUTH, True),
    ("SECRET", f"app {GH_SERVER}", GH_SERVER, True),
    ("SECRET", f"pat {GH_PAT}", GH_PAT, True),
    ("SECRET", f"SLACK_BOT_TOKEN={SLACK_BOT}", SLACK_BOT, True),
    ("SECRET", f"user token {SLACK_USER}", SLACK_USER, True),
    ("SECRET", f"key={GOOGLE}", GOOGLE, False),
    ("SECRET", f"Authorization: Basic {BASIC}", BASIC, True),
    ("SECRET", f'{{"authorization": "basic {BASIC}"}}', BASIC, True),
    ("SECRET", "Authorization: Bearer abcdefghijklmnop123", "abcdefghijklmnop123", False),
    (
        "SECRET",
        "ヘッダーは Ａｕｔｈｏｒｉｚａｔｉｏｎ：Ｂｅａｒｅｒ　ａｂｃｄｅｆｇｈｉｊ１２３",
        "ａｂｃｄｅｆｇｈｉｊ１２３",
        True,
    ),
    ("SECRET", f"key file:\n{PEM}\nend of mail", PEM_BODY[0], True),
    ("SECRET", f"{PEM_RSA}", PEM_BODY[1], True),
    ("SECRET", '{"key": "' + PEM.replace("\n", "\\n") + '"}', PEM_BODY[1], True),
    ("SECRET", PEM.split("-----END")[0], PEM_BODY[1], True),  # cut off before its end line
]

# Ordinary business and technical text: must come out unchanged.
NEGATIVES: list[str] = [
    "納期は2026-12-03、検収は2026/12/10、請求は2026年12月25日です",
    "日付 2026.12.03、時刻 10:30、10:30:45 に開始",
    "営業時間 09:00-18:00、受付 03-12-2026 まで",
    "注文番号 A-100 と A-100-2003 を発送しました",
    "価格は¥12,800（税込）、合計￥1,234,567",
    "数量 120 個、在庫 1234567 個、重量 2.5kg",
    "version v1.2.3, Python 3.11.7, gpt-4o-2024-08-06, GPT-4.1, v1.2.3.4",
    "ISBN978-4-7741-1234-5 と ISBN 4-7741-1234-X の本",
    "部品コード 100-0001 と 530-0001 を在庫から",
    "市場規模は2-3倍、市場2-3倍に拡大",
    "東京都2026-12-03開催、大阪府内の3店舗",
    "普通は 3 日で届きます。普通に1234円です",
    "預金残高 1234567円、普通預金の利息 1000000円",
    "区分1-2の項目、区間3-4、都度1-2回、市販品2-3個",
    "APIキーは銀行口座のパスワードと同様に機密です",
    "uses bearer authentication. Bearer tokens are short-lived.",
    "risk-management-system and task-scheduler-service",
    "x[::-1] and std::vector and ::1",
    "created 1700000000, score 2.227119921371923e-6, ratio 0.0312345678",
    "evalrun_67e0c7d31560819090d60c0780591042",
    "ticket 1234567890123, invoice #4521, HTTP 429/503",
    "IDは 0012345678 です",
    "3F 会議室、301号室、第2四半期",
    "export OPENAI_API_KEY='sk-...' and \"Authorization: Bearer $OPENAI_API_KEY\"",
    "https://medium.com/@odhitom09/openai-responses-api-guide",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUTm9uZQ==\n-----END CERTIFICATE-----",
]


@pytest.mark.parametrize(
    ("kind", "text", "gone", "new"), POSITIVES, ids=[f"{k}-{i}" for i, (k, *_) in enumerate(POSITIVES)]
)
def test_positive(kind: str, text: str, gone: str, new: bool) -> None:
    out = mask(text)
    assert gone not in out, out
    assert f"[{kind}]" in out, out


@pytest.mark.parametrize("text", NEGATIVES)
def test_negative(text: str) -> None:
    assert mask(text) == text


def test_every_detector_has_positives_and_the_attacks_are_covered() -> None:
    kinds = {kind for kind, *_ in POSITIVES}
    assert kinds == {"PHONE", "EMAIL", "CARD", "MYNUMBER", "POSTCODE", "ADDRESS", "ACCOUNT", "SECRET"}
    assert sum(new for *_, new in POSITIVES) >= 30


def test_text_outside_masked_spans_is_kept_as_written() -> None:
    text = (
        "株式会社サンプル（担当：山田）ＴＥＬ：０３（１２３４）５６７８　㈱テスト №5 ½ ｶﾞｲﾄﾞ、"
        "メール ｔａｎａｋａ＠ｅｘａｍｐｌｅ．ｃｏ．ｊｐ まで。"
    )
    out = mask(text)
    assert out == "株式会社サンプル（担当：山田）ＴＥＬ：[PHONE]　㈱テスト №5 ½ ｶﾞｲﾄﾞ、メール [EMAIL] まで。"
    # the matching copy has the same length and positions, characters with a longer NFKC form unchanged
    normal = normalise(text)
    assert len(normal) == len(text) and "㈱" in normal and "№" in normal and "½" in normal
    assert "(担当:山田)TEL:03(1234)5678 " in normal


def test_spans_are_reported_against_the_original_text() -> None:
    text = "〒１００－０００１ 東京都千代田区千代田１－１、口座番号：１２３４５６７"
    spans = find(text)
    assert [(text[s:e], kind) for s, e, kind in spans] == [
        ("１００－０００１", "POSTCODE"),
        ("千代田１－１", "ADDRESS"),
        ("１２３４５６７", "ACCOUNT"),
    ]
    assert mask(text) == "〒[POSTCODE] 東京都千代田区[ADDRESS]、口座番号：[ACCOUNT]"


def test_earlier_kinds_win_and_masking_is_idempotent() -> None:
    text = f"mail taro@example.jp, tel 03(1234)5678, key {GH}, 普通 1234567, 〒100-0001 港区芝公園4-2-8"
    once = mask(text)
    assert mask(once) == once
    assert once.count("[") == 6
    assert mask("already [REDACTED] here") == "already [SECRET] here"
    assert mask("0312345678@example.jp") == "[EMAIL]"  # not [PHONE]@example.jp
    assert mask(f"token {GH[:4]}4111111111111111{GH[20:]}") == "token [SECRET]"  # not a card inside


def test_redact_keeps_the_header_name_and_scheme() -> None:
    assert redact(f"Authorization: Basic {BASIC}") == "Authorization: Basic [REDACTED]"
    assert redact(f"Proxy-Authorization: bearer {GH}") == "Proxy-Authorization: bearer [REDACTED]"
    assert redact(f"before\n{PEM}\nafter") == "before\n[REDACTED]\nafter"
    assert redact("risk-adjusted returns") == "risk-adjusted returns"


@pytest.mark.parametrize(
    "unit", ["a", "1", "1-", "０", "a@", "東京都1-", "口座", "-----BEGIN PRIVATE KEY-----", "Bearer ", "::"]
)
def test_time_is_linear_in_the_length(unit: str) -> None:
    """Long runs of one shape (base64 data, digit dumps) must not make a regex backtrack
    quadratically: 4x the text may cost at most ~4x the time (8x allowed for noise)."""
    small, large = unit * (20_000 // len(unit)), unit * (80_000 // len(unit))

    def best(text: str) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            mask(text)
            times.append(time.perf_counter() - start)
        return min(times)

    t_small, t_large = best(small), best(large)
    assert t_large < max(8 * t_small, 0.05), (t_small, t_large)


# --- the real Japanese guides ----------------------------------------------------------------

_CORPUS_CANDIDATES = [
    Path(__file__).resolve().parents[2] / "shared" / "corpus" / "ja-guides",
    Path("/work/shared/corpus/ja-guides"),
]
CORPUS = next((p for p in _CORPUS_CANDIDATES if p.is_dir()), _CORPUS_CANDIDATES[0])
# Tokens that are ordinary whatever their context: a masked span that is one of these is a false
# positive by construction (dates, times, versions, prices, quantities, HTTP statuses, sizes).
_ORDINARY = re.compile(
    r"(?:19|20)\d\d[-/.年]\d{1,2}[-/.月]\d{1,2}日?"
    r"|\d{1,2}:\d\d(?::\d\d)?"
    r"|v?\d+(?:\.\d+){1,3}"
    r"|[¥￥$]?\d{1,3}(?:,\d{3})+(?:円)?"
    r"|\d{3}(?:/\d{3})+"
    r"|\d+x\d+"
    r"|\d{1,6}"
)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")
def test_corpus_of_japanese_guides() -> None:
    """The guides are published how-to articles: they hold no card, My Number or bank account
    numbers, so any such mask is a false positive; and no masked span may be an ordinary token
    (a date, a version, a price...). Secrets are allowed: the guides show placeholder keys."""
    files = sorted(CORPUS.glob("*.txt"))
    assert files
    kinds: Counter[str] = Counter()
    total = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        total += len(text)
        spans = find(text)
        out = mask(text)
        assert mask(out) == out
        for start, end, kind in spans:
            kinds[kind] += 1
            span = normalise(text[start:end])
            assert not _ORDINARY.fullmatch(span), (path.name, kind, span)
        # personal-data masks leave the documents readable: well under 1% of the characters
        assert sum(end - start for start, end, kind in spans if kind != "SECRET") < 0.01 * len(text)
    assert total > 10_000
    for kind in ("CARD", "MYNUMBER", "ACCOUNT"):
        assert kinds[kind] == 0, kinds
    # personal-data kinds together: at most one per 10,000 characters of how-to prose
    personal = sum(n for kind, n in kinds.items() if kind not in ("SECRET", "EMAIL", "IP"))
    assert personal <= total / 10_000, kinds


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")
def test_samples_planted_in_the_guides_are_masked_and_the_rest_is_unchanged() -> None:
    """Each positive sample, as a line of its own among the real lines of a guide, is masked,
    and the guide's own lines come out exactly as when masked alone: no detector reaches from
    a sample into the prose around it or the other way round."""
    for path in sorted(CORPUS.glob("*.txt")):
        lines = path.read_text(encoding="utf-8").split("\n")
        step = max(1, len(lines) // (len(POSITIVES) + 1))
        chunks = ["\n".join(lines[i : i + step]) for i in range(0, len(lines), step)]
        planted, expected = [], []
        for chunk, sample in zip(chunks, POSITIVES):
            planted += [chunk, sample[1]]
            expected += [mask(chunk), mask(sample[1])]
        planted += chunks[len(POSITIVES) :]
        expected += [mask(chunk) for chunk in chunks[len(POSITIVES) :]]
        out = mask("\n".join(planted))
        assert out == "\n".join(expected), path.name
        for kind, _, gone, _ in POSITIVES[: len(chunks)]:
            assert gone not in out, (path.name, kind, gone)
