"""An adaptive request-rate limiter for batches (AIMD, as TCP does):

    start       at the configured rate (`--rpm`)
    on success  add `rate × increase` (slow, additive)
    on a 429    multiply by `decrease` (at most once per `1/rate` window, so a burst of 429s from
                requests already in flight counts once), and pause every worker until the
                server's Retry-After (or the rate-limit reset header) has passed

so throughput settles just under the provider's limit instead of oscillating into retry storms.
"""

from __future__ import annotations

import threading
import time


class AdaptiveLimiter:
    def __init__(self, rpm: float, *, min_rpm: float = 1.0, max_rpm: float | None = None, increase: float = 0.05, decrease: float = 0.95) -> None:
        self.rate = rpm / 60.0  # requests per second
        self.min_rate, self.max_rate = min_rpm / 60.0, (max_rpm or rpm * 4) / 60.0
        self.increase, self.decrease = increase, decrease
        self._next = time.monotonic()
        self._paused_until = 0.0
        self._last_cut = 0.0
        self._lock = threading.Lock()
        self.rate_limited = 0

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for the next slot; False if `stop` was set while waiting."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next, self._paused_until)
            self._next = slot + 1.0 / self.rate
        wait = slot - time.monotonic()
        if wait > 0:
            if stop is not None:
                return not stop.wait(wait)
            time.sleep(wait)
        return not (stop is not None and stop.is_set())

    def success(self) -> None:
        with self._lock:
            self.rate = min(self.max_rate, self.rate + self.rate * self.increase / max(1.0, self.rate))

    def limited(self, retry_after: float | None) -> None:
        with self._lock:
            self.rate_limited += 1
            now = time.monotonic()
            if now - self._last_cut > 1.0 / self.rate:
                self.rate = max(self.min_rate, self.rate * self.decrease)
                self._last_cut = now
            pause = retry_after if retry_after is not None else 1.0 / self.rate
            self._paused_until = max(self._paused_until, now + pause)

    @property
    def rpm(self) -> float:
        return self.rate * 60.0
