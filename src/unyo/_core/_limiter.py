"""Client-side rate limits, shared by every client, batch worker and thread in the process.

Two kinds of limiter live here:

    RateLimiter     fixed RPM/TPM buckets from a profile's `rpm` / `tpm` (configured caps)
    SharedLimiter   the limits a provider announces, learned from the `x-ratelimit-*` headers of
                    every answer (success or 429), one per (host, key fingerprint, model); in
                    Redis when `UNYO_REDIS_URL` is set, so every process and host shares it

Both use a reservation model: `reserve(...)` takes capacity now (the balance may go negative)
and says how long the caller must wait before sending, so concurrent callers queue fairly without
holding a lock while they sleep. Sync and async callers sleep in their own way.

How the shared limiter learns (OpenAI's headers; most compatible providers send the same):

    x-ratelimit-limit-requests / -tokens       the per-minute limits: the buckets refill at
                                               limit/60 per second (x 0.98, for jitter), hold one
                                               second of that as burst (providers enforce limits
                                               per second or finer, not as a minute-long burst)
    x-ratelimit-remaining-requests / -tokens   what the provider had left when it admitted the
                                               request: the local balance is lowered to it, less
                                               what was reserved since and plus what refilled
                                               (other clients, processes, a previous run)
    no headers                                 nothing is paced here (local servers): the batch
                                               runner's AIMD limiter probes instead

Each request costs 1 request and (input tokens + output cap x choices) tokens, as providers count
at admission. The caller counts input exactly while a token bucket is active (see `rate_limit`).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SAFETY = 0.98  # pace at 98 % of an announced rate
BURST_S = 1.0  # the burst a learned bucket holds, in seconds of its rate
FORGET_AFTER = 3  # answers in a row without headers: the provider stopped announcing (or never did)


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


# --- learned limits -----------------------------------------------------------------------------


def _number(text: Any) -> float | None:
    try:
        value = float(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


@dataclass(frozen=True)
class Announced:
    """What one answer's `x-ratelimit-*` headers say (None: not sent)."""

    limit_requests: float | None = None
    limit_tokens: float | None = None
    remaining_requests: float | None = None
    remaining_tokens: float | None = None
    reset_requests_s: float | None = None
    reset_tokens_s: float | None = None

    @property
    def any(self) -> bool:
        return self.limit_requests is not None or self.limit_tokens is not None


def parse_headers(headers: Mapping[str, str] | Any) -> Announced:
    """The rate-limit headers of an answer; malformed values count as absent."""
    if headers is None:
        return Announced()
    from unyo._types._errors import _duration

    def get(name: str) -> Any:
        try:
            return headers.get(name)
        except Exception:  # noqa: BLE001 - a header object we do not know
            return None

    def reset(name: str) -> float | None:
        raw = get(name)
        if raw is None:
            return None
        return _number(raw) if _number(raw) is not None else _duration(str(raw))

    limits = {k: _number(get(f"x-ratelimit-limit-{k}")) for k in ("requests", "tokens")}
    return Announced(
        limits["requests"] or None, limits["tokens"] or None,  # a limit of 0 is no usable announcement
        _number(get("x-ratelimit-remaining-requests")), _number(get("x-ratelimit-remaining-tokens")),
        reset("x-ratelimit-reset-requests"), reset("x-ratelimit-reset-tokens"),
    )  # fmt: skip


@dataclass
class Ticket:
    """One reservation: where it stood in the shared sequence, for reading `remaining` later."""

    wait: float
    seq_requests: float
    seq_tokens: float
    send_at: float  # on the backend's clock
    tokens: int
    counted_input: int | None  # the exact input count charged, for calibration against usage
    backend: Any = None
    offset: float = 0.0  # the backend's clock minus this process's monotonic clock
    bound_input: int | None = None  # the input's byte bound, when that (or an estimate from it) was charged

    def sent(self) -> None:
        """The request goes out now: the provider admits it about now, not when it was reserved
        (a cold first call or a slow step in between would otherwise skew `remaining`)."""
        self.send_at = time.monotonic() + self.offset


