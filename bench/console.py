"""The web console's pages against the gateway's cheapest route, same server, same run.

    python bench/console.py [--calls 2000] [--repeat 30]

A real `unyo serve` (upstream: the fault server, ledger on SQLite) first serves `--calls` real
chat completions through one virtual key, so the ledger holds that many rows; then each page is
fetched `--repeat` times by a signed-in session: GET /healthz (baseline), /ui/ (chat),
/ui/usage (the dashboard: every call of the last 30 days summed, five charts, p50/p95),
/ui/review. Prints p50/p95 per page and its ratio to /healthz.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.gateway_helpers import Served, gateway_env  # noqa: E402

from unyo.testing import FaultServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="unyo-bench-console-"))
    os.chmod(tmp, 0o700)
    os.environ.setdefault("UNYO_HOME", str(tmp / "home"))
    with FaultServer() as fault:
        served = Served(gateway_env(fault.url, f"sqlite:///{tmp / 'db' / 'unyo.db'}"), tmp / "serve.log")
        try:
            key = served.new_key(name="bench")
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "請求書の再発行"}]}
            headers = {"authorization": f"Bearer {key}"}
            with httpx.Client(base_url=served.url, timeout=30) as c, ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(lambda _: c.post("/v1/chat/completions", json=body, headers=headers).status_code,
                                      range(args.calls)))  # fmt: skip
            assert codes.count(200) == args.calls, {s: codes.count(s) for s in set(codes)}
            client = httpx.Client(base_url=served.url, timeout=60)
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/login").text)
            assert token
            assert client.post("/ui/login", data={"csrf": token.group(1), "key": key}).status_code == 303
            rows = []
            base = None
            for path in ("/healthz", "/ui/", "/ui/usage", "/ui/review"):
                times = []
                for _ in range(args.repeat):
                    began = time.perf_counter()
                    answer = client.get(path)
                    times.append((time.perf_counter() - began) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code)
                p50 = statistics.median(times)
                p95 = statistics.quantiles(times, n=20)[-1]
                base = base or p50
                rows.append((path, p50, p95, p50 / base))
        finally:
            served.stop()
    print(f"console pages, {args.calls} ledger rows, {args.repeat} fetches each (ms)")
    print(f"{'page':<12} {'p50':>8} {'p95':>8} {'x healthz':>10}")
    for path, p50, p95, ratio in rows:
        print(f"{path:<12} {p50:8.2f} {p95:8.2f} {ratio:10.1f}")


if __name__ == "__main__":
    main()
