"""Evals at scale, in one run: a 500-case suite against the fault server in provider mode.

    cold      every answer is sent (the cache is empty): the cost of a first run
    cached    the same suite again: every answer comes from the result cache ($0, nothing sent)
    no-cache  the same suite with --no-cache: the named baseline, what a run costs without the cache
and, for the cold run, throughput against the provider's limit (RPM bucket with a one-second
burst, x-ratelimit-* headers, fixed latency): cells/s achieved versus the limit (the ratio).

    python bench/eval.py [CASES] [RPM]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from decimal import Decimal

CASES = int(sys.argv[1]) if len(sys.argv) > 1 else 500
RPM = float(sys.argv[2]) if len(sys.argv) > 2 else 1200.0
LATENCY_S = 0.2
TICKETS, LABELS = ["charged twice", "app crashes", "locked out"], ["billing", "bug", "account"]


def suite() -> dict:
    return {
        "name": "bench",
        "prompts": ["Label the ticket as billing, bug or account. Ticket {{n}}: {{ticket}}"],
        "providers": ["gpt-4o-mini"],
        "defaultTest": {"assert": [{"type": "not-contains-pii"}, {"type": "regex", "value": "^(billing|bug|account)"}]},
        "tests": [
            {"description": f"case {n}", "vars": {"n": n, "ticket": TICKETS[n % 3]},
             "assert": [{"type": "icontains", "value": LABELS[n % 3]}]}
            for n in range(CASES)
        ],
    }  # fmt: skip


def answer(body: dict) -> str:
    text = str(body)
    return "billing" if "charged" in text else "bug" if "crashes" in text else "account"


def main() -> None:
    home = tempfile.mkdtemp(prefix="unyo-bench-eval-")
    os.chmod(home, 0o700)
    os.environ["UNYO_HOME"] = home
    import unyo
    from unyo.testing import FaultServer

    rows = []
    with FaultServer() as server:
        server.provider(rpm=RPM, latency_s=LATENCY_S, burst_s=1.0)
        server.responder = answer
        client = unyo.OpenAI(profile="openai", api_key="sk-bench-000000000000000000", base_url=server.url)
        for name, cache in (("cold", True), ("cached", True), ("no-cache", False)):
            sent = len(server.requests)
            began = time.monotonic()
            report = unyo.evaluate(suite(), client=client, cache=cache)
            elapsed = time.monotonic() - began
            rows.append((name, elapsed, Decimal(report.run["spent_usd"]), len(server.requests) - sent,
                         report.pass_rate, report.run["rate_limited"]))  # fmt: skip
    base = rows[2]
    print(f"{CASES} cases x 1 model; fault server in provider mode: {RPM:g} rpm (1 s burst), {LATENCY_S:g} s latency")
    head = ("run", "seconds", "x base", "billed USD", "x base", "requests", "pass", "429s")
    print("{:10} {:>9} {:>7} {:>12} {:>7} {:>9} {:>6} {:>5}".format(*head))
    for name, elapsed, spent, requests, rate, limited in rows:
        cost_ratio = f"{spent / base[2]:.3f}" if base[2] else "-"
        print(f"{name:10} {elapsed:9.2f} {elapsed / base[1]:7.3f} {spent:12.8f} {cost_ratio:>7} {requests:9d} "
              f"{rate:6.1%} {limited:5d}")  # fmt: skip
    cold = rows[0]
    achieved, limit = cold[3] / cold[1], RPM / 60
    print(f"throughput (cold run): {achieved:.2f} requests/s against a limit of {limit:.2f}/s, "
          f"ratio {achieved / limit:.3f} (the run includes scoring and start-up)")  # fmt: skip


if __name__ == "__main__":
    main()
