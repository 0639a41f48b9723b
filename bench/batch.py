"""Batch throughput against a server enforcing a request-rate limit, in one run.

The fault server allows LIMIT requests per WINDOW seconds (sliding window) and answers 429 with
Retry-After and x-ratelimit-* headers beyond that. The named baseline is the limit itself: the
best any client can do. The batch runner starts at twice the limit (a misconfigured `--rpm`) and
must adapt. Prints rows/s achieved versus the limit (the ratio), the 429s received, and checks
that no row was lost. Target: >= 95 % of the limit.

    python bench/batch.py [ROWS] [LIMIT_PER_S]
"""

from __future__ import annotations

import csv
import sys
import time

import unyo
from _inquiries import inquiries_csv  # bench/ is on sys.path when run as a script
from unyo._jobs._batch import BatchOptions, Runner, batch_settings
from unyo._jobs._tasks import find
from unyo.testing import FaultServer

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 600
PER_S = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
WINDOW_S = 2.0


def main() -> None:
    tmp, source = inquiries_csv(ROWS, "unyo-bench-batch-")
    with FaultServer() as server:
        server.limit(int(PER_S * WINDOW_S), per_s=WINDOW_S)
        settings = unyo.load_settings(
            profile="openai", api_key="sk-bench-000000000000000000", base_url=server.url, model="gpt-4o-mini"
        )
        options = BatchOptions(
            task=find("triage"),
            input=source,
            output=tmp / "out.csv",
            column="text",
            concurrency=16,
            rpm=PER_S * 60 * 2,
            backoff_s=0.05,
            call_options={"tag": "bench"},
        )
        runner = Runner(options, unyo.OpenAI(settings=batch_settings(settings, "bench", None)))
        began = time.monotonic()
        summary = runner.run()
        elapsed = time.monotonic() - began
    with open(tmp / "out.csv", encoding="utf-8-sig", newline="") as f:
        statuses = [r["unyo_status"] for r in csv.DictReader(f)]
    achieved = summary.ok / elapsed
    print(
        f"rows {ROWS}, server limit {PER_S:g} req/s ({PER_S * 60:g} rpm, sliding {WINDOW_S:g} s window), "
        "concurrency 16, start rate 2x the limit"
    )
    print(f"baseline (the limit):  {PER_S:8.2f} rows/s")
    print(f"unyo batch runner:     {achieved:8.2f} rows/s   ratio {achieved / PER_S:.3f}   in {elapsed:.1f} s")
    print(
        f"429s received: {summary.rate_limited} ({summary.rate_limited / max(ROWS, 1):.3f} per row), "
        f"row retries: {summary.retries}, final rate {runner.limiter.rpm / 60:.2f} req/s"
    )
    print(
        f"rows ok {statuses.count('ok')}, failed {statuses.count('failed')}, "
        f"pending {statuses.count('pending')}, lost {ROWS - len(statuses)}"
    )


if __name__ == "__main__":
    main()
