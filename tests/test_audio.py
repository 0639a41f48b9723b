"""Audio (issue 12: priced, or refused under a budget): transcription, translation and speech
reserve their worst case before sending and settle what the provider bills."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import wave
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import unyo
from unyo.testing import FaultServer
from unyo.testing._images import bill_total

from .conftest import fast_settings


def wav(seconds: float, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(rate * seconds))
    return out.getvalue()


def ledger() -> list[dict[str, Any]]:
    with sqlite3.connect(Path(os.environ["UNYO_HOME"]) / "unyo.db") as conn:
        conn.row_factory = sqlite3.Row
        return [
            dict(r) for r in conn.execute("SELECT api, model, status, cost, worst_case, prompt, output FROM unyo_calls")
        ]


@pytest.mark.parametrize("model", ["whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"])
def test_transcription_reserves_from_the_wav_header_and_settles_the_bill(
    fault: FaultServer, tmp_path: Path, model: str
) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    path = tmp_path / "meeting.wav"
    path.write_bytes(wav(90))
    with open(path, "rb") as f:
        result = client.audio.transcriptions.create(model=model, file=f)
    info = unyo.call_info(result)
    assert result.text and info.status == "completed" and info.budget == "reserved"
    assert info.cost_usd == bill_total(fault) and info.worst_case_usd >= info.cost_usd > 0
    if model == "whisper-1":
        assert info.cost_usd == Decimal("0.009")  # 90 s at $0.006 a minute
    row = ledger()[-1]
    assert row["api"] == "transcriptions" and Decimal(row["cost"]) == bill_total(fault)
    assert row["output"] == result.text  # the transcript, masked by the audit policy; never the audio


def test_translation_and_a_file_given_as_bytes(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    result = client.audio.translations.create(model="whisper-1", file=("call.wav", wav(30)))
    assert unyo.call_info(result).cost_usd == Decimal("0.003") == bill_total(fault)


def test_audio_of_unknown_length_is_refused_under_a_budget_and_runs_without_one(fault: FaultServer) -> None:
    mp3 = ("voice.mp3", b"ID3\x04" + b"\x00" * 32000)
    budgeted = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    with pytest.raises(unyo.UnpricedModel, match="length cannot be read before sending"):
        budgeted.audio.transcriptions.create(model="whisper-1", file=mp3)
    assert not any(r["path"].startswith("/audio") for r in fault.requests)
    free = unyo.OpenAI(settings=fast_settings(fault))
    result = free.audio.transcriptions.create(model="whisper-1", file=mp3)
    info = unyo.call_info(result)
    assert info.cost_usd == bill_total(fault) > 0 and info.worst_case_usd is None  # the reported seconds, billed
    assert [r["status"] for r in ledger()] == ["failed", "completed"]


def test_a_transcription_over_budget_is_refused_before_sending(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, max_request_usd="0.01"))
    with pytest.raises(unyo.BudgetExceeded, match="600.0 s of audio"):
        client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("long.wav", wav(600, rate=8000)))
    assert fault.requests == []


def test_speech_is_priced_by_characters_or_tokens(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    text = "本日の会議は十五時に始まります。"
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input=text)
    info = unyo.call_info(audio)
    assert audio.content.startswith(b"RIFF") and info.cost_usd == len(text) * Decimal("15") / 10**6
    assert info.cost_usd == bill_total(fault) == info.worst_case_usd
    row = ledger()[-1]
    assert row["prompt"] == text and row["output"].startswith("audio sha256:")
    tokens = client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input=text, instructions="calm")
    mini = unyo.call_info(tokens)
    # no usage comes back for speech: the worst case is charged, never less than the bill
    assert mini.cost_usd == mini.worst_case_usd >= bill_total(fault, "speech") - info.cost_usd


def test_audio_on_the_async_client(fault: FaultServer) -> None:
    async def main() -> Any:
        client = unyo.AsyncOpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
        return await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav(12)))

    result = asyncio.run(main())
    assert unyo.call_info(result).cost_usd == Decimal("0.0012") == bill_total(fault)


def test_the_local_profile_refuses_audio_clearly() -> None:
    local = unyo.OpenAI(profile="local")
    with pytest.raises(unyo.ConfigError, match="does not serve the Images or Audio API.*openai"):
        local.audio.speech.create(model="tts-1", voice="alloy", input="hi")