class _Dim:
    """One dimension (requests or tokens) of the local backend."""

    def __init__(self) -> None:
        self.rate = 0.0  # units per second; 0: unknown, not paced
        self.cap = 0.0
        self.level = 0.0
        self.stamp = 0.0
        self.seq = 0.0  # units reserved so far

    def refill(self, now: float) -> None:
        if self.rate > 0:
            self.level = min(self.cap, self.level + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, amount: float, now: float) -> float:
        self.refill(now)
        self.seq += amount
        if self.rate <= 0:
            return 0.0
        amount = min(amount, self.cap)  # larger than the burst: wait for a full bucket, no more
        wait = max(0.0, (amount - self.level) / self.rate)
        self.level -= amount
        return wait

    def adopt(self, rate: float, cap: float, remaining: float, seq: float, send_at: float, now: float) -> None:
        """rate/cap: < 0 unchanged, 0 forget; remaining: < 0 not announced."""
        self.refill(now)
        if rate == 0:
            self.rate = self.cap = self.level = 0.0
        elif rate > 0:
            if self.rate <= 0:
                self.level = cap  # first announcement: start full, `remaining` corrects below
            self.rate, self.cap = rate, cap
            self.level = min(self.level, cap)
        if remaining >= 0 and self.rate > 0 and seq >= 0:
            estimate = remaining + self.rate * max(0.0, now - send_at) - (self.seq - seq)
            self.level = min(self.level, estimate)


class LocalBackend:
    """The buckets in this process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._dims = (_Dim(), _Dim())
        self._lock = threading.Lock()

    def reserve(self, requests: float, tokens: float) -> tuple[float, float, float, float, float, float]:
        """(wait, seq_requests, seq_tokens, send_at, rate_requests, rate_tokens)."""
        with self._lock:
            now = self.clock()
            wait = max(d.take(a, now) for d, a in zip(self._dims, (requests, tokens)))
            return wait, self._dims[0].seq, self._dims[1].seq, now + wait, self._dims[0].rate, self._dims[1].rate

    def adopt(self, dims: tuple[tuple[float, float, float, float, float], ...]) -> None:
        with self._lock:
            now = self.clock()
            for d, args in zip(self._dims, dims):
                d.adopt(*args, now=now)


_LUA = """
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local names = {'r', 't'}
local function get(d)
  local v = redis.call('HMGET', key, d..'rate', d..'cap', d..'level', d..'stamp', d..'seq')
  local s = {rate = tonumber(v[1]) or 0, cap = tonumber(v[2]) or 0, level = tonumber(v[3]) or 0,
             stamp = tonumber(v[4]) or now, seq = tonumber(v[5]) or 0}
  if s.rate > 0 then s.level = math.min(s.cap, s.level + math.max(0, now - s.stamp) * s.rate) end
  s.stamp = now
  return s
end
local function put(d, s)
  redis.call('HSET', key, d..'rate', tostring(s.rate), d..'cap', tostring(s.cap), d..'level', tostring(s.level),
             d..'stamp', tostring(s.stamp), d..'seq', tostring(s.seq))
