"""The fault server's Images and Audio API, and its billing of image input, as the provider does.

    POST /images/generations    PNGs of the asked size (b64_json, or a URL served back by
                                GET /_generated/ID.png); `usage` for the GPT image models
    POST /audio/transcriptions  multipart `file`: WAV length from its header (other formats:
    POST /audio/translations    16 kB a second); whisper-1 reports seconds, the gpt-4o models tokens
    POST /audio/speech          a silent WAV as long as the text would take to say
    image input                 `image_input_tokens(body)`: data: URLs measured, http URLs fetched
                                and measured, each counted by the model's rule (`_providers._vision`)

Every answer is billed in `server.media_bill` (one dict per call: api, model, usd, units), priced
from the same list prices unyo ships, computed from what the server itself produced.
"""

from __future__ import annotations

import base64
import io
import math
import time
import urllib.request
import wave
from decimal import Decimal
from typing import Any

from unyo._providers import _shapes
from unyo._providers._audio_files import duration_s
from unyo._providers._catalog import model_info, vision_facts
from unyo._providers._image_files import dimensions
from unyo._providers._vision import data_url_bytes, image_parts, image_tokens
from unyo._types._media_prices import AudioPrice, ImagePrice

TRANSCRIPT = "こんにちは、これはテストの音声です。"
AUDIO_TOKENS_PER_MINUTE = 1000  # what the "provider" bills for a minute of audio in or out
SPEECH_SECONDS_PER_CHARACTER = 0.06
MEDIA_PATHS = ("/images/", "/audio/", "/_generated/")


def image_input_tokens(body: dict[str, Any], responses: bool) -> int:
    """The image tokens a request is billed: each image measured (URLs fetched), `auto` as high."""
    rule = vision_facts(str(body.get("model", "")))
    if rule is None:
        return 0
    total = 0
    for part in image_parts("responses" if responses else "chat", body):
        raw = data_url_bytes(part.url)
        if raw is None and part.url.startswith(("http://", "https://")):
            try:
                with urllib.request.urlopen(part.url, timeout=5) as answer:  # noqa: S310 - the test's own server
                    raw = answer.read()
            except OSError:
                raw = None
        size = dimensions(raw) if raw else None
        total += image_tokens(rule, *(size or (None, None)), part.detail)
    return total


def serve_media(fault: Any, method: str, path: str, body: dict[str, Any]) -> tuple[Any, ...]:
    """(status, payload[, headers, raw bytes]) for the fault server's `_send_json`."""
    if method == "GET" and path.startswith("/_generated/"):
        png = fault.generated.get(path.rsplit("/", 1)[-1].removesuffix(".png"))
        if png is None:
            return 404, _shapes.error_json(404, "no such image", None)
        return 200, None, {"content-type": "image/png"}, png
    if method == "POST" and path == "/images/generations":
        return _generate(fault, body)
    if method == "POST" and path in ("/audio/transcriptions", "/audio/translations"):
        return _transcribe(fault, body, path.endswith("translations"))
    if method == "POST" and path == "/audio/speech":
        return _speech(fault, body)
    return 404, _shapes.error_json(404, f"no route {method} {path}", "unknown_url")


def _bill(fault: Any, api: str, model: str, usd: Decimal, **units: Any) -> None:
    with fault._lock:
        fault.media_bill.append({"api": api, "model": model, "usd": usd, **units})


def _png(size: str) -> bytes:
    from PIL import Image

    width, height = (int(x) for x in size.split("x"))
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


