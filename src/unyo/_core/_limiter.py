"""Client-side RPM/TPM limits per profile, shared by every client in the process.

A reservation model: `reserve(tokens)` takes capacity now (the balance may go negative) and
returns how long the caller must wait before sending, so concurrent callers queue fairly
without holding a lock while they sleep. Sync and async callers sleep in their own way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class _Bucket:
    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self.stamp = now

    def take(self, amount: float, now: float) -> float:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        amount = min(amount, self.capacity)  # a request larger than a minute's budget waits a minute at most
        wait = max(0.0, (amount - self.level) / self.rate)
        self.level -= amount
        return wait


class RateLimiter:
    def __init__(self, rpm: float | None, tpm: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        now = clock()
        self._requests = _Bucket(rpm, now) if rpm else None
        self._tokens = _Bucket(tpm, now) if tpm else None
        self._lock = threading.Lock()

    def reserve(self, tokens: int) -> float:
        with self._lock:
            now = self._clock()
            waits = [0.0]
            if self._requests:
                waits.append(self._requests.take(1, now))
            if self._tokens:
                waits.append(self._tokens.take(tokens, now))
            return max(waits)


_limiters: dict[tuple[str, float | None, float | None], RateLimiter] = {}
_lock = threading.Lock()


def limiter_for(profile: str, rpm: float | None, tpm: float | None) -> RateLimiter | None:
    if not rpm and not tpm:
        return None
    with _lock:
        return _limiters.setdefault((profile, rpm, tpm), RateLimiter(rpm, tpm))
