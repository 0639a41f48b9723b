"""`unyo serve` against calling the mock upstream directly (and the LiteLLM proxy, when installed),
same machine, same run, same load.

    python bench/gateway.py [--concurrency 200] [--seconds 10] [--rounds 3] [--db sqlite|postgresql]

Upstream: the fault server (`unyo.testing.FaultServer`) in its own process on 127.0.0.1. Load: one
asyncio process keeping `concurrency` requests in flight (`POST /v1/responses`, non-streamed,
max_output_tokens 64) for `seconds`, each target in turn, `rounds` times (on a shared machine the
load of other processes moves between runs; every round measures every target, and the medians
are compared). The gateway runs with a virtual key that has a monthly
budget, a server-wide daily budget, the masked audit record and the ledger on: the full pipeline.
Prints RPS, p50/p95 latency, the latency added over the direct call, errors, the gateway's memory
before and after, and the ratios. LiteLLM is measured when `LITELLM` (default
~/.venvs/litellm/bin/litellm) exists; otherwise the script says how to install it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.gateway_helpers import SECRET, UPSTREAM_KEY, Served, free_port, gateway_env  # noqa: E402

BODY = {"model": "gpt-4o-mini", "input": "Classify: 請求書の再発行をお願いします。", "max_output_tokens": 64}
LITELLM_KEY = "sk-bench-litellm-master-0123456789abcdef"
LITELLM = os.environ.get("LITELLM", str(Path.home() / ".venvs/litellm/bin/litellm"))
INSTALL = (
    "LiteLLM proxy not found at {path}. To include it (in its own venv, never unyo's):\n"
    "    python3 -m venv ~/.venvs/litellm && ~/.venvs/litellm/bin/pip install 'litellm[proxy]'\n"
    "then run this script again (or set LITELLM=/path/to/litellm)."
)


def start_upstream() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    code = (
        "import time; from unyo.testing import FaultServer; "
        f"s = FaultServer(port={port}).start(); print('ready', flush=True); time.sleep(10**6)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    return proc, f"http://127.0.0.1:{port}/v1"


async def load(url: str, key: str, concurrency: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers={"authorization": f"Bearer {key}"}) as client:

        async def worker() -> None:
            while time.monotonic() < stop:
                began = time.perf_counter()
                try:
                    r = await client.post(f"{url}/responses", json=BODY)
                    if r.status_code != 200:
                        errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
                        continue
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - began)

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - began
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 20 else [float("nan")] * 19
    return {
        "ok": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p95_ms": q[18] * 1000,
        "errors": errors,
    }


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median RPS, p50 and p95 of a target's rounds; the errors of all of them."""
    errors: dict[str, int] = {}
    for r in runs:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    out: dict[str, Any] = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p95_ms")}
    return {**out, "ok": sum(r["ok"] for r in runs), "errors": errors}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_litellm(upstream: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    if not Path(LITELLM).exists():
        print(INSTALL.format(path=LITELLM))
        return None
    config = tmp / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: gpt-4o-mini\n    litellm_params:\n      model: openai/gpt-4o-mini\n"
        f"      api_base: {upstream}\n      api_key: {UPSTREAM_KEY}\n"
    )
    port = free_port()
    log = (tmp / "litellm.log").open("wb")
    proc = subprocess.Popen(
        [LITELLM, "--config", str(config), "--port", str(port), "--host", "127.0.0.1"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "LITELLM_MASTER_KEY": LITELLM_KEY},  # it refuses to start without one
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/liveliness", timeout=1).status_code == 200:
                return proc, f"{url}/v1"
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    print("LiteLLM proxy did not start within 120 s; skipped. Its log:")
    print((tmp / "litellm.log").read_text(errors="replace")[-2000:])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="every target measured this many times, in turn")
    parser.add_argument("--workers", type=int, default=1, help="unyo serve --workers")
    parser.add_argument(
        "--no-budget", action="store_true", help="no budgets (ledger and audit still on): what the reservations cost"
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="unyo-bench-gw-"))
    os.environ.setdefault("UNYO_HOME", str(tmp / "home"))
    db_url = (
        f"sqlite:///{tmp / 'gw.db'}"
        if args.db == "sqlite"
        else os.environ.get("UNYO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    upstream, upstream_url = start_upstream()
    processes: list[Any] = [upstream]
    try:
        budget = {} if args.no_budget else {"UNYO_BUDGET_DAILY_USD": "100000"}
        env = gateway_env(upstream_url.removesuffix("/v1"), db_url, **budget)
        env["UNYO_GATEWAY_SECRET"] = SECRET
        gateway = Served(env, tmp / "serve.log", workers=args.workers)
        processes.append(gateway)
        key = gateway.new_key(
            name=f"bench-{int(time.time())}", **({} if args.no_budget else {"budget_monthly": "100000"})
        )
        targets = {"direct (mock upstream)": (upstream_url, UPSTREAM_KEY), "unyo serve": (f"{gateway.url}/v1", key)}
        litellm = start_litellm(upstream_url, tmp)
        if litellm is not None:
            processes.append(litellm[0])
            targets["LiteLLM proxy"] = (litellm[1], LITELLM_KEY)
        for url, k in targets.values():  # warm up: connections, imports, tokenizer
            asyncio.run(load(url, k, 8, 1.5))
        memory_before = rss_mb(gateway.proc.pid)
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        for _ in range(max(1, args.rounds)):
            for name, (url, k) in targets.items():
                rounds[name].append(asyncio.run(load(url, k, args.concurrency, args.seconds)))
        memory_after = rss_mb(gateway.proc.pid)
        results = {name: median_of(runs) for name, runs in rounds.items()}
    finally:
        for proc in reversed(processes):
            if isinstance(proc, Served):
                proc.stop()
            else:
                proc.terminate()
                proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    base = results["direct (mock upstream)"]
    load_average = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average (1, 5, 15 min) at the end: {load_average}")
    for name, runs in rounds.items():
        per_round = ", ".join(f"{r['rps']:.1f}" for r in runs)
        print(f"{name:24s} RPS per round: {per_round}")
    print(
        f"\n{args.concurrency} concurrent connections, {args.seconds:g} s each, {len(rounds['unyo serve'])} rounds "
        "(medians), POST /v1/responses, "
        f"db {args.db}, unyo serve --workers {args.workers}{', no budgets' if args.no_budget else ', budgets on'}"
    )
    print(f"{'target':24s} {'RPS':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'+p50 ms':>8s} {'RPS ratio':>9s}  errors")
    for name, r in results.items():
        print(
            f"{name:24s} {r['rps']:8.1f} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['p50_ms'] - base['p50_ms']:+8.1f} "
            f"{r['rps'] / base['rps']:9.2f}  {json.dumps(r['errors']) if r['errors'] else 0}"
        )
    print(f"unyo serve memory: {memory_before:.0f} MB before the run, {memory_after:.0f} MB after")
    if "LiteLLM proxy" in results:
        lite, unyo = results["LiteLLM proxy"], results["unyo serve"]
        added_lite, added_unyo = lite["p50_ms"] - base["p50_ms"], unyo["p50_ms"] - base["p50_ms"]
        print(
            f"unyo serve vs LiteLLM: {unyo['rps'] / lite['rps']:.2f}x the RPS (goal >= 5x), added p50 "
            f"{added_unyo:.1f} ms vs {added_lite:.1f} ms = {added_unyo / added_lite:.2f}x (goal <= 1/5)"
        )


if __name__ == "__main__":
    main()
