"""Memory soak of `unyo serve`: steady concurrent load for N seconds, the server's RSS sampled.

    python bench/gateway_soak.py [--seconds 300] [--concurrency 50] [--every 5] [--warmup 30]
                                 [--threshold 1.0] [--db sqlite|postgresql]

Upstream: the fault server (`unyo.testing.FaultServer`) in its own process on 127.0.0.1. The
gateway runs as in `bench/gateway.py`: a virtual key with a monthly budget, a server-wide daily
budget, the masked audit record and the ledger on. Load: `concurrency` requests always in flight,
a fixed mix (Responses plain, Chat plain, Responses streamed), for `warmup` seconds not measured
and then `seconds` measured. Every `every` seconds the server process's RSS is read from
/proc/PID/status. Prints the series, the least-squares slope over the measured part (MB/min), the
mean of the first quartile of samples against the last one, and a verdict: flat when the slope is
under `threshold` MB/min (exit 0), growing otherwise (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.gateway import rss_mb, start_upstream  # noqa: E402
from tests.gateway_helpers import SECRET, Served, gateway_env  # noqa: E402

ASK = "Classify: 請求書の再発行をお願いします。"
MIX = (  # (route, body): what one worker sends, in turn
    ("/responses", {"model": "gpt-4o-mini", "input": ASK, "max_output_tokens": 64}),
    ("/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 64}),
    ("/responses", {"model": "gpt-4o-mini", "input": "Summarise: 納期の確認", "max_output_tokens": 64, "stream": True}),
)


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of RSS (MB) over time (s), in MB per minute."""
    ts, ms = [t for t, _ in samples], [m for _, m in samples]
    t_mean, m_mean = statistics.fmean(ts), statistics.fmean(ms)
    var = sum((t - t_mean) ** 2 for t in ts)
    return 60 * sum((t - t_mean) * (m - m_mean) for t, m in samples) / var if var else 0.0


def quartiles(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """Mean RSS of the first and of the last quarter of the samples."""
    q = max(1, len(samples) // 4)
    return statistics.fmean(m for _, m in samples[:q]), statistics.fmean(m for _, m in samples[-q:])


async def soak(url: str, key: str, pid: int, concurrency: int, warmup: float, seconds: float, every: float) -> Any:
    counts = {"ok": 0}
    errors: dict[str, int] = {}
    began = time.monotonic()
    measure_from, stop = began + warmup, began + warmup + seconds
    samples: list[tuple[float, float, int]] = []  # (seconds since the measured part began, MB, requests so far)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers={"authorization": f"Bearer {key}"}) as client:

        async def worker(n: int) -> None:
            for route, body in itertools.islice(itertools.cycle(MIX), n % len(MIX), None):
                if time.monotonic() >= stop:
                    return
                try:
                    if body.get("stream"):
                        async with client.stream("POST", f"{url}{route}", json=body) as r:
                            text = "".join([part async for part in r.aiter_text()])
                            ok = r.status_code == 200 and "response.completed" in text
                            status = r.status_code
                    else:
                        r = await client.post(f"{url}{route}", json=body)
                        ok, status = r.status_code == 200, r.status_code
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                if ok:
                    counts["ok"] += 1
                else:
                    errors[str(status)] = errors.get(str(status), 0) + 1

        def sample() -> None:
            samples.append((time.monotonic() - measure_from, rss_mb(pid), counts["ok"]))
            t, mb, n = samples[-1]
            print(f"  t={t:6.1f} s  rss {mb:7.1f} MB  {n:7d} requests", flush=True)

        async def sampler() -> None:
            await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
            while time.monotonic() < stop:
                sample()
                await asyncio.sleep(min(every, max(0.0, stop - time.monotonic())))
            sample()

        await asyncio.gather(sampler(), *(worker(n) for n in range(concurrency)))
    return samples, counts["ok"], errors, time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300, help="measured load (after the warm-up)")
    parser.add_argument("--warmup", type=float, default=30, help="load before measuring: imports, pools, caches")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--every", type=float, default=5, help="seconds between RSS samples")
    parser.add_argument("--threshold", type=float, default=1.0, help="largest slope (MB/min) still called flat")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    if args.seconds <= 0 or args.every <= 0 or args.concurrency <= 0 or args.warmup < 0:
        parser.error("--seconds, --every and --concurrency must be positive, --warmup not negative")
    tmp = Path(tempfile.mkdtemp(prefix="unyo-soak-gw-"))
    os.environ.setdefault("UNYO_HOME", str(tmp / "home"))
    db_url = (
        f"sqlite:///{tmp / 'gw.db'}"
        if args.db == "sqlite"
        else os.environ.get("UNYO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    upstream, upstream_url = start_upstream()
    gateway = None
    try:
        env = gateway_env(upstream_url.removesuffix("/v1"), db_url, UNYO_BUDGET_DAILY_USD="100000")
        env["UNYO_GATEWAY_SECRET"] = SECRET
        gateway = Served(env, tmp / "serve.log")
        key = gateway.new_key(name=f"soak-{int(time.time())}", budget_monthly="100000")
        print(
            f"unyo serve (pid {gateway.proc.pid}), {args.concurrency} concurrent, {args.warmup:g} s warm-up + "
            f"{args.seconds:g} s measured, RSS every {args.every:g} s, db {args.db}, budgets + audit + virtual key on"
        )
        samples, ok, errors, elapsed = asyncio.run(
            soak(f"{gateway.url}/v1", key, gateway.proc.pid, args.concurrency, args.warmup, args.seconds, args.every)
        )
    finally:
        if gateway is not None:
            gateway.stop()
        upstream.terminate()
        upstream.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    series = [(t, m) for t, m, _ in samples]
    slope = slope_mb_per_min(series)
    first, last = quartiles(series)
    flat = slope < args.threshold
    print(f"\n{ok} requests in {elapsed:.0f} s ({ok / elapsed:.0f}/s), errors: {errors or 0}")
    print(f"RSS {series[0][1]:.1f} MB at the start of the measured part, {series[-1][1]:.1f} MB at the end")
    print(f"least-squares slope {slope:+.3f} MB/min over {series[-1][0]:.0f} s ({len(series)} samples)")
    print(f"first quartile mean {first:.1f} MB, last quartile mean {last:.1f} MB: {last - first:+.1f} MB")
    print(f"verdict: {'flat' if flat else 'GROWING'} (slope {'<' if flat else '>='} {args.threshold:g} MB/min)")
    sys.exit(0 if flat and not errors else 1)


if __name__ == "__main__":
    main()
