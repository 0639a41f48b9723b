"""The batch runner's request-rate controller.

When the provider announces its limits (`x-ratelimit-*` headers), the shared limiter in
`unyo._core._limiter` paces every request exactly; this controller then only *follows* it: it
reports the sustainable rate (for the progress line and the concurrency the runner keeps) and
paces nothing itself, except an explicit `--rpm` cap and the pause a 429 asks for.

With no headers (local servers, some compatible endpoints) it probes, as TCP does:

    start        at `start_rpm` (60, or the `--rpm` cap if lower)
    slow start   each success adds `slow_start` requests/s (the rate about doubles every second)
                 until the first 429; then the rate drops to what the server let through
    on success   add `increase` x rate per second of successes (slow, additive)
    on a 429     multiply by `decrease` (at most once a second, so a burst of 429s from requests
                 already in flight counts once), and pause every worker until the server's
                 Retry-After (or the rate-limit reset header) has passed

so throughput settles just under the server's limit instead of oscillating into retry storms.
"""

from __future__ import annotations

import collections
import math
import threading
import time


class AdaptiveLimiter:
    def __init__(
        self,
        rpm: float | None = None,
        *,
        start_rpm: float = 60.0,
        min_rpm: float = 1.0,
        increase: float = 0.03,
        decrease: float = 0.9,
        slow_start: float = 0.5,
    ) -> None:
        self.max_rate = rpm / 60.0 if rpm else math.inf  # the `--rpm` cap, requests per second
        self.rate = min(start_rpm / 60.0, self.max_rate)  # requests per second
        self.min_rate = min(min_rpm / 60.0, self.rate)
        self.increase, self.decrease, self.slow_start = increase, decrease, slow_start
        self.probing = True  # slow start: no 429 yet
        self.following = False  # the provider announces its limits: the shared limiter paces
        self._next = time.monotonic()
        self._paused_until = 0.0
        self._last_cut = 0.0
        self._ok_times: collections.deque[float] = collections.deque(maxlen=512)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # pacing changed: a waiting acquire plans again
        self.rate_limited = 0

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for the next slot; False if `stop` was set while waiting. The slot is planned
        again whenever the pacing changes while waiting: the first answer that announces the
        provider's limits ends a wait planned at the probing rate (else the dispatcher sleeps
        out a 1 s probing slot the limits would not need), and a 429's pause extends it."""
        with self._changed:
            while True:
                now = time.monotonic()
                pace = self.max_rate if self.following else self.rate
                slot = max(now, self._paused_until, self._next if math.isfinite(pace) else now)
                if slot <= now:
                    if math.isfinite(pace):
                        self._next = max(slot, self._next) + 1.0 / pace
                    return not (stop is not None and stop.is_set())
                if stop is not None and stop.is_set():
                    return False
                self._changed.wait(min(slot - now, 0.05 if stop is not None else slot - now))

    def follow(self, rate: float | None) -> None:
        """The provider announced limits that sustain `rate` requests/s (None: it stopped announcing)."""
        with self._lock:
            if rate is None:
                if self.following:
                    self.following, self._next = False, time.monotonic()
                    self._changed.notify_all()
                return
            if not self.following:
                self._changed.notify_all()
            self.following = True
            self.rate = min(self.max_rate, max(self.min_rate, rate))

    def success(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._ok_times.append(now)
            if self.following:
                return
            step = self.slow_start if self.probing else self.rate * self.increase / max(1.0, self.rate)
            self.rate = min(self.max_rate, self.rate + step)

    def _recent_rate(self, now: float, window: float = 2.0) -> float:
        recent = [t for t in self._ok_times if t > now - window]
        return len(recent) / window

    def limited(self, retry_after: float | None) -> None:
        with self._lock:
            self.rate_limited += 1
            now = time.monotonic()
            if not self.following and now - self._last_cut > 1.0:
                if self.probing:  # the first 429: fall back to what the server let through
                    self.probing = False
                    self.rate = max(self.rate * 0.5, 0.95 * self._recent_rate(now))
                else:
                    self.rate *= self.decrease
                self.rate = max(self.min_rate, self.rate)
                self._last_cut = now
            pause = retry_after if retry_after is not None else 1.0 / self.rate
            self._paused_until = max(self._paused_until, now + min(pause, 60.0))

    @property
    def rpm(self) -> float:
        return self.rate * 60.0
