"""When to try again: the one retry policy. The loops that apply it live in `_send.py`."""

from __future__ import annotations

import random
from dataclasses import dataclass

from unyo._types._errors import UnyoError


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    deadline_s: float = 120.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    retry_after_cap_s: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, so waits never
        collapse to zero and concurrent clients spread out."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def next_wait(self, error: UnyoError, attempt: int, elapsed: float) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up now."""
        if not getattr(error, "retryable", False) or attempt >= self.max_attempts:
            return None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None and retry_after > self.retry_after_cap_s:
            return None  # the caller sees error.retry_after and can schedule it
        wait = retry_after if retry_after is not None else self.backoff(attempt)
        if elapsed + wait >= self.deadline_s:
            return None
        return wait
