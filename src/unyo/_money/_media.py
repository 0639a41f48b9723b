"""The price of an Images or Audio API call, fixed before it is sent: a `Quote`.

    images.generate                 n x one image by quality and size (DALL·E), or prompt tokens +
                                    n x the image's output tokens (GPT image models)
    audio.transcriptions/translations   the file's duration (WAV header) x per minute, or its
                                    worst-case audio + text tokens; unknown duration: no worst case
    audio.speech                    input characters (tts-1), or text + worst-case audio tokens

`quote_for(call)` is what `_budget.price_of` returns for these APIs: its `worst` is reserved, and
`observe(result)` reads what the provider reported (usage, images returned, seconds), so the
settled cost is what the provider bills. The audit record keeps the prompt (masked, per policy)
and a SHA-256 of each image or audio file returned, never the file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from unyo._types._call import Usage
from unyo._types._errors import BadRequest, ConfigError
from unyo._types._media_prices import AudioPrice, ImagePrice, choices

if TYPE_CHECKING:
    from unyo._core._call import Call

MEDIA_APIS = ("images", "transcriptions", "translations", "speech")
ZERO = Decimal(0)


@dataclass
class Quote:
    api: str
    what: str  # for people: "2 images, high 1024x1024"
    worst: Decimal | None  # None: no worst case known before sending (audio of unknown length)
    price: ImagePrice | AudioPrice
    asked: dict[str, Any] = field(default_factory=dict)
    settled: Decimal | None = None  # set by observe()

    def cost(self, usage: Usage | None) -> Decimal:
        """What the call cost (settle's question); the worst case if nothing was observed."""
        return self.settled if self.settled is not None else (self.worst or ZERO)

    def worst_case(self, input_tokens: int, output_cap: int) -> Decimal | None:
        return self.worst  # None: not known before sending (refused under a budget)

    def observe(self, result: Any, call: Call) -> None:
        """Read the provider's answer: usage, cost, and what the audit log keeps of the output."""
        if self.api == "images":
            self._observe_images(result, call)
        elif self.api == "speech":
            self._observe_speech(result, call)
        else:
            self._observe_transcription(result, call)

    def _observe_images(self, result: Any, call: Call) -> None:
        price = self.price
        assert isinstance(price, ImagePrice)
        data = list(getattr(result, "data", None) or [])
        usage = getattr(result, "usage", None)
        details = getattr(usage, "input_tokens_details", None)
        text_in = int(getattr(details, "text_tokens", 0) or 0)
        image_in = int(getattr(details, "image_tokens", 0) or 0)
        out = int(getattr(usage, "output_tokens", 0) or 0)
        quality = getattr(result, "quality", None) or self.asked.get("quality")
        size = getattr(result, "size", None) or self.asked.get("size")
        call.info.usage = Usage(text_in + image_in, 0, out, 0, reported=usage is not None or bool(price.per_image))
        if usage is None and not price.per_image:  # a token-priced model that reported nothing
            self.settled = self.worst
        else:
            self.settled = price.cost(len(data), quality, size, text_in, image_in, out)
        call.output_text = "\n".join(_image_line(i, item) for i, item in enumerate(data)) or None

    def _observe_speech(self, result: Any, call: Call) -> None:
        content = getattr(result, "content", None)
        audio = content if isinstance(content, bytes) else b""
        price = self.price
        assert isinstance(price, AudioPrice)
        exact = price.per_million_characters is not None  # billed by the characters sent
        call.info.usage = Usage(int(self.asked.get("characters", 0)), 0, 0, 0, reported=exact)
        self.settled = self.worst  # no usage is reported for speech: characters are exact, tokens the worst case
        call.output_text = f"audio sha256:{hashlib.sha256(audio).hexdigest()} ({len(audio)} bytes)"

    def _observe_transcription(self, result: Any, call: Call) -> None:
        price = self.price
        assert isinstance(price, AudioPrice)
        usage = getattr(result, "usage", None)
        text = result if isinstance(result, str) else getattr(result, "text", None)
        call.output_text = text
        kind = getattr(usage, "type", None)
        if kind == "duration" or (usage is None and price.per_minute is not None):
            seconds = getattr(usage, "seconds", None) if usage is not None else None
            call.info.usage = Usage(0, 0, 0, 0, reported=usage is not None)
            # no usage (a text / srt / vtt answer): the header's length, rounded up to the second as
            # billed, which is the worst case reserved
            self.settled = price.transcription_cost(seconds, 0, 0, 0) if seconds is not None else self.worst
            return
        if kind == "tokens":
            details = getattr(usage, "input_token_details", None)
            audio_in = int(getattr(details, "audio_tokens", 0) or 0)
            text_in = int(getattr(details, "text_tokens", 0) or 0) or int(usage.input_tokens) - audio_in
            out = int(usage.output_tokens or 0)
            call.info.usage = Usage(text_in + audio_in, 0, out, 0)
            self.settled = price.transcription_cost(None, text_in, audio_in, out)
            return
        call.info.usage = Usage(0, 0, 0, 0, reported=False)  # a text/srt answer carries no usage
        self.settled = self.worst


def _image_line(index: int, item: Any) -> str:
    b64 = getattr(item, "b64_json", None)
    if b64:
        try:
            raw = base64.b64decode(b64)
        except (binascii.Error, ValueError):
            raw = b""
        return f"image {index}: sha256:{hashlib.sha256(raw).hexdigest()} ({len(raw)} bytes)"
    return f"image {index}: returned as a URL (not downloaded)"


def quote_for(call: Call) -> Quote | None:
    """The call's quote (kept on the call), or None when its model has no price."""
    if call.quote is None:
        call.quote = False  # a refusal below leaves the call unpriced when it is settled
        if not call.settings.profile.media:
            from unyo._providers._profiles import profiles_with

            raise ConfigError(
                f"the {call.settings.profile.name} profile does not serve the Images or Audio API ({call.api}); "
                f"use a profile that does: {', '.join(profiles_with('media'))} (--profile / UNYO_PROFILE)"
            )
        call.quote = _build(call)
    return call.quote if call.quote is not False else None


def _build(call: Call) -> Quote | bool:
    facts, p = call.model.facts, call.params
    prompt_tokens = int(call.info.input_tokens or 0)
    if call.api == "images":
        price = ImagePrice.from_facts(facts)
        if price is None:
            return False
        n = int(p.get("n") or 1)
        quality, size = p.get("quality"), p.get("size")
        if price.per_image and size is None:
            size = "1024x1024"  # DALL·E's default size; an unset quality prices as the best (the API's `auto`)
        if not price.offers(quality, size):
            raise BadRequest(
                f"{call.info.model} has no image of quality {quality or 'auto'} and size {size or 'auto'}; "
                f"it offers {choices(price.table)} (quality:size); not sent",
                call.error_context(),
            )
        what = f"{n} image{'s' if n > 1 else ''}, {quality or 'auto'} {size or 'auto'}"
        worst = price.worst_case(n, quality, size, prompt_tokens)
        return Quote(call.api, what, worst, price, {"quality": quality, "size": size})
    audio = AudioPrice.from_facts(facts)
    if audio is None:
        return False
    if call.api == "speech":
        text = str(p.get("input") or "")
        speed = float(p.get("speed") or 1.0)
        worst = audio.speech_worst_case(len(text), prompt_tokens, speed)
        return Quote(call.api, f"{len(text)} characters of speech", worst, audio, {"characters": len(text)})
    from unyo._providers._audio_files import audio_bytes, duration_s

    found = audio_bytes(p.get("file"))
    seconds = duration_s(found[1]) if found else None
    if seconds is None:
        return Quote(call.api, "audio of unknown length", None, audio, {})
    worst = audio.transcription_worst_case(seconds, prompt_tokens)
    return Quote(call.api, f"{seconds:.1f} s of audio", worst, audio, {"seconds": seconds})