end
local out = {}
if ARGV[1] == 'reserve' then
  local wait = 0
  for i, d in ipairs(names) do
    local s = get(d)
    local amount = tonumber(ARGV[1 + i])
    s.seq = s.seq + amount
    if s.rate > 0 then
      local a = math.min(amount, s.cap)
      local w = (a - s.level) / s.rate
      if w > wait then wait = w end
      s.level = s.level - a
    end
    put(d, s)
    out[i] = s
  end
  redis.call('PEXPIRE', key, 3600000)
  return {tostring(wait), tostring(out[1].seq), tostring(out[2].seq), \
tostring(now + wait), tostring(out[1].rate), tostring(out[2].rate)}
end
for i, d in ipairs(names) do
  local b = 1 + (i - 1) * 5
  local rate, cap, rem = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local seq, send_at = tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
  local s = get(d)
  if rate == 0 then
    s.rate, s.cap, s.level = 0, 0, 0
  elseif rate > 0 then
    if s.rate <= 0 then s.level = cap end
    s.rate, s.cap = rate, cap
    if s.level > cap then s.level = cap end
  end
  if rem >= 0 and s.rate > 0 and seq >= 0 then
    local estimate = rem + s.rate * math.max(0, now - send_at) - (s.seq - seq)
    if estimate < s.level then s.level = estimate end
  end
  put(d, s)
end
redis.call('PEXPIRE', key, 3600000)
return 'ok'
"""


class RedisBackend:
    """The same buckets in Redis, updated by one atomic Lua script on the server's clock, so
    every process and host using the key shares them. Any Redis failure falls back to the
    process's own buckets for that request (said once on stderr)."""

    def __init__(self, url: str, key: str) -> None:
        import redis  # the optional `redis` extra

        self.url, self.key = url, key
        self._client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._script = self._client.register_script(_LUA)
        self.fallback = LocalBackend()
        self._warned = False

    def _failed(self, exc: Exception) -> None:
        if not self._warned:
            import sys

            self._warned = True
            print(
                f"unyo: the shared rate limiter in Redis is unreachable ({type(exc).__name__}); "
                "pacing in this process only",
                file=sys.stderr,
            )

    def reserve(self, requests: float, tokens: float) -> tuple[float, float, float, float, float, float]:
        try:
            out = self._script(keys=[self.key], args=["reserve", requests, tokens])
        except Exception as exc:  # noqa: BLE001 - Redis down must not stop the calls
            self._failed(exc)
            return self.fallback.reserve(requests, tokens)
        wait, seq_r, seq_t, send_at, rate_r, rate_t = (float(x) for x in out)
        return max(0.0, wait), seq_r, seq_t, send_at, rate_r, rate_t

    def adopt(self, dims: tuple[tuple[float, float, float, float, float], ...]) -> None:
        args: list[Any] = ["adopt"]
        for d in dims:
            args += [repr(float(x)) for x in d]
        try:
            self._script(keys=[self.key], args=args)
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
        self.fallback.adopt(tuple((r, c, -1.0, -1.0, 0.0) for r, c, *_ in dims))


