"""Per-key requests and tokens per minute, shared by every replica through Redis.

    admit(key)        INCR the key's request counter for this minute (fixed window, 120 s TTL);
                      over rpm, or the minute's tokens already at tpm -> refused with the seconds
                      to the next minute (429 rate_limit_exceeded, Retry-After)
    spent(key, n)     INCRBY the minute's token counter by what the call used

Without UNYO_REDIS_URL the counters live in this process (one replica). A key without rpm/tpm
costs nothing here.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from unyo._gateway._errors import GatewayError
from unyo._gateway._keys import VirtualKey


class KeyRates:
    def __init__(self, redis_url: str | None = None) -> None:
        self._redis: Any = None
        if redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(redis_url)
        self._local: dict[str, int] = {}
        self._lock = threading.Lock()

    async def _incr(self, name: str, by: int) -> int:
        if self._redis is not None:
            pipe = self._redis.pipeline()
            pipe.incrby(name, by)
            pipe.expire(name, 120)
            value, _ = await pipe.execute()
            return int(value)
        with self._lock:
            minute = name.rsplit(":", 1)[-1]
            for old in [k for k in self._local if not k.endswith(f":{minute}")]:
                del self._local[old]  # only the current minute's counters are kept
            self._local[name] = self._local.get(name, 0) + by
            return self._local[name]

    async def admit(self, key: VirtualKey) -> None:
        if key.rpm is None and key.tpm is None:
            return
        now = time.time()
        minute = int(now // 60)
        wait = {"retry-after": str(max(1, int(60 - now % 60)))}
        if key.tpm is not None and await self._incr(f"unyo:gw:tpm:{key.name}:{minute}", 0) >= key.tpm:
            raise GatewayError(
                429, f"key {key.name!r}: {key.tpm} tokens per minute used", "tokens", "rate_limit_exceeded", wait
            )
        if key.rpm is not None and await self._incr(f"unyo:gw:rpm:{key.name}:{minute}", 1) > key.rpm:
            raise GatewayError(
                429, f"key {key.name!r}: {key.rpm} requests per minute reached", "requests", "rate_limit_exceeded", wait
            )

    async def spent(self, key: VirtualKey, tokens: int) -> None:
        if key.tpm is not None and tokens > 0:
            await self._incr(f"unyo:gw:tpm:{key.name}:{int(time.time() // 60)}", tokens)

    async def ping(self) -> bool:
        if self._redis is None:
            return True
        return bool(await self._redis.ping())

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
