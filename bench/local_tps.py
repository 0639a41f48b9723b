"""Tokens per second of the bundled local model (SmolLM2-135M Q4_1 via llama.cpp), through
unyo's full pipeline versus llama.cpp called directly (baseline), same prompt, same run."""

from __future__ import annotations

import statistics
import time

import unyo
from unyo._providers._local._model import get_model

PROMPTS = [
    "Write a short paragraph about the sea.",
    "List five fruits and describe each.",
    "Explain what an API key is.",
]
MAX_TOKENS = 128


def main() -> None:
    client = unyo.OpenAI(settings=unyo.load_settings(profile="local"))
    model = get_model(None, 4096)
    client.responses.create(input="warm up", max_output_tokens=8, temperature=0)
    direct, piped = [], []
    for prompt in PROMPTS * 2:
        t0 = time.perf_counter()
        out = model.llama.create_chat_completion(
            [{"role": "user", "content": prompt}], max_tokens=MAX_TOKENS, temperature=0
        )
        direct.append(out["usage"]["completion_tokens"] / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        r = client.chat.completions.create(
            messages=[{"role": "user", "content": prompt}], max_tokens=MAX_TOKENS, temperature=0
        )
        piped.append(r.usage.completion_tokens / (time.perf_counter() - t0))
    ttfts = []
    for prompt in PROMPTS:
        s = unyo.stream(prompt, client=client, max_output_tokens=32, temperature=0)
        s.until_done()
        ttfts.append(s.call.ttft_s)
    d, p = statistics.median(direct), statistics.median(piped)
    print(f"llama.cpp direct (baseline): {d:6.1f} tokens/s")
    print(f"unyo local profile:          {p:6.1f} tokens/s  (ratio {p / d:.3f})")
    print(f"stream time to first token:  {statistics.median(ttfts) * 1000:6.1f} ms (median)")


if __name__ == "__main__":
    main()
