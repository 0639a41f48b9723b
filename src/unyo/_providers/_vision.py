"""Image input tokens, counted before sending by the provider's published rules.

    tile   (gpt-4o, gpt-4.1, o3, gpt-5 ...)  detail low: `base` tokens. high (and auto, at worst):
           fit in 2048x2048, shrink the shortest side to 768, then base + tile x (512px tiles)
    patch  (gpt-4.1-mini/nano, o4-mini, gpt-5-mini/nano)  32px patches, at most 1536 (a larger
           image is scaled down so it fits), times the model's multiplier

The rules per model live in `data/models.toml` under `[vision]`. An image whose size is not known
before sending (a URL) is counted at its worst case: the largest image the rule allows.
`image_parts` finds the images in either API's request (Responses `input_image`, Chat
`image_url`); the test server bills with the same functions, as the provider does.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

TILE, MAX_SIDE, SHORT_SIDE = 512, 2048, 768
PATCH, MAX_PATCHES = 32, 1536


@dataclass(frozen=True)
class ImagePart:
    url: str  # a data: URL or an http(s) URL
    detail: str  # "low" | "high" | "auto"


def content_parts(api: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every content part of a request: a message's `content` list, and a Responses tool output
    given as a list (`function_call_output` / `custom_tool_call_output` take text, image and file parts)."""
    items = params.get("input") if api == "responses" else params.get("messages")
    for item in items if isinstance(items, list) else []:
        for key in ("content", "output") if isinstance(item, dict) else ():
            parts = item.get(key)
            yield from (part for part in parts if isinstance(part, dict)) if isinstance(parts, list) else ()


def image_parts(api: str, params: dict[str, Any]) -> Iterator[ImagePart]:
    """Every image a Responses (`input_image`) or Chat (`image_url`) request sends."""
    for part in content_parts(api, params):
        if part.get("type") == "input_image" and isinstance(part.get("image_url"), str):
            yield ImagePart(part["image_url"], str(part.get("detail") or "auto"))
        elif part.get("type") == "input_image" and part.get("file_id"):
            yield ImagePart(f"file:{part['file_id']}", str(part.get("detail") or "auto"))
        elif part.get("type") == "image_url":
            inner = part.get("image_url")
            url = inner.get("url") if isinstance(inner, dict) else inner
            detail = inner.get("detail") if isinstance(inner, dict) else None
            yield ImagePart(str(url or ""), str(detail or "auto"))


def tile_size(width: int, height: int) -> tuple[int, int]:
    """The size a tile-rule model sees at high detail (only ever scaled down)."""
    w, h = float(width), float(height)
    if max(w, h) > MAX_SIDE:
        scale = MAX_SIDE / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > SHORT_SIDE:
        scale = SHORT_SIDE / min(w, h)
        w, h = w * scale, h * scale
    return max(1, math.floor(w)), max(1, math.floor(h))


def patch_size(width: int, height: int) -> tuple[int, int]:
    """The size a patch-rule model sees: scaled down until it needs at most 1536 patches."""
    if math.ceil(width / PATCH) * math.ceil(height / PATCH) <= MAX_PATCHES:
        return width, height
    shrink = math.sqrt(PATCH * PATCH * MAX_PATCHES / (width * height))
    w, h = width * shrink, height * shrink
    shrink *= min(math.floor(w / PATCH) / (w / PATCH), math.floor(h / PATCH) / (h / PATCH))
    return max(1, math.floor(width * shrink)), max(1, math.floor(height * shrink))


def useful_size(rule: dict[str, Any] | None, width: int, height: int, detail: str) -> tuple[int, int]:
    """The largest size of this image the model can use: sending more pixels buys nothing."""
    if rule is None:
        return tile_size(width, height)
    if rule.get("rule") == "patch":
        return patch_size(width, height)
    if detail == "low":
        scale = min(1.0, TILE / max(width, height))
        return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
    return tile_size(width, height)


def image_tokens(rule: dict[str, Any], width: int | None, height: int | None, detail: str) -> int:
    """Tokens of one image; width/height None (not known before sending): the rule's worst case."""
    if rule.get("rule") == "patch":
        multiplier = float(rule.get("multiplier", 1))
        if width is None or height is None:
            return math.ceil(MAX_PATCHES * multiplier)
        w, h = patch_size(width, height)
        return math.ceil(math.ceil(w / PATCH) * math.ceil(h / PATCH) * multiplier)
    base, tile = int(rule.get("base", 85)), int(rule.get("tile", 170))
    if detail == "low":
        return base
    if width is None or height is None:  # the most tiles an image can take: 768 x 2048
        return base + tile * math.ceil(SHORT_SIDE / TILE) * math.ceil(MAX_SIDE / TILE)
    w, h = tile_size(width, height)
    return base + tile * math.ceil(w / TILE) * math.ceil(h / TILE)


def data_url_bytes(url: str) -> bytes | None:
    """The bytes of a base64 data: URL; None for any other URL."""
    if not url.startswith("data:"):
        return None
    head, _, payload = url.partition(",")
    if not head.endswith(";base64"):
        return payload.encode()
    try:
        return base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        return b""
