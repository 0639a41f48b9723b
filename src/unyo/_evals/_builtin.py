"""The built-in suites: one per built-in task (triage, classify, extract, minutes, summarize,
draft), each a small labelled set written for unyo, in `unyo/data/evals/TASK.yaml`. A project's
own `evals/TASK.yaml` (in the working directory) takes precedence, as `tasks/` does for tasks."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from unyo._types._errors import BadInput


def builtin_dir() -> Path:
    return Path(str(resources.files("unyo") / "data" / "evals"))


def names() -> list[str]:
    found = {p.stem for p in builtin_dir().glob("*.yaml")} | {p.stem for p in (Path.cwd() / "evals").glob("*.yaml")}
    return sorted(found)


def task_suite(task: str) -> Path:
    for base in (Path.cwd() / "evals", builtin_dir()):
        path = base / f"{task}.yaml"
        if path.is_file():
            return path
    raise BadInput(
        f"no eval suite for task {task!r}; built-in suites: {', '.join(names())} (or write evals/{task}.yaml)"
    )
