"""The gateway's HTTP client to the upstream provider: one pool, kept alive, on aiohttp.

The SDK's default transport (httpx2 over httpcore) costs about a third of the gateway's CPU per
request at 200 concurrent connections (`bench/gateway.py`, profiled with py-spy): its pool scans
every connection per request, and the headers and body go out as separate writes. aiohttp's C
parser and connector do the same work for about 30 % less CPU per request in all (3.8 vs 5.3 ms
measured). The SDK supports it (`openai.DefaultAioHttpClient`, the `aiohttp` extra); without
aiohttp installed the gateway keeps httpx2, with every connection kept alive (the SDK keeps 100
idle, so past 100 concurrent requests each answer would close its connection and the next
request open a new one).

aiohttp's errors reach the SDK as httpx2's, mapped by the vendored transport; it maps a dropped
connection (`ServerDisconnectedError`, a reset) to `ConnectTimeout`. Here a dropped connection
is `RemoteProtocolError` / `ReadError`, as httpx2 says it, so unyo calls it a broken connection
(502, retried, a fallback) rather than a timeout (504).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

UPSTREAM_CONNECTIONS = 1000  # the SDK's own cap on connections to the upstream


def upstream_client_options(settings: Any) -> dict[str, Any]:
    """The SDK client options for the gateway's upstream (none for an in-process model)."""
    if settings.profile.in_process:
        return {}
    import httpx2
    import openai

    limits = httpx2.Limits(max_connections=UPSTREAM_CONNECTIONS, max_keepalive_connections=UPSTREAM_CONNECTIONS)
    if _behind_proxy(settings.host):  # httpx2 honours HTTPS_PROXY / NO_PROXY; the aiohttp transport would not
        return {"http_client": openai.DefaultAsyncHttpxClient(limits=limits)}
    try:
        transport = _aiohttp_transport(limits)
    except ImportError:  # aiohttp is optional: httpx2, every connection kept alive
        return {"http_client": openai.DefaultAsyncHttpxClient(limits=limits)}
    return {"http_client": openai.DefaultAsyncHttpxClient(transport=transport, limits=limits)}


def _behind_proxy(host: str) -> bool:
    """Whether the environment sends requests to `host` through a proxy (HTTPS_PROXY and the rest,
    unless NO_PROXY names it): a corporate proxy is never skipped by the faster transport."""
    import urllib.request

    return bool(urllib.request.getproxies()) and not urllib.request.proxy_bypass(host.split(":")[0])


def _aiohttp_transport(limits: Any) -> Any:
    import aiohttp
    import httpx2
    from openai._vendor.httpx_aiohttp import AiohttpTransport

    dropped = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)

    def remapped(exc: httpx2.TransportError) -> BaseException:
        cause = exc.__cause__
        if isinstance(exc, httpx2.ConnectTimeout) and isinstance(cause, dropped):
            if isinstance(cause, aiohttp.ClientConnectorError):
                return httpx2.ConnectError(str(cause))
            return httpx2.RemoteProtocolError(str(cause) or "the upstream closed the connection")
        return exc

    class Body(httpx2.AsyncByteStream):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                async for chunk in self.inner:
                    yield chunk
            except httpx2.TransportError as exc:
                raise remapped(exc) from exc.__cause__

        async def aclose(self) -> None:
            await self.inner.aclose()

    class Transport(AiohttpTransport):  # type: ignore[misc]
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            try:
                response = await super().handle_async_request(request)
            except httpx2.TransportError as exc:
                raise remapped(exc) from exc.__cause__
            response.stream = Body(response.stream)
            return response

    return Transport(limits=limits)