class SharedLimiter:
    """The limits one (host, key, model) announces, paced for everyone in the process (and, with
    Redis, everyone using the key). `caps` are the profile's configured rpm/tpm: upper bounds."""

    def __init__(self, backend: Any, cap_rpm: float | None = None, cap_tpm: float | None = None) -> None:
        self.backend = backend
        self.cap_rpm, self.cap_tpm = cap_rpm or None, cap_tpm or None
        self.rpm: float | None = None  # announced (learned) limits
        self.tpm: float | None = None
        self.remaining_requests: float | None = None
        self.remaining_tokens: float | None = None
        self.calibration = 1.0  # reported input tokens / counted, when above 1 (a tokenizer that undercounts)
        self.avg_tokens: float | None = None  # tokens charged per request (moving average)
        self.bound_ratio: float | None = None  # reported input tokens / byte bound (recent maximum)
        self.answers = self.announced = 0
        self._silent = 0
        self._lock = threading.Lock()
        self._shared_rates = (0.0, 0.0)  # per second, as the backend last reported them
        self.ident: tuple[str, ...] = ()  # (endpoint, key fingerprint, model, redis url) when shared
        if self.cap_rpm or self.cap_tpm:
            self._push(None, None)

    # --- what the pipeline and the runner ask -----------------------------------------------

    @property
    def known(self) -> bool:
        """Limits were announced (or are shared in Redis by another process)."""
        return bool(self.rpm or self.tpm or self._shared_rates[0] or self._shared_rates[1])

    @property
    def paces_tokens(self) -> bool:
        return bool(self.tpm or self.cap_tpm or self._shared_rates[1])

    def effective(self) -> tuple[float | None, float | None]:
        """(rpm, tpm) paced at, before the safety margin."""

        def low(a: float | None, b: float | None) -> float | None:
            return min(x for x in (a, b) if x) if (a or b) else None

        shared_rpm = self._shared_rates[0] * 60 / SAFETY or None
        shared_tpm = self._shared_rates[1] * 60 / SAFETY or None
        return low(self.rpm or shared_rpm, self.cap_rpm), low(self.tpm or shared_tpm, self.cap_tpm)

    def request_rate(self) -> float | None:
        """Requests per second the limits sustain at the current mean request size."""
        rpm, tpm = self.effective()
        rates = [rpm * SAFETY / 60] if rpm else []
        if tpm and self.avg_tokens:
            rates.append(tpm * SAFETY / 60 / self.avg_tokens)
        return min(rates) if rates else None

    def tokens_could_bind(self, tokens: int) -> bool:
        """Would requests of `tokens` reach half the TPM limit before the RPM limit binds? Only
        then is an over-estimated charge (a byte bound) worth counting exactly."""
        rpm, tpm = self.effective()
        if not tpm:
            return False
        return not rpm or tokens * self.calibration * rpm >= 0.5 * tpm

    def charge(self, input_tokens: int, output_tokens: int) -> int:
        return int(math.ceil(input_tokens * self.calibration)) + output_tokens

    def estimate(self, bound: int) -> int | None:
        """Input tokens from a byte bound, by the ratio the provider's usage showed (+10 %)."""
        if self.bound_ratio is None:
            return None
        return min(bound, int(math.ceil(bound * self.bound_ratio * 1.1)))

    def reserve(self, tokens: int, counted_input: int | None = None, bound_input: int | None = None) -> Ticket:
        wait, seq_r, seq_t, send_at, rate_r, rate_t = self.backend.reserve(1, tokens)
        with self._lock:
            self._shared_rates = (rate_r, rate_t)
            self.avg_tokens = tokens if self.avg_tokens is None else 0.9 * self.avg_tokens + 0.1 * tokens
        return Ticket(
            wait,
            seq_r,
            seq_t,
            send_at,
            tokens,
            counted_input,
            self.backend,
            send_at - (time.monotonic() + wait),
            bound_input,
        )

    def observe(self, headers: Any, ticket: Ticket | None = None, used_input: int | None = None) -> Announced:
        """Adopt what an answer announces; `used_input` (the usage the provider reported)
        calibrates the input count."""
        seen = parse_headers(headers)
        first = False
        self.calibrate(ticket, used_input)
        with self._lock:
            self.answers += 1
            if not seen.any:
                self._silent += 1
                forget = self._silent == FORGET_AFTER and (self.rpm or self.tpm)
                if forget:
                    self.rpm = self.tpm = None
            else:
                self._silent, forget = 0, False
                self.announced += 1
                first = self.announced == 1
                self.rpm = seen.limit_requests or self.rpm
                self.tpm = seen.limit_tokens or self.tpm
                self.remaining_requests, self.remaining_tokens = seen.remaining_requests, seen.remaining_tokens
        if forget:
            self._push(None, None, forget=True)
        elif seen.any:
            self._push(seen, ticket)
            if first:
                _announce(self)
        return seen

    def calibrate(self, ticket: Ticket | None, used_input: int | None) -> None:
        """The input usage a provider reported for a ticket's request corrects how input is
        charged: `calibration` (reported / counted) and `bound_ratio` (reported / byte bound)."""
        if ticket is None or not used_input:
            return
        with self._lock:
            if ticket.counted_input:
                ratio = used_input / ticket.counted_input
                self.calibration = min(1.5, max(1.0, 0.8 * self.calibration + 0.2 * ratio))
            if ticket.bound_input:
                ratio = min(1.0, used_input / ticket.bound_input)
                if self.bound_ratio is None:  # the first real size: the mean so far was of byte bounds,
                    self.avg_tokens = None  # ~3x too high for Japanese (and the rate the runner follows too low)
                self.bound_ratio = ratio if self.bound_ratio is None else max(ratio, 0.95 * self.bound_ratio)

    def _push(self, seen: Announced | None, ticket: Ticket | None, forget: bool = False) -> None:
        rpm, tpm = self.effective()
        rows = []
        for per_min, remaining, seq in (
            (rpm, seen and seen.remaining_requests, ticket and ticket.seq_requests),
            (tpm, seen and seen.remaining_tokens, ticket and ticket.seq_tokens),
        ):
            rate = (per_min or 0) * SAFETY / 60 if per_min else (0.0 if forget else -1.0)
            cap = max(rate * BURST_S, 1.0) if rate > 0 else 0.0
            ok = remaining is not None and seq is not None and (ticket is None or ticket.backend is self.backend)
            rows.append(
                (
                    rate,
                    cap,
                    float(remaining) if ok else -1.0,
                    float(seq) if ok else -1.0,
                    ticket.send_at if ok and ticket else 0.0,
                )
            )  # type: ignore[arg-type]
        self.backend.adopt(tuple(rows))
        if forget:
            self._shared_rates = (0.0, 0.0)


