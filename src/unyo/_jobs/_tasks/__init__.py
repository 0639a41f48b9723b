"""Business tasks (triage, summarize, classify, extract, minutes, draft, and your own), defined
by template files and a schema; see `_spec` for the files and `_run` for what each task adds."""

from unyo._jobs._tasks._run import TaskResult, arun_task, run_task
from unyo._jobs._tasks._spec import Task, find, names

__all__ = ["Task", "TaskResult", "arun_task", "find", "names", "run_task"]
