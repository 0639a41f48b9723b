"""The call pipeline: an ordered list of steps run before a request is sent, and of finishers
run after the call settles.

    steps (default): resolve model -> validate -> apply output cap -> count input -> check context
                     window -> check cache -> reserve budget -> rate limit      then send with retry
    finishers:       store in cache -> settle (cost, release the hold, audit record: one transaction)

A call refused by a step (budget, context window, bad request) is still finished, so it is
audited like any other. The steps live in `_steps` (shaping), `_records._cache` and
`_money._budget`; `unyo._client._defaults` assembles the default list. The pipeline knows
nothing of sync/async or of the transport.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from unyo._core._call import Call, Step, request_timeout
from unyo._core._config import Settings
from unyo._types._call import CallInfo


class Pipeline:
    """An ordered list of steps before sending and of finishers after the call settles."""

    def __init__(self, steps: Sequence[Step], finishers: Sequence[Step] = ()) -> None:
        self.steps = tuple(steps)
        self.finishers = tuple(finishers)

    def prepare(
        self,
        api: str,
        kwargs: dict[str, Any],
        settings: Settings,
        user: str | None = None,
        tag: str | None = None,
        carry: Call | None = None,
    ) -> Call:
        """Run the steps. unyo's own per-call options are taken out of the SDK keyword arguments:
        `unyo_user`, `unyo_tag` (budgets and reports), `unyo_cache` ("off" | "force"),
        `unyo_prior_tokens` (tokens of provider-side context: previous_response_id / conversation).

        `carry`: the same call continued on another model (a fallback hop): its id, start and
        attempts go on, so the call stays one ledger row and one audit record. Its hold must have
        been released (`_money._settle.release`): the steps reserve again, for the new model."""
        params = dict(kwargs)
        user = params.pop("unyo_user", None) or user or params.get("safety_identifier") or params.get("user")
        tag = params.pop("unyo_tag", None) or tag
        cache_mode = params.pop("unyo_cache", None)
        stored = api == "responses" and any(params.get(k) for k in ("previous_response_id", "conversation", "prompt"))
        prior_known = "unyo_prior_tokens" in params or not stored
        prior = int(params.pop("unyo_prior_tokens", 0) or 0)
        timeout = params.pop("timeout", None)
        info = CallInfo(
            api=api,
            profile=settings.profile.name,
            host=settings.host,
            model="",
            stream=bool(params.get("stream")),
            user=user,
            tag=tag,
        )
        call = Call(
            api,
            params,
            settings,
            info,
            cache_mode=cache_mode,
            prior_tokens=prior,
            prior_known=prior_known,
            timeout_s=request_timeout(timeout),
        )
        if carry is not None:
            info.call_id, info.started_at, call.began = carry.info.call_id, carry.info.started_at, carry.began
            info.attempt_log = list(carry.info.attempt_log)
        try:
            for step in self.steps:
                step(call)
        except Exception as exc:  # refused before sending: still finished, so still audited
            info.error = type(exc).__name__
            info.error_message = str(exc)
            call.end("failed")
            self.finish(call)
            raise
        return call

    def finish(self, call: Call) -> None:
        for finisher in self.finishers:
            finisher(call)
