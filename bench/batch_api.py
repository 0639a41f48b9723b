"""What `--via batch-api` costs unyo itself, in one run, against the fault server.

The provider's own turnaround (minutes to 24 h) is not ours to measure; what is ours is planning
each row's request, uploading, downloading and replaying every answer through the task (schema
validation, ledger, audit). The named baseline is the synchronous runner over the same rows against
the same server with no rate limit (16 rows in flight). Prints rows/s of each and their ratio,
and what each run was charged (the batch should be exactly half).

    python bench/batch_api.py [ROWS]
"""

from __future__ import annotations

import sys
import time

import unyo
from _inquiries import inquiries_csv  # bench/ is on sys.path when run as a script
from unyo._jobs._batch import BatchOptions, Runner, batch_settings
from unyo._jobs._batch._provider import BatchApiRunner
from unyo._jobs._tasks import find
from unyo.testing import FaultServer

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 500


def main() -> None:
    tmp, source = inquiries_csv(ROWS, "unyo-bench-batch-api-")
    results = {}
    with FaultServer() as server:
        settings = unyo.load_settings(
            profile="openai", api_key="sk-bench-000000000000000000", base_url=server.url, model="gpt-4o-mini"
        )
        for name in ("sync", "batch-api"):
            options = BatchOptions(
                task=find("triage"),
                input=source,
                output=tmp / f"out-{name}.csv",
                column="text",
                concurrency=16,
                rpm=10**6,
                call_options={"tag": f"bench-{name}"},
            )
            client = unyo.OpenAI(settings=batch_settings(settings, f"bench-{name}", None))
            runner = Runner(options, client) if name == "sync" else BatchApiRunner(options, client, poll_s=0.05)
            began = time.monotonic()
            summary = runner.run()
            results[name] = (time.monotonic() - began, summary)
    sync_s, sync = results["sync"]
    batch_s, batch = results["batch-api"]
    print(f"rows {ROWS}, triage, fault server without a rate limit")
    print(
        f"baseline (sync runner, 16 in flight): {ROWS / sync_s:8.1f} rows/s  "
        f"in {sync_s:.1f} s  ok {sync.ok}  charged ${sync.spent_usd}"
    )
    print(
        f"--via batch-api (plan+upload+replay): {ROWS / batch_s:8.1f} rows/s  "
        f"in {batch_s:.1f} s  ok {batch.ok}  charged ${batch.spent_usd}"
    )
    print(f"ratio batch-api / sync: speed {sync_s / batch_s:.2f}, cost {batch.spent_usd / sync.spent_usd:.3f}")


if __name__ == "__main__":
    main()
