"""Fallbacks per role, with a circuit breaker per upstream model.

    UNYO_GATEWAY_FALLBACKS='{"main": ["gpt-4.1-mini", "gpt-4o-mini"]}'

A call for `main` that still fails after unyo's retries with a server error, a timeout, a broken
connection or a malformed body is sent again as the next model in the list. Never on a 4xx, a
rate limit, a quota or a budget refusal: those would fail the same way (or spend differently).

The hops are one call (`Hops`): one ledger row and one audit record, whose attempts list every
hop (model, profile, outcome, latency, breaker state, cost), the model that answered last. A hop
that gives way releases its budget hold before the next one reserves for its own model
(`_money._settle.release`), so the reservation is never counted twice; nothing is billed for it
(it ended without an answer, as a retried attempt).

The breaker counts consecutive failures per upstream (host + model): after `threshold` it opens
for `cooldown_s`, and calls skip that model while another remains (the skip is an attempt too,
outcome `BreakerOpen`); then one trial call decides whether it closes again. The breaker is per
process (a replica learns on its own).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from unyo._types import _errors as e
from unyo._types._call import Attempt
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
        """closed, open, or half-open (open, and its cooldown is over: the next call is a trial)."""
        with self._lock:
            opened = self._opened.get(upstream)
            if opened is None:
                return "closed"
            return "half-open" if time.monotonic() - opened >= self.cooldown_s else "open"


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

    async def run(
        self,
        model: str,
        send: Callable[[str, str], Awaitable[Any]],
        skipped: Callable[[str, str], None] | None = None,
    ) -> tuple[Any, list[str]]:
        """(the first answer, the models that failed or were skipped before it); the last
        failure if all did. `send(model, breaker_state)` tries a hop; `skipped(model, "open")`
        is told of a hop the open breaker skips."""
        chain, failed = self.chain(model), []
        last: BaseException | None = None
        for i, hop in enumerate(chain):
            upstream = f"{self.host}|{hop}"
            state = self.breaker.state(upstream)
            if not self.breaker.available(upstream) and i < len(chain) - 1:
                failed.append(hop)
                if skipped is not None:
                    skipped(hop, state)
                continue
            try:
                result = await send(hop, state)
            except FALLBACK_ON as exc:
                self.breaker.failed(upstream)
                failed.append(hop)
                last = exc
                continue
            self.breaker.succeeded(upstream)
            return result, failed
        assert last is not None
        raise last


class Hops:
    """One guarded call through the fallback chain: each hop is prepared as the previous one
    continued (`Pipeline.prepare(carry=...)`), so the call is settled once, by its last hop."""

    def __init__(self, client: Any, path: tuple[str, ...], body: dict[str, Any], metrics: Any = None) -> None:
        from unyo._client._surface import GUARDED

        self.client, self.metrics = client, metrics
        self.api = GUARDED[path]
        self.method, _ = client._method(path)
        self.kwargs = client._guard_args(path, False, {"extra_body": body})
        self.hop = -1
        self.pending: Any = None  # the last hop, failed and released: settled by `abandon` if no other follows
        self.skips: list[Attempt] = []  # hops the breaker skipped, waiting for the next hop's call

    def skipped(self, model: str, breaker: str) -> None:
        self.hop += 1
        profile = self.client.settings.profile.name
        self.skips.append(
            Attempt(0, "BreakerOpen", 0.0, model=model, profile=profile, hop=self.hop, breaker=breaker,
                    cost_usd=Decimal(0))
        )  # fmt: skip

    async def send(self, model: str, breaker: str) -> Any:
        from unyo._client._openai import _give_up
        from unyo._core._offload import offload
        from unyo._core._send import asend
        from unyo._core._stream import AsyncGuardedStream
        from unyo._money._settle import release

        client, carry = self.client, self.pending
        self.hop += 1
        self.pending = None
        if carry is not None and self.metrics is not None:  # the hop that gave way (a final failure: `_observe`)
            self.metrics.upstream_errors.labels(carry.info.error or "internal").inc()
        if self.skips:  # hops the breaker skipped: attempts of this call too
            carry = carry or _Skipped()
            carry.info.attempt_log.extend(self.skips)
            self.skips = []
        call = await offload(client._prepare, self.api, {**self.kwargs, "model": model}, carry, orphan=client._orphaned)
        first = len(call.info.attempt_log)
        if call.cached_body is not None:
            return await client._afrom_cache(call)
        try:
            parsed = await asend(call, self.method)
        except BaseException as exc:
            _mark(call, first, self.hop, breaker, Decimal(0))
            if isinstance(exc, FALLBACK_ON):
                _give_up(call, exc)
                self.pending = call  # first: a disconnect during the release still leaves it to `abandon`
                await offload(release, call)  # the next hop goes on from here; `abandon` settles it if none does
            else:
                await client._aabandoned(call, exc)
            raise
        _mark(call, first, self.hop, breaker, None)  # the answering attempt's cost: `hop_cost`, at settle
        if call.stream:
            return AsyncGuardedStream(parsed, call, client._settled)
        return await client._adeliver(call, parsed)

    async def abandon(self, exc: BaseException) -> None:
        """The chain ran out: the last hop (already released) is settled, with every hop."""
        call, self.pending = self.pending, None
        if call is not None:
            call.info.attempt_log.extend(self.skips)
            await self.client._asettled(call)


class _Skipped:
    """What a call whose first hops the breaker skipped carries into its first real hop."""

    def __init__(self) -> None:
        from unyo._types._call import CallInfo

        self.info = CallInfo(api="", profile="", host="", model="")
        self.began = time.monotonic()


def _mark(call: Any, first: int, hop: int, breaker: str, cost: Decimal | None) -> None:
    for attempt in call.info.attempt_log[first:]:
        attempt.hop, attempt.breaker, attempt.cost_usd = hop, breaker, cost


def hop_cost(call: Any) -> None:
    """Pipeline finisher, before settle: a call that went through the fallbacks prices its last
    attempt (the one that answered, or was cut) at what the call cost; the others cost nothing."""
    log = call.info.attempt_log
    if not log or log[-1].breaker is None:
        return
    from unyo._money._settle import price_call

    cost = price_call(call)
    for attempt in log:
        if attempt.cost_usd is None:
            attempt.cost_usd = Decimal(0) if cost is not None else None
    log[-1].cost_usd = cost
