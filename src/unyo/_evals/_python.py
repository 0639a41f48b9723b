"""The `python` assertion: user code, run in a child process with a timeout, never in ours.

    value: "'返金' in output and len(output) < 300"      an expression over output, vars, record
    value: file://checks.py:is_polite                    a function(output, context) in a file

The result may be a bool (pass), a number (a score: passes at `threshold`, default 0.5) or a
dict {pass, score, reason}. An exception, a timeout or a result of another kind is `Unjudged`:
the case is an error, not a fail. The child gets the output and vars as JSON on stdin, runs in
isolated mode (-I: no user site, no PYTHON* variables) from the suite's folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from unyo._evals._assertions import Assertion, Output, Unjudged

DEFAULT_TIMEOUT_S = 10.0

_CHILD = r"""
import json, re, sys
job = json.loads(sys.stdin.read())
output, vars, record = job["output"], job["vars"], job["record"]
context = {"vars": vars, "record": record}
if job.get("file"):
    import importlib.util
    sys.path.insert(0, job["dir"])
    spec = importlib.util.spec_from_file_location("unyo_eval_check", job["file"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = getattr(module, job["function"])(output, context)
else:
    names = {"json": json, "re": re, "output": output, "vars": vars, "record": record, "context": context}
    result = eval(job["expr"], names)  # one namespace: a comprehension in the expression sees vars and record too
sys.stdout.write("\n" + json.dumps({"result": result}, default=str))
"""


def _job(a: Assertion, out: Output, base: Path) -> dict[str, Any]:
    job: dict[str, Any] = {"output": out.text, "vars": out.vars, "record": out.record, "dir": str(base)}
    value = str(a.value)
    if value.startswith("file://"):
        spec = value.removeprefix("file://")
        file, _, function = spec.rpartition(":") if ":" in spec else (spec, "", "get_assert")
        path = (base / file) if not Path(file).is_absolute() else Path(file)
        if not path.exists():
            raise Unjudged(f"python: {path} does not exist")
        job.update(file=str(path), function=function or "get_assert")
    else:
        job["expr"] = value
    return job


def judge(a: Assertion, out: Output, base: Path) -> tuple[bool, float, str]:
    timeout = float(a.options.get("timeout", DEFAULT_TIMEOUT_S))
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", _CHILD],
            input=json.dumps(_job(a, out, base), ensure_ascii=False, default=str),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=base,
        )
    except subprocess.TimeoutExpired:
        raise Unjudged(f"python: no result within {timeout:g}s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise Unjudged(f"python: the check raised: {last[:300]}")
    try:
        result = json.loads(done.stdout.rsplit("\n", 1)[-1])["result"]
    except (ValueError, KeyError):
        raise Unjudged("python: the check printed no result") from None
    if isinstance(result, bool):
        return result, 1.0 if result else 0.0, "python: " + ("true" if result else "false")
    if isinstance(result, (int, float)):
        needed = a.threshold if a.threshold is not None else 0.5
        return result >= needed, float(result), f"python: score {result:g} (needs {needed:g})"
    if isinstance(result, dict) and "pass" in result:
        score = float(result.get("score", 1.0 if result["pass"] else 0.0))
        return bool(result["pass"]), score, "python: " + str(result.get("reason", ""))[:300]
    raise Unjudged(f"python: the check returned {type(result).__name__}; return a bool, a number or {{pass, score}}")