def _generate(fault: Any, body: dict[str, Any]) -> tuple[Any, ...]:
    model = str(body.get("model") or "dall-e-2")
    price = ImagePrice.from_facts(model_info(model).facts)
    n = int(body.get("n") or 1)
    token_model = price is not None and price.output_tokens is not None
    size = str(body.get("size") or "1024x1024").replace("auto", "1024x1024")
    quality = body.get("quality") or "auto"
    if quality == "auto" and price is not None:  # GPT image: medium; DALL·E: the best (dearest) it offers
        table = price.per_image or {}
        best = max((k for k in table if k.endswith(f":{size}")), key=lambda k: Decimal(str(table[k])), default="")
        quality = "medium" if token_model else best.partition(":")[0] or "standard"
    if price is None or not price.offers(quality, size) or not 1 <= n <= 10 or not body.get("prompt"):
        return 400, _shapes.error_json(400, f"invalid image request for {model}: {quality} {size} n={n}", None)
    png = _png(size)
    data = []
    for _ in range(n):
        if token_model or body.get("response_format") == "b64_json":
            data.append({"b64_json": base64.b64encode(png).decode("ascii")})
        else:
            image_id = _shapes.new_id("img")
            fault.generated[image_id] = png
            data.append({"url": f"{fault.url}/_generated/{image_id}.png"})
    payload: dict[str, Any] = {"created": int(time.time()), "data": data}
    if token_model:
        text = fault_counter().count_text(str(body["prompt"]))
        out = n * price.image_tokens(quality, size)
        payload.update(size=size, quality=quality, output_format="png", background="opaque")
        payload["usage"] = {"input_tokens": text, "output_tokens": out, "total_tokens": text + out,
                            "input_tokens_details": {"text_tokens": text, "image_tokens": 0}}  # fmt: skip
        usd = price.cost(n, quality, size, text, 0, out)
    else:
        usd = price.cost(n, quality, size, 0, 0, 0)
    _bill(fault, "images", model, usd, images=n, quality=quality, size=size)
    return 200, payload


def fault_counter() -> Any:
    from unyo._providers._tokens import bpe_counter

    return bpe_counter("o200k_base")


def _transcribe(fault: Any, body: dict[str, Any], translate: bool) -> tuple[Any, ...]:
    upload, model = body.get("file"), str(body.get("model") or "")
    price = AudioPrice.from_facts(model_info(model).facts)
    if not isinstance(upload, dict) or price is None or (translate and model != "whisper-1"):
        return 400, _shapes.error_json(400, f"a `file` and a transcription model are required, got {model!r}", None)
    content = upload["content"]
    seconds = math.ceil(duration_s(content) or len(content) / 16000)
    text = "Hello, this is the test audio." if translate else TRANSCRIPT
    payload: dict[str, Any] = {"text": text}
    if price.per_minute is not None:
        payload["usage"] = {"type": "duration", "seconds": seconds}
        usd = price.transcription_cost(seconds, 0, 0, 0)
    else:
        counter = fault_counter()
        prompt, out = counter.count_text(str(body.get("prompt") or "")), counter.count_text(text)
        audio = math.ceil(seconds * AUDIO_TOKENS_PER_MINUTE / 60)
        payload["usage"] = {"type": "tokens", "input_tokens": prompt + audio, "output_tokens": out,
                            "total_tokens": prompt + audio + out,
                            "input_token_details": {"text_tokens": prompt, "audio_tokens": audio}}  # fmt: skip
        usd = price.transcription_cost(None, prompt, audio, out)
    _bill(fault, "translations" if translate else "transcriptions", model, usd, seconds=seconds)
    if body.get("response_format") == "text":
        return 200, None, {"content-type": "text/plain"}, text.encode()
    return 200, payload


def _speech(fault: Any, body: dict[str, Any]) -> tuple[Any, ...]:
    model, text = str(body.get("model") or ""), str(body.get("input") or "")
    price = AudioPrice.from_facts(model_info(model).facts)
    if price is None or not text or len(text) > 4096:
        return 400, _shapes.error_json(400, "`input` (1-4096 characters) and a speech model are required", None)
    seconds = len(text) * SPEECH_SECONDS_PER_CHARACTER / float(body.get("speed") or 1.0)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(seconds * 8000))
    if price.per_million_characters is not None:
        usd = len(text) * price.per_million_characters / Decimal(1_000_000)
    else:
        tokens = fault_counter().count_text(text + str(body.get("instructions") or ""))
        audio = math.ceil(seconds * AUDIO_TOKENS_PER_MINUTE / 60)
        usd = (tokens * price.text_input + audio * price.audio_output) / Decimal(1_000_000)
    _bill(fault, "speech", model, usd, characters=len(text), seconds=seconds)
    return 200, None, {"content-type": "audio/wav"}, out.getvalue()


def bill_total(fault: Any, api: str | None = None) -> Decimal:
    return sum((e["usd"] for e in fault.media_bill if api is None or e["api"] == api), Decimal(0))
