"""What images and audio cost, in exact Decimal dollars, from a price-table entry.

    per image        DALL·E: USD per image by "quality:size"
    image tokens     GPT image models: text input + image input + image output tokens (per 1M);
                     one image's output tokens by "quality:size" (the provider's table)
    per minute       whisper-1: USD per minute of input audio
    audio tokens     gpt-4o(-mini)-transcribe: text + audio input, text output (per 1M)
    per character    tts-1 / tts-1-hd: USD per 1M input characters
    speech tokens    gpt-4o-mini-tts: text input + audio output tokens (per 1M)

`None` from a constructor: the entry has no price of that kind (the call is unpriced).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)
SIXTY = Decimal(60)


def _dec(facts: Mapping[str, Any], key: str) -> Decimal:
    return Decimal(str(facts.get(key, 0)))


def _matching(table: Mapping[str, Any], quality: str | None, size: str | None) -> dict[str, Any]:
    """Entries of a "quality:size" table for what was asked (None or "auto": any)."""
    out = {}
    for key, value in table.items():
        q, _, s = key.partition(":")
        if quality not in (None, "auto") and q != quality:
            continue
        if size not in (None, "auto") and s != size:
            continue
        out[key] = value
    return out


def choices(table: Mapping[str, Any]) -> str:
    return ", ".join(sorted(table))


@dataclass(frozen=True)
class ImagePrice:
    per_image: Mapping[str, Any] | None = None  # "quality:size" -> USD
    output_tokens: Mapping[str, Any] | None = None  # "quality:size" -> image tokens of one image
    text_input: Decimal = ZERO
    image_input: Decimal = ZERO
    output: Decimal = ZERO

    @classmethod
    def from_facts(cls, facts: Mapping[str, Any]) -> ImagePrice | None:
        if facts.get("per_image"):
            return cls(per_image=facts["per_image"])
        if facts.get("image_output_tokens") and facts.get("output") is not None:
            return cls(
                output_tokens=facts["image_output_tokens"],
                text_input=_dec(facts, "input"),
                image_input=_dec(facts, "image_input"),
                output=_dec(facts, "output"),
            )
        return None

    @property
    def table(self) -> Mapping[str, Any]:
        return self.per_image or self.output_tokens or {}

    def offers(self, quality: str | None, size: str | None) -> bool:
        return bool(_matching(self.table, quality, size))

    def image_tokens(self, quality: str | None, size: str | None) -> int:
        """One image's output tokens (the largest that matches an `auto` quality or size)."""
        return max((int(v) for v in _matching(self.output_tokens or {}, quality, size).values()), default=0)

    def one_image(self, quality: str | None, size: str | None) -> Decimal:
        """The most one image can cost (per-image models)."""
        return max((Decimal(str(v)) for v in _matching(self.per_image or {}, quality, size).values()), default=ZERO)

    def worst_case(self, n: int, quality: str | None, size: str | None, prompt_tokens: int) -> Decimal:
        if self.per_image:
            return n * self.one_image(quality, size)
        return (prompt_tokens * self.text_input + n * self.image_tokens(quality, size) * self.output) / MILLION

    def cost(
        self, images: int, quality: str | None, size: str | None, text_in: int, image_in: int, out: int
    ) -> Decimal:
        if self.per_image:
            return images * self.one_image(quality, size)
        return (text_in * self.text_input + image_in * self.image_input + out * self.output) / MILLION


@dataclass(frozen=True)
class AudioPrice:
    per_minute: Decimal | None = None
    per_million_characters: Decimal | None = None
    text_input: Decimal = ZERO
    audio_input: Decimal = ZERO
    output: Decimal = ZERO  # text output (transcription)
    audio_output: Decimal = ZERO  # audio output (speech)
    audio_tokens_per_minute: int = 0  # worst case
    output_tokens_per_minute: int = 0  # worst case (transcription text)
    seconds_per_character: Decimal = ZERO  # worst case (speech)

    @classmethod
    def from_facts(cls, facts: Mapping[str, Any]) -> AudioPrice | None:
        if facts.get("per_minute") is not None:
            return cls(per_minute=_dec(facts, "per_minute"))
        if facts.get("per_million_characters") is not None:
            return cls(per_million_characters=_dec(facts, "per_million_characters"))
        if facts.get("audio_input") is None and facts.get("audio_output") is None:
            return None
        return cls(
            text_input=_dec(facts, "input"),
            audio_input=_dec(facts, "audio_input"),
            output=_dec(facts, "output"),
            audio_output=_dec(facts, "audio_output"),
            audio_tokens_per_minute=int(facts.get("worst_audio_tokens_per_minute", 0)),
            output_tokens_per_minute=int(facts.get("worst_output_tokens_per_minute", 0)),
            seconds_per_character=_dec(facts, "worst_seconds_per_character"),
        )

    def transcription_worst_case(self, seconds: float, prompt_tokens: int) -> Decimal:
        if self.per_minute is not None:
            return math.ceil(seconds) * self.per_minute / SIXTY
        minutes = Decimal(str(seconds)) / SIXTY
        audio = math.ceil(minutes * self.audio_tokens_per_minute)
        text = math.ceil(minutes * self.output_tokens_per_minute)
        return (prompt_tokens * self.text_input + audio * self.audio_input + text * self.output) / MILLION

    def transcription_cost(self, seconds: float | None, text_in: int, audio_in: int, out: int) -> Decimal:
        if self.per_minute is not None:
            return Decimal(str(seconds or 0)) * self.per_minute / SIXTY
        return (text_in * self.text_input + audio_in * self.audio_input + out * self.output) / MILLION

    def speech_worst_case(self, characters: int, prompt_tokens: int, speed: float) -> Decimal:
        if self.per_million_characters is not None:
            return characters * self.per_million_characters / MILLION
        seconds = characters * self.seconds_per_character / Decimal(str(max(speed, 0.25)))
        audio = math.ceil(seconds / SIXTY * self.audio_tokens_per_minute)
        return (prompt_tokens * self.text_input + audio * self.audio_output) / MILLION
