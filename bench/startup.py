"""`unyo --help` start-up time versus a bare `python -c pass` baseline, same run.

Target: under 0.3 s. Runs each command 15 times and reports medians."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 15


def median_time(cmd: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    base = median_time([sys.executable, "-c", "pass"])
    help_time = median_time([sys.executable, "-m", "unyo", "--help"])
    import_time = median_time([sys.executable, "-c", "import unyo"])
    print(f"python -c pass (baseline): {base * 1000:6.1f} ms")
    print(f"python -c 'import unyo':   {import_time * 1000:6.1f} ms  ({import_time / base:.2f}x baseline)")
    print(f"unyo --help:               {help_time * 1000:6.1f} ms  ({help_time / base:.2f}x baseline; target < 300 ms)")


if __name__ == "__main__":
    main()
