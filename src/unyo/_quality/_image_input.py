"""Images for a question: local files and URLs turned into the request parts of either API.

    unyo.ask("この画像の内容は?", images=["photo.jpg", "https://example.com/a.png"])

A local file is checked (`_providers._image_files`: type by magic bytes, size, fully decoded),
scaled down to the largest size the model can use (`_providers._vision.useful_size`: more pixels
cost tokens or upload time and buy nothing), and sent as a base64 data: URL. A URL is checked
(http/https, no private address unless `image_hosts` allows the host) and sent as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unyo._providers._catalog import vision_facts
from unyo._providers._image_files import check_image, check_url, dimensions, is_url, read_image_file
from unyo._providers._vision import useful_size

Image = str | os.PathLike[str]


def image_url_for(image: Image, model: str, detail: str, image_hosts: Sequence[str], downscale: bool = True) -> str:
    """A data: URL for a local file (checked, scaled down), or the checked URL itself."""
    text = os.fspath(image)
    if is_url(text):
        return check_url(text, image_hosts)
    data = read_image_file(Path(text))
    limit = None
    if downscale:
        size = dimensions(data)
        if size is not None:
            limit = useful_size(vision_facts(model), *size, detail)
    return check_image(data, text, limit).data_url()


def with_images(
    api: str, prompt: str, images: Sequence[Image], model: str, detail: str, image_hosts: Sequence[str]
) -> list[dict[str, Any]]:
    """One user turn holding the prompt and the images, in the shape of `api`."""
    if detail not in ("low", "high", "auto"):
        raise ValueError(f"image detail must be low, high or auto, got {detail!r}")
    urls = [image_url_for(image, model, detail, image_hosts) for image in images]
    if api == "responses":
        parts: list[dict[str, Any]] = [{"type": "input_text", "text": prompt}]
        parts += [{"type": "input_image", "image_url": url, "detail": detail} for url in urls]
    else:
        parts = [{"type": "text", "text": prompt}]
        parts += [{"type": "image_url", "image_url": {"url": url, "detail": detail}} for url in urls]
    return [{"role": "user", "content": parts}]
