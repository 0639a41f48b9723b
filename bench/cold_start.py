"""Cold start as a user feels it: whole processes, measured from outside, against a local fake
upstream, interleaved in one run so machine drift hits both sides alike.

    python bench/cold_start.py [RUNS]

Compares, each as a fresh process doing one call:
    baseline   a 3-line script on the raw openai SDK
    unyo ask   `unyo ask hi --no-stream`
    unyo lib   `python -c "import unyo; unyo.OpenAI().responses.create(...)"`
and prints median wall time and peak memory (max RSS, from wait4) with ratios to the baseline.
Goal (issue 12): wall <= 1.15x and peak memory <= 1.3x the baseline.

The fake upstream runs in its own process: Linux carries a parent's peak RSS into the children
it forks, so this process stays small (it imports neither unyo nor the SDK).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER = (
    "import sys, time\n"
    "from unyo.testing import FaultServer\n"
    "s = FaultServer().start()\n"
    "print(s.url, flush=True)\n"
    "sys.stdin.read()\n"
)
RAW = (
    "import openai\n"
    "c = openai.OpenAI()\n"
    "print(c.responses.create(model='gpt-4o-mini', input='hi', max_output_tokens=50).output_text)\n"
)
LIB = (
    "import unyo\n"
    "c = unyo.OpenAI()\n"
    "print(c.responses.create(model='gpt-4o-mini', input='hi', max_output_tokens=50).output_text)\n"
)


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one process."""
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-500:]}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    exe = Path(sys.executable)
    unyo_bin = exe.with_name("unyo")
    server = subprocess.Popen([str(exe), "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip() if server.stdout else ""
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "UNYO_"))}
        env.update(OPENAI_API_KEY="sk-bench-0123456789abcdef", OPENAI_BASE_URL=url, UNYO_HOME=home,
                   XDG_CONFIG_HOME=os.path.join(home, "config"))  # fmt: skip
        commands = {
            "baseline (raw SDK script)": [str(exe), "-c", RAW],
            "unyo ask hi --no-stream": [
                str(unyo_bin),
                "ask",
                "hi",
                "--no-stream",
                "-m",
                "gpt-4o-mini",
                "--max-output-tokens",
                "50",
            ],
            "import unyo; unyo.OpenAI()...": [str(exe), "-c", LIB],
        }
        for cmd in commands.values():  # warm-up: page cache, .pyc files, the SQLite schema
            run(cmd, env)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, cmd in commands.items():
                results[name].append(run(cmd, env))
    server.communicate("")
    base = results["baseline (raw SDK script)"]
    print(f"{runs} interleaved rounds; medians, and the median of each round's ratio to the baseline")
    print("(goal: wall <= 1.15x, peak memory <= 1.3x)")
    print(f"{'command':34} {'wall s':>8} {'ratio':>6} {'peak MiB':>9} {'ratio':>6}")
    for name, samples in results.items():
        wall = statistics.median(w for w, _ in samples)
        mem = statistics.median(m for _, m in samples)
        wall_ratio = statistics.median(w / b for (w, _), (b, _) in zip(samples, base))
        mem_ratio = statistics.median(m / b for (_, m), (_, b) in zip(samples, base))
        print(f"{name:34} {wall:8.3f} {wall_ratio:6.2f} {mem:9.1f} {mem_ratio:6.2f}")


if __name__ == "__main__":
    main()
