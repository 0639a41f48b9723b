"""Generate images and save them: `unyo.generate_image(...)` and its async twin.

    result = unyo.generate_image("和風の猫のイラスト", output="cat.png", size="1024x1024", quality="medium")
    result.paths, result.cost_usd, result.call.worst_case_usd

One guarded `images.generate` call (budget reserved from n, size and quality before sending;
the ledger settles what the provider reports; the audit row holds the masked prompt and each
file's SHA-256). Images come back as base64 (asked for explicitly from DALL·E) and are written
atomically with mode 0600 (`_records._private_files`); n > 1 writes out.png, out-2.png, ...
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from unyo._providers._catalog import model_info
from unyo._quality._flow import Blocking, Flow, Method, arun, default_async_client, run
from unyo._records._private_files import write_private
from unyo._types._call import CallInfo
from unyo._types._errors import MalformedResponse
from unyo._types._money_text import money_text

DEFAULT_MODEL = "gpt-image-1"


@dataclass
class GeneratedImages:
    paths: list[Path]
    sha256: list[str]
    call: CallInfo
    revised_prompts: list[str | None] = field(default_factory=list)

    @property
    def calls(self) -> list[CallInfo]:
        return [self.call]

    @property
    def cost_usd(self) -> Decimal | None:
        return self.call.cost_usd

    def to_dict(self) -> dict[str, Any]:
        return {
            "paths": [str(p) for p in self.paths],
            "sha256": self.sha256,
            "revised_prompts": self.revised_prompts,
            "model": self.call.model,
            "status": self.call.status,
            "cost_usd": money_text(self.call.cost_usd),
            "worst_case_usd": None if self.call.worst_case_usd is None else str(self.call.worst_case_usd),
            "budget": self.call.budget,
            "call_id": self.call.call_id,
        }


def output_paths(output: str | Path, count: int) -> list[Path]:
    """out.png, out-2.png, out-3.png ... for `count` images."""
    base = Path(output)
    return [base if i == 0 else base.with_name(f"{base.stem}-{i + 1}{base.suffix}") for i in range(count)]


def check_output(output: str | Path, count: int) -> None:
    """Refuse an output the images could not be written to, before they are paid for."""
    import os

    from unyo._types._errors import BadInput

    for path in output_paths(output, count):
        folder = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            raise BadInput(f"{path}: is a directory; give a file name such as {path / 'image.png'} (nothing was sent)")
        if not folder.is_dir():
            raise BadInput(f"{path}: the folder {folder} does not exist (nothing was sent)")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise BadInput(f"{path}: the folder {folder} is not writable (nothing was sent)")


def _save(data: list[Any], output: str | Path) -> tuple[list[Path], list[str]]:
    paths = output_paths(output, len(data))
    images = []
    for index, item in enumerate(data):
        b64 = getattr(item, "b64_json", None)
        try:
            images.append(base64.b64decode(b64 or "", validate=True))
        except (binascii.Error, ValueError):
            images.append(b"")
        if not images[-1]:
            raise MalformedResponse(f"image {index + 1} came back without base64 data; nothing was saved")
    for path, raw in zip(paths, images, strict=True):
        write_private(path, raw)
    return paths, [hashlib.sha256(raw).hexdigest() for raw in images]


def generate_flow(
    client: Any,
    prompt: str,
    *,
    output: str | Path,
    model: str | None,
    size: str | None,
    quality: str | None,
    n: int,
    **extra: Any,
) -> Flow[GeneratedImages]:
    target = str(model or DEFAULT_MODEL)
    check_output(output, n if isinstance(n, int) and 0 < n <= 10 else 1)
    params: dict[str, Any] = {"prompt": prompt, "model": target, "n": n, **extra}
    if size:
        params["size"] = size
    if quality:
        params["quality"] = quality
    if model_info(target, client.settings.models).facts.get("per_image"):
        params.setdefault("response_format", "b64_json")  # DALL·E answers with URLs unless asked
    response = yield Method(("images", "generate"), params)
    paths, hashes = yield Blocking(_save, list(response.data or []), output, io=False)
    revised = [getattr(item, "revised_prompt", None) for item in response.data or []]
    return GeneratedImages(paths, hashes, response._unyo_call, revised)


def generate_image(
    prompt: str,
    *,
    output: str | Path = "image.png",
    model: str | None = None,
    size: str | None = None,
    quality: str | None = None,
    n: int = 1,
    profile: str | None = None,
    client: Any = None,
    **extra: Any,
) -> GeneratedImages:
    """Generate `n` images for `prompt` through the Images API and save them (0600, atomically)."""
    from unyo._quality._ask import default_client

    client = client or default_client(profile)
    flow = generate_flow(client, prompt, output=output, model=model, size=size, quality=quality, n=n, **extra)
    return run(flow, client)


async def agenerate_image(
    prompt: str,
    *,
    output: str | Path = "image.png",
    model: str | None = None,
    size: str | None = None,
    quality: str | None = None,
    n: int = 1,
    profile: str | None = None,
    client: Any = None,
    **extra: Any,
) -> GeneratedImages:
    """The async twin of `generate_image`, on an AsyncOpenAI."""
    client = client or default_async_client(profile)
    flow = generate_flow(client, prompt, output=output, model=model, size=size, quality=quality, n=n, **extra)
    return await arun(flow, client)
