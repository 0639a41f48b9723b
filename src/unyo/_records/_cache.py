"""Exact-match response cache: the same request, by the same caller, within the TTL, is answered
from the store at $0 without a call.

The key is a SHA-256 of the normalised request — api, profile, endpoint, every parameter that
is sent (model, input/messages, instructions, tools, output schema, temperature, caps ...) —
and of the scope: the user and a fingerprint of the key (never the key). Off unless
`cache_ttl_s > 0`; streams are not cached; a request with temperature > 0 is not cached unless
the call says `unyo_cache="force"`. Hits are recorded as hits (cost 0, no billed tokens) and
left out of latency statistics. Provider-side prompt caching is separate: `prompt_cache_key`
and `prompt_cache_retention` pass through, and the provider's cached tokens are reported.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unyo._core._call import Call

CACHEABLE = ("responses", "chat", "embeddings")


def _fingerprint(call: Call) -> str:
    key = call.settings.api_key
    return hashlib.sha256(key.reveal().encode()).hexdigest()[:16] if key else "-"


def cache_key(call: Call) -> str:
    scope = {
        "api": call.api,
        "profile": call.settings.profile.name,
        "endpoint": call.settings.profile.endpoint(call.settings.base_url),
        "key": _fingerprint(call),
        "user": call.info.user,
        "params": call.params,
    }
    blob = json.dumps(scope, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _eligible(call: Call) -> bool:
    if (
        call.settings.cache_ttl_s <= 0
        or call.settings.db_url == "off"
        or call.cache_mode == "off"
        or call.api not in CACHEABLE
        or call.stream
    ):
        return False
    if call.params.get("conversation"):  # a provider conversation grows with each call: never replay one
        return False
    temperature = call.params.get("temperature")
    if temperature and temperature > 0 and call.cache_mode != "force":
        return False
    return True


def check_cache(call: Call) -> None:
    """Pipeline step: on a hit, hand the stored response to the client instead of sending."""
    if not _eligible(call):
        return
    from unyo._records._store import store_for

    call.cache_key = cache_key(call)
    with store_for(call.settings).tx(write=False) as tx:
        rows = tx.execute("SELECT body, expires_at FROM unyo_cache WHERE key = ?", [call.cache_key])
    if rows and rows[0][1] > time.time():
        call.cached_body = json.loads(rows[0][0])
        call.info.cache_hit = True
        call.info.budget = "cache hit"


def store_in_cache(call: Call) -> None:
    """Pipeline finisher: keep a completed, freshly fetched response for the TTL."""
    if not call.cache_key or call.info.cache_hit or call.info.status != "completed" or call.response_body is None:
        return
    from unyo._records._store import store_for

    now = time.time()
    with store_for(call.settings).tx() as tx:
        tx.execute("DELETE FROM unyo_cache WHERE key = ?", [call.cache_key])
        tx.execute(
            "INSERT INTO unyo_cache (key, api, body, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            [call.cache_key, call.api, call.response_body, now, now + call.settings.cache_ttl_s],
        )


def revive(api: str, body: dict[str, Any]) -> Any:
    """The SDK's own type for a cached body, built the way the SDK builds it (recursively,
    without rejecting fields a newer API version added)."""
    if api == "responses":
        from openai.types.responses import Response as Model
    elif api == "chat":
        from openai.types.chat import ChatCompletion as Model  # type: ignore[assignment]
    else:
        from openai.types import CreateEmbeddingResponse as Model  # type: ignore[assignment]
    return Model.construct(**body)