_shared: dict[tuple[str, str, str, str], SharedLimiter] = {}
_listeners: list[Callable[[SharedLimiter], None]] = []


def on_first_announcement(listener: Callable[[SharedLimiter], None]) -> Callable[[], None]:
    """Call `listener(limiter)` the moment a shared limiter learns its first limits (from the
    thread that read the answer); returns the function that unregisters it. The batch runner
    uses it to stop probing as soon as the first answer's headers are read, not once its row
    has finished."""
    with _lock:
        _listeners.append(listener)

    def remove() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


def _announce(limiter: SharedLimiter) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(limiter)
        except Exception:  # noqa: BLE001 - a listener must never fail a call
            pass


def key_fingerprint(settings: Any) -> str:
    """A short hash naming the key (the key itself is never stored)."""
    key = settings.api_key.reveal() if settings.api_key is not None else ""
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else "-"


def endpoint_of(settings: Any) -> str:
    """host[:port] of the endpoint: the provider the limits belong to."""
    from urllib.parse import urlsplit

    if settings.profile.in_process:
        return "local"
    return urlsplit(settings.base_url or "").netloc or settings.host


def shared_limiter(settings: Any, model: str, redis_url: str | None = None, prefix: str = "unyo:rl") -> SharedLimiter:
    """The one limiter for (host, key fingerprint, model) in this process; its buckets in Redis
    when `redis_url` (default: the settings' `UNYO_REDIS_URL`) is set."""
    redis_url = redis_url if redis_url is not None else getattr(settings, "redis_url", None)
    ident = (endpoint_of(settings), key_fingerprint(settings), model or "", redis_url or "")
    with _lock:
        found = _shared.get(ident)
        if found is None:
            backend = (
                RedisBackend(redis_url, f"{prefix}:{ident[0]}:{ident[1]}:{ident[2]}") if redis_url else LocalBackend()
            )
            found = _shared[ident] = SharedLimiter(backend)  # the profile's rpm/tpm stay in RateLimiter
            found.ident = ident
        return found


def observe_answer(
    settings: Any, model: str, headers: Any, ticket: Ticket | None, used_input: int | None = None
) -> None:
    """Read an answer's `x-ratelimit-*` headers into the shared limiter. Never raises."""
    try:
        shared_limiter(settings, model).observe(headers, ticket, used_input)
    except Exception:  # noqa: BLE001 - learning limits must never fail a call
        pass
