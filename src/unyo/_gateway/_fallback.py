"""Fallbacks per role, with a circuit breaker per upstream model.

    UNYO_GATEWAY_FALLBACKS='{"main": ["gpt-4.1-mini", "gpt-4o-mini"]}'

A call for `main` that still fails after unyo's retries with a server error, a timeout, a broken
connection or a malformed body is sent again as the next model in the list. Never on a 4xx, a
rate limit, a quota or a budget refusal: those would fail the same way (or spend differently).
Each hop is a separate guarded call: its own budget reservation, ledger row and attempts.

The breaker counts consecutive failures per upstream (host + model): after `threshold` it opens
for `cooldown_s`, and calls skip that model while another remains; then one trial call decides
whether it closes again. The breaker is per process (a replica learns on its own).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from unyo._types import _errors as e
from unyo._types._errors import ConfigError

FALLBACK_ON = (e.ServerError, e.APITimeout, e.ConnectionFailed, e.MalformedResponse)


class Breaker:
    def __init__(self, threshold: int = 3, cooldown_s: float = 30.0) -> None:
        self.threshold, self.cooldown_s = threshold, cooldown_s
        self._failures: dict[str, int] = {}
        self._opened: dict[str, float] = {}
        self._lock = threading.Lock()

    def available(self, upstream: str) -> bool:
        with self._lock:
            opened = self._opened.get(upstream)
            if opened is None:
                return True
            if time.monotonic() - opened >= self.cooldown_s:
                self._opened[upstream] = time.monotonic()  # half-open: this one call is the trial
                return True
            return False

    def succeeded(self, upstream: str) -> None:
        with self._lock:
            self._failures.pop(upstream, None)
            self._opened.pop(upstream, None)

    def failed(self, upstream: str) -> None:
        with self._lock:
            self._failures[upstream] = self._failures.get(upstream, 0) + 1
            if self._failures[upstream] >= self.threshold:
                self._opened[upstream] = time.monotonic()

    def state(self, upstream: str) -> str:
        with self._lock:
            return "open" if upstream in self._opened else "closed"


def parse_fallbacks(raw: str | None) -> dict[str, tuple[str, ...]]:
    if not raw:
        return {}
    try:
        table = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"UNYO_GATEWAY_FALLBACKS is not JSON: {exc}") from None
    if not isinstance(table, dict) or not all(
        isinstance(v, list) and all(isinstance(m, str) for m in v) for v in table.values()
    ):
        raise ConfigError('UNYO_GATEWAY_FALLBACKS must map a role to a list of models: {"main": ["gpt-4.1-mini"]}')
    return {str(k): tuple(v) for k, v in table.items()}


class Fallbacks:
    def __init__(self, routes: dict[str, tuple[str, ...]], host: str, breaker: Breaker | None = None) -> None:
        self.routes, self.host = routes, host
        self.breaker = breaker or Breaker()

    def chain(self, model: str) -> list[str]:
        return list(dict.fromkeys([model, *self.routes.get(model, ())]))

    async def run(self, model: str, send: Callable[[str], Awaitable[Any]]) -> tuple[Any, list[str]]:
        """(the first answer, the models that failed before it); the last failure if all did."""
        chain, failed = self.chain(model), []
        last: BaseException | None = None
        for i, hop in enumerate(chain):
            upstream = f"{self.host}|{hop}"
            if not self.breaker.available(upstream) and i < len(chain) - 1:
                failed.append(hop)
                continue
            try:
                result = await send(hop)
            except FALLBACK_ON as exc:
                self.breaker.failed(upstream)
                failed.append(hop)
                last = exc
                continue
            self.breaker.succeeded(upstream)
            return result, failed
        assert last is not None
        raise last
