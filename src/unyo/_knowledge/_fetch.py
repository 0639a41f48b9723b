"""Fetch a URL for the knowledge base: http/https only, a timeout, a size cap, and no private
or loopback addresses unless allowed (`allow_private=True`, or UNYO_KB_ALLOW_PRIVATE=1) — a
document URL must not become a way to read the intranet or a cloud metadata service.

Every redirect hop is checked the same way. The host is resolved once and every address it
resolves to must be public.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urljoin, urlsplit

from unyo._types._errors import BadInput
from unyo._types._messages import Message, os_reason

MAX_BYTES = 20_000_000
TIMEOUT_S = 15.0
MAX_REDIRECTS = 5


def allowed_private() -> bool:
    return os.environ.get("UNYO_KB_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes")


def check_url(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BadInput(Message("kb.url_scheme", url=url, scheme=parts.scheme or Message("kb.no_scheme")))
    if not parts.hostname:
        raise BadInput(Message("kb.url_no_host", url=url))
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise BadInput(Message("kb.url_unresolved", url=url, host=parts.hostname, reason=os_reason(exc))) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise BadInput(Message("kb.url_private", url=url, host=parts.hostname, address=address))


def fetch(
    url: str, *, timeout: float = TIMEOUT_S, max_bytes: int = MAX_BYTES, allow_private: bool | None = None
) -> tuple[bytes, str]:
    """(body, content type) of `url`, following at most MAX_REDIRECTS checked redirects."""
    import httpx2 as httpx

    allow = allowed_private() if allow_private is None else allow_private
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url, allow)
            try:
                with client.stream("GET", url, headers={"User-Agent": "unyo-kb/0.1"}) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code >= 400:
                        raise BadInput(Message("kb.url_status", url=url, status=response.status_code))
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > max_bytes:
                        raise BadInput(Message("kb.url_too_big", url=url, size=declared, limit=max_bytes))
                    body = bytearray()
                    for piece in response.iter_bytes():
                        body.extend(piece)
                        if len(body) > max_bytes:
                            raise BadInput(Message("kb.url_over_cap", url=url, limit=max_bytes))
                    return bytes(body), response.headers.get("content-type", "")
            except httpx.TimeoutException:
                raise BadInput(Message("kb.url_timeout", url=url, timeout=timeout)) from None
            except httpx.HTTPError as exc:
                raise BadInput(Message("kb.url_failed", url=url, detail=f"{type(exc).__name__}: {exc}")) from None
    raise BadInput(Message("kb.url_redirects", url=url, count=MAX_REDIRECTS))
