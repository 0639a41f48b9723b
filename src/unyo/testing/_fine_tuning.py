"""The fault server's fine-tuning API, shaped as in OpenAI's spec (FineTuningJob, FineTuningJobEvent).

    POST /fine_tuning/jobs                 create from an uploaded file (purpose fine-tune)
    GET  /fine_tuning/jobs                 list, newest first (limit, after)
    GET  /fine_tuning/jobs/{id}            retrieve
    GET  /fine_tuning/jobs/{id}/events     events, newest first (limit, after)
    POST /fine_tuning/jobs/{id}/cancel     cancel a job that has not ended

Scripted progress: a job spends its first 10 % of `seconds` validating its file, the next 10 %
queued, then runs `steps` training steps (one metrics event each) and succeeds with a model
`ft:BASE:unyo-test:SUFFIX:ID`. `fail = "why"` makes the next jobs fail at `fail_at` (a fraction of
the run). A file whose lines are not chat examples fails validation (`invalid_training_file`), as
the provider's does. `trained_tokens` is what the job bills: each example's tokens (o200k, 3 per
message + 3) x epochs, for the steps it ran (a cancelled or failed job bills the part it trained);
`billed_tokens` sums them over every job that ended. `lose_created = N`: the next N creates make
their job, then answer 502, as a gateway that lost the answer does.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from unyo._providers import _shapes

TUNABLE = ("gpt-4.1", "gpt-4o", "gpt-3.5-turbo")
TERMINAL = ("succeeded", "failed", "cancelled")


class FineTuning:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}  # id -> the job object (+ private "_..." keys)
        self.seconds = 1.0  # how long a job takes from creation to its end
        self.steps = 10
        self.fail: str | None = None  # the next jobs fail with this message ...
        self.fail_at = 0.5  # ... this far into training
        self.billed_tokens = 0
        self.lose_created = 0  # the next N creates make the job, then answer 502 (the answer is lost)
        self.downloadable = True  # False: GET /files/ID/content of a fine-tune file is refused, as OpenAI does

    # --- routes -----------------------------------------------------------------------------

    def serve(
        self, files: dict[str, dict[str, Any]], method: str, path: str, query: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")[2:]  # after fine_tuning/jobs
        params = {k: v[0] for k, v in parse_qs(query).items()}
        with self._lock:
            if method == "POST" and not parts:
                return self._create(files, body)
            if method == "GET" and not parts:
                return 200, self._page([self._view(j) for j in reversed(self.jobs.values())], params)
            job = self.jobs.get(parts[0]) if parts else None
            if job is None:
                return 404, _shapes.error_json(404, f"No such fine-tuning job: {parts[0] if parts else ''}", None)
            if method == "GET" and len(parts) == 1:
                return 200, self._view(job)
            if method == "GET" and parts[1:] == ["events"]:
                self._view(job)
                return 200, self._page(list(reversed(job["_events"])), params)
            if method == "POST" and parts[1:] == ["cancel"]:
                return self._cancel(job)
        return 404, _shapes.error_json(404, f"no route {method} {path}", "unknown_url")

    @staticmethod
    def _page(items: list[dict[str, Any]], params: dict[str, str]) -> dict[str, Any]:
        limit, after = int(params.get("limit", "20")), params.get("after")
        ids = [i["id"] for i in items]
        if after in ids:
            items = items[ids.index(after) + 1 :]
        return {"object": "list", "data": items[:limit], "has_more": len(items) > limit}

    def _create(self, files: dict[str, dict[str, Any]], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        model, file_id = str(body.get("model") or ""), str(body.get("training_file") or "")
        if not model.startswith(TUNABLE):
            return 400, _shapes.error_json(
                400, f"Model {model} is not available for fine-tuning", "model_not_available"
            )
        stored = files.get(file_id)
        if stored is None or stored.get("purpose") != "fine-tune":
            return 400, _shapes.error_json(
                400, f"File {file_id} does not exist or was not uploaded with purpose fine-tune", "invalid_file"
            )
        suffix, metadata = body.get("suffix"), body.get("metadata") or {}
        if suffix is not None and not (isinstance(suffix, str) and 1 <= len(suffix) <= 64):
            return 400, _shapes.error_json(400, "suffix must be 1 to 64 characters", "invalid_value")
        if (
            not isinstance(metadata, dict)
            or len(metadata) > 16
            or not all(isinstance(v, str) for v in metadata.values())
        ):
            return 400, _shapes.error_json(400, "metadata: at most 16 string values", "invalid_value")
        examples, problem = _examples(stored["_content"])
        method = body.get("method") or {"type": "supervised", "supervised": {}}
        hyper = dict((method.get(method.get("type", "supervised")) or {}).get("hyperparameters") or {})
        hyper.update(body.get("hyperparameters") or {})
        epochs = hyper.get("n_epochs") if isinstance(hyper.get("n_epochs"), int) else _auto_epochs(len(examples))
        hyper = {"batch_size": hyper.get("batch_size", 1), "learning_rate_multiplier": 1.8, "n_epochs": epochs}
        now = int(time.time())
        job_id = f"ftjob-{uuid.uuid4().hex[:24]}"
        job: dict[str, Any] = {
            "object": "fine_tuning.job", "id": job_id, "model": model, "created_at": now, "finished_at": None,
            "fine_tuned_model": None, "organization_id": "org-unyo-test", "result_files": [],
            "status": "validating_files", "validation_file": body.get("validation_file"), "training_file": file_id,
            "hyperparameters": hyper, "trained_tokens": None, "error": None, "integrations": [], "seed": 42,
            "estimated_finish": None, "method": {"type": method.get("type", "supervised"),
            method.get("type", "supervised"): {"hyperparameters": hyper}}, "metadata": metadata or None,
            "_t0": time.monotonic(), "_seconds": self.seconds, "_steps": self.steps, "_fail": self.fail,
            "_fail_at": self.fail_at, "_problem": problem, "_tokens": sum(examples) * epochs, "_suffix": suffix,
            "_stage": 0, "_step": 0, "_events": [],
        }  # fmt: skip
        self._event(job, f"Validating training file: {file_id}")
        self.jobs[job_id] = job
        if self.lose_created:
            self.lose_created -= 1
            return 502, _shapes.error_json(502, "Bad gateway", None)
        return 200, self._view(job)

    def _cancel(self, job: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self._view(job)
        if job["status"] in TERMINAL:
            return 400, _shapes.error_json(400, f"Job {job['id']} has already {job['status']}", "invalid_request")
        self._end(job, "cancelled", "Fine-tuning job cancelled")
        return 200, self._view(job)

    # --- progress -----------------------------------------------------------------------------

    def _view(self, job: dict[str, Any]) -> dict[str, Any]:
        """The public job; the scripted timeline is played up to now first."""
        if job["status"] not in TERMINAL:
            self._advance(job, (time.monotonic() - job["_t0"]) / max(job["_seconds"], 1e-9))
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def _advance(self, job: dict[str, Any], progress: float) -> None:
        if job["_stage"] == 0 and progress >= 0.1:
            if job["_problem"]:
                self._end(job, "failed", f"Training file validation failed: {job['_problem']}",
                          ("invalid_training_file", job["_problem"], "training_file"))  # fmt: skip
                return
            job["_stage"], job["status"] = 1, "queued"
            self._event(job, "Files validated, moving job to queued state")
        if job["_stage"] == 1 and progress >= 0.2:
            job["_stage"], job["status"] = 2, "running"
            job["estimated_finish"] = int(time.time() + job["_seconds"] * 0.8)
            self._event(job, "Fine-tuning job started")
        if job["_stage"] != 2:
            return
        steps, done = job["_steps"], min(job["_steps"], int((progress - 0.2) / 0.8 * job["_steps"]))
        stop = math.ceil(job["_fail_at"] * steps) if job["_fail"] else None
        while job["_step"] < done:
            if stop is not None and job["_step"] >= stop:
                self._end(job, "failed", f"Job failed: {job['_fail']}", ("training_failed", job["_fail"], None))
                return
            job["_step"] += 1
            step = job["_step"]
            loss = round(2.0 / (1 + step), 4)
            self._event(job, f"Step {step}/{steps}: training loss={loss}", "metrics",
                        {"step": step, "total_steps": steps, "train_loss": loss})  # fmt: skip
        if job["_step"] >= steps:
            suffix = job["_suffix"] or ""
            job["fine_tuned_model"] = f"ft:{job['model']}:unyo-test:{suffix}:{job['id'][-8:]}"
            job["result_files"] = [_shapes.new_id("file")]
            self._event(job, f"New fine-tuned model created: {job['fine_tuned_model']}")
            self._end(job, "succeeded", "The job has successfully completed")

    def _end(self, job: dict[str, Any], status: str, message: str, error: tuple[str, str, Any] | None = None) -> None:
        trained = job["_tokens"] * job["_step"] // max(job["_steps"], 1)
        job.update(status=status, finished_at=int(time.time()), trained_tokens=trained, estimated_finish=None)
        if error is not None:
            job["error"] = {"code": error[0], "message": error[1], "param": error[2]}
        self.billed_tokens += trained
        self._event(job, message, level="error" if status == "failed" else "info")

    @staticmethod
    def _event(
        job: dict[str, Any],
        message: str,
        kind: str = "message",
        data: dict[str, Any] | None = None,
        level: str = "info",
    ) -> None:
        job["_events"].append(
            {"object": "fine_tuning.job.event", "id": f"ftevent-{uuid.uuid4().hex[:24]}",
             "created_at": int(time.time()), "level": level, "message": message, "type": kind, "data": data or {}}
        )  # fmt: skip


def _examples(content: bytes) -> tuple[list[int], str | None]:
    """Each example's tokens, and the first problem the provider's validation would report."""
    from unyo._providers._tokens import bpe_counter

    counter, tokens = bpe_counter("o200k_base"), []
    for number, line in enumerate(content.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
            flat = [
                {"role": str(m["role"]), "content": m.get("content") if isinstance(m.get("content"), str) else
                 json.dumps({k: v for k, v in m.items() if k != "role"}, ensure_ascii=False)}
                for m in messages
            ]  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return tokens, f"line {number} is not a chat example with a messages list"
        tokens.append(counter.count_messages(flat))
    return tokens, None if tokens else "the file has no examples"


def _auto_epochs(examples: int) -> int:
    from unyo._providers._fine_tuning import auto_epochs

    return auto_epochs(examples)
