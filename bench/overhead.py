"""Per-call overhead of unyo's drop-in client versus the raw openai SDK, same server, one run.

Baseline: `openai.OpenAI(max_retries=0)` calling the fault server on 127.0.0.1. Candidates, all
`unyo.OpenAI` against the same server: with the ledger off (validate, cap, exact token count,
retry loop, metadata), the default (plus the SQLite ledger and the masked audit record), and with
a daily budget (plus the atomic reservation). Calls are interleaved so drift affects all equally.
Prints medians, added ms and the ratio to the baseline.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

import openai

import unyo
from unyo.testing import FaultServer

N = int(sys.argv[1]) if len(sys.argv) > 1 else 400
KEY = "sk-bench-0000000000000000"
PROMPT = "Classify this inquiry: 請求書の再発行をお願いします。Invoice #4411 was sent to the wrong address."


def main() -> None:
    with FaultServer() as server:
        raw = openai.OpenAI(api_key=KEY, base_url=server.url, max_retries=0)
        os.environ["UNYO_HOME"] = tempfile.mkdtemp(prefix="unyo-bench-")

        def client(**kw: object) -> unyo.OpenAI:
            return unyo.OpenAI(
                settings=unyo.load_settings(
                    profile="openai", api_key=KEY, base_url=server.url, model="gpt-4o-mini", **kw
                )
            )

        variants = {
            "unyo, ledger off": client(db_url="off"),
            "unyo (default)": client(),
            "unyo + budget": client(budget_daily_usd="1000"),
        }
        calls = {
            "raw openai SDK": lambda: raw.responses.create(model="gpt-4o-mini", input=PROMPT, max_output_tokens=64)
        }
        for name, c in variants.items():
            calls[name] = lambda c=c: c.responses.create(model="gpt-4o-mini", input=PROMPT, max_output_tokens=64)
        for fn in calls.values():  # warm up connections, tokenizer, imports
            for _ in range(20):
                fn()
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(N):
            for name, fn in calls.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["raw openai SDK"])
    print(f"calls per client: {N} (interleaved), server: FaultServer on 127.0.0.1")
    for name, values in times.items():
        med = statistics.median(values)
        print(
            f"  {name:18s} median {med * 1000:7.3f} ms   p90 {statistics.quantiles(values, n=10)[-1] * 1000:7.3f} ms   "
            f"added {(med - base) * 1000:+.3f} ms   ratio {med / base:.3f}"
        )
    print("target: < 1 ms added per call without a budget")


if __name__ == "__main__":
    main()
