"""Console sessions: a signed, expiring cookie naming a virtual key, and CSRF tokens tied to it.

    cookie   unyo_session = KEYID.EXPIRY.HMAC(secret, "session|KEYID|EXPIRY")   HttpOnly, SameSite=Strict
    csrf     HMAC(secret, "csrf|" + cookie): sent in every form (field `csrf`) and fetch (x-csrf-token)

Nothing is stored server-side: every request re-reads the key row, so a revoked or expired key
ends its sessions on the next request on every replica. The key itself never reaches the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import time

COOKIE = "unyo_session"
LOGIN_COOKIE = "unyo_login"  # double-submit token for the sign-in form (no session yet)
TTL_S = 8 * 3600


def _sign(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


def issue(secret: bytes, key_id: str, now: float | None = None) -> str:
    expiry = int((time.time() if now is None else now) + TTL_S)
    return f"{key_id}.{expiry}.{_sign(secret, f'session|{key_id}|{expiry}')}"


def key_id_of(secret: bytes, cookie: str | None, now: float | None = None) -> str | None:
    """The key id a valid, unexpired cookie names, else None."""
    parts = (cookie or "").split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    key_id, expiry, mac = parts
    if not hmac.compare_digest(mac, _sign(secret, f"session|{key_id}|{expiry}")):
        return None
    return key_id if int(expiry) > (time.time() if now is None else now) else None


def csrf_token(secret: bytes, cookie: str) -> str:
    return _sign(secret, f"csrf|{cookie}")


def csrf_ok(secret: bytes, cookie: str | None, presented: str | None) -> bool:
    return bool(cookie and presented) and hmac.compare_digest(csrf_token(secret, cookie or ""), presented or "")
