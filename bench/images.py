"""Image input: what unyo's checks and downscale cost and save, against the raw SDK, one run.

Baseline: `openai.OpenAI` sending a 12-megapixel JPEG photo (4000x3000, camera-like noise) as its
own base64 data: URL to the fault server (gpt-4o, detail high). Candidates: `unyo.ask(images=[...])`
with the same file: checked (magic bytes, full decode), scaled down to what gpt-4o uses at high
detail (1024x768), counted and budgeted, then sent; and the drop-in client given the baseline's
full-size data: URL (checked and counted, not scaled). Calls are interleaved. Prints the median
wall time per call, the bytes sent, the image tokens billed and the ratios to the baseline.
"""

from __future__ import annotations

import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openai
from PIL import Image

import unyo
from unyo.testing import FaultServer

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5
KEY = "sk-bench-0000000000000000"


def photo(path: Path) -> None:
    rng = np.random.default_rng(7)
    base = np.linspace(0, 255, 4000, dtype=np.float32)[None, :, None].repeat(3000, 0).repeat(3, 2)
    pixels = np.clip(base + rng.normal(0, 18, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, "JPEG", quality=92)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="unyo-bench-img-"))
    os.environ["UNYO_HOME"] = str(tmp / "home")
    path = tmp / "photo.jpg"
    photo(path)
    url = "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
    content = [
        {"type": "text", "text": "この写真の内容は?"},
        {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
    ]
    messages = [{"role": "user", "content": content}]
    with FaultServer() as server:
        raw = openai.OpenAI(api_key=KEY, base_url=server.url, max_retries=0)
        settings = unyo.load_settings(
            profile="openai", api_key=KEY, base_url=server.url, model="gpt-4o", budget_daily_usd="50"
        )
        guarded = unyo.OpenAI(settings=settings)
        variants = {
            "raw SDK, full-size data: URL": lambda: raw.chat.completions.create(model="gpt-4o", messages=messages),
            "unyo drop-in, same data: URL": lambda: guarded.chat.completions.create(model="gpt-4o", messages=messages),
            "unyo.ask(images=[file])": lambda: unyo.ask(
                "この写真の内容は?", images=[path], client=guarded, api="chat", image_detail="high"
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        sent: dict[str, int] = {}
        billed: dict[str, int] = {}
        for _ in range(N):
            for name, call in variants.items():
                before = server.billed["input_tokens"]
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
                body = server.requests[-1]["body"]["messages"][0]["content"][1]["image_url"]["url"]
                sent[name], billed[name] = len(body), server.billed["input_tokens"] - before
    base = statistics.median(times["raw SDK, full-size data: URL"])
    base_bytes = sent["raw SDK, full-size data: URL"]
    print(f"photo: {path.stat().st_size / 2**20:.1f} MiB JPEG, 4000x3000; {N} calls each, medians")
    print(f"{'variant':32} {'ms/call':>9} {'x base':>7} {'bytes sent':>11} {'x base':>7} {'tokens':>7}")
    for name in variants:
        median = statistics.median(times[name])
        print(
            f"{name:32} {median * 1000:9.1f} {median / base:7.2f} {sent[name]:11d} "
            f"{sent[name] / base_bytes:7.3f} {billed[name]:7d}"
        )


if __name__ == "__main__":
    main()
