"""The gateway's HTTP app: OpenAI's API over unyo's guarded pipeline, one virtual key per caller.

    request -> virtual key (401, audited) -> body size (413) -> JSON (400) -> model scope (403,
    audited) -> key rpm/tpm (429) -> unyo.AsyncOpenAI with the key's budgets, user and tag
    (budget reserve, cache, limiter, retries, settle, audit) -> the SDK's object as JSON, or SSE

    POST /v1/responses · POST /v1/chat/completions · POST /v1/embeddings · GET /v1/models
    GET /v1/responses/{id} (only a response this key's user created) · GET /healthz · /readyz
    GET /metrics · /admin/keys... (see `_admin`, behind UNYO_GATEWAY_ADMIN_TOKEN)

Settings are the server's own (env, unyo.toml: profile, upstream key, server-wide budgets);
each key adds its limits on top: per request, per day and per month, counted on the ledger's
user `key:NAME` (or the key's user), so every replica sharing the database shares them.
"""

from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from fastapi import Request  # at module level: FastAPI resolves route annotations here

from unyo._client._defaults import DEFAULT_FINISHERS, DEFAULT_STEPS
from unyo._client._openai import AsyncOpenAI
from unyo._core._config import Settings
from unyo._core._limits import Limit
from unyo._core._pipeline import Pipeline
from unyo._gateway._errors import GatewayError, error_class, to_http
from unyo._gateway._fallback import Fallbacks, Hops, hop_cost
from unyo._gateway._keys import KeyStore, VirtualKey
from unyo._gateway._metrics import Metrics
from unyo._gateway._rate import KeyRates
from unyo._gateway._upstream import upstream_client_options
from unyo._money._settle import settle
from unyo._records._store import store_for
from unyo._types._call import call_info
from unyo._types._errors import ConfigError, UnyoError

MAX_BODY_BYTES = 4 * 1024 * 1024
_APIS = {  # route -> (SDK path on the guarded client, required field)
    "/v1/responses": (("responses", "create"), None),  # input may be a stored prompt / conversation
    "/v1/chat/completions": (("chat", "completions", "create"), "messages"),
    "/v1/embeddings": (("embeddings", "create"), "input"),
}


@dataclass(frozen=True)
class GatewayConfig:
    secret: bytes
    admin_token: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    fallbacks: dict[str, tuple[str, ...]] = field(default_factory=dict)  # role -> models to try next

    @classmethod
    def from_env(cls) -> GatewayConfig:
        from unyo._gateway._keys import server_secret
        from unyo._types._redact import register_secret

        token = os.environ.get("UNYO_GATEWAY_ADMIN_TOKEN") or None
        if token:
            register_secret(token)
        from unyo._gateway._fallback import parse_fallbacks

        raw = os.environ.get("UNYO_GATEWAY_MAX_BODY_BYTES") or str(MAX_BODY_BYTES)
        if not raw.strip().isdigit():
            raise ConfigError(f"UNYO_GATEWAY_MAX_BODY_BYTES must be a number of bytes, got {raw!r}")
        size = int(raw)
        return cls(server_secret(), token, size, parse_fallbacks(os.environ.get("UNYO_GATEWAY_FALLBACKS")))


def key_limits(key: VirtualKey) -> tuple[Limit, ...]:
    out = []
    for period, usd in (("request", key.budget_request), ("day", key.budget_daily), ("month", key.budget_monthly)):
        if usd is not None:
            out.append(Limit("all" if period == "request" else "user", period, Decimal(usd)))
    return tuple(out)


class Gateway:
    """What the routes share: the guarded client, the key store, rates and metrics."""

    def __init__(self, settings: Settings, config: GatewayConfig) -> None:
        self.settings, self.config = settings, config
        self.store = store_for(settings)
        self.keys = KeyStore(self.store, config.secret)
        self.metrics = Metrics()
        self.rates = KeyRates(settings.redis_url)
        self.fallbacks = Fallbacks(config.fallbacks, settings.host)
        from unyo._gateway._otel import span_finisher, tracer_from_env

        tracer = tracer_from_env()
        traced = (span_finisher(tracer),) if tracer is not None else ()
        finishers = tuple(f for f in DEFAULT_FINISHERS if f is not settle)
        pipeline = Pipeline(DEFAULT_STEPS, (*finishers, hop_cost, settle, self._observe, *traced))
        self.client = AsyncOpenAI(settings=settings, pipeline=pipeline, **upstream_client_options(settings))
        self._settings: dict[tuple[Any, ...], Settings] = {}

    def _observe(self, call: Any) -> None:
        """Pipeline finisher: every settled call counts in the metrics."""
        info = call.info
        if info.api.startswith("gateway."):
            return
        self.metrics.settled(info)
        if info.error == "BudgetExceeded":
            self.metrics.budget_refusals.inc()
        elif info.error and info.status == "failed":
            self.metrics.upstream_errors.labels(info.error).inc()

    def client_for(self, key: VirtualKey) -> AsyncOpenAI:
        """The guarded client as this key: its limits on top of the server's, its user and tag."""
        scope = (key.id, key.budget_request, key.budget_daily, key.budget_monthly)
        settings = self._settings.get(scope)
        if settings is None:
            budget = replace(self.settings.budget, limits=self.settings.budget.limits + key_limits(key))
            settings = self._settings[scope] = self.settings.with_overrides(budget=budget)
        client = copy.copy(self.client)
        client.settings, client.user, client.tag = settings, key.ledger_user, key.tag
        return client

    # -- the checks before a call ------------------------------------------------------------

    async def authenticate(self, request: Any, api: str) -> VirtualKey:
        from unyo._core._offload import offload

        header = request.headers.get("authorization", "")
        presented = header[7:].strip() if header[:7].lower() == "bearer " else ""
        record = await offload(self.keys.lookup, presented) if presented else None
        reason = "missing" if not presented else "unknown" if record is None else record.state()
        if reason == "active" and record is not None:
            return record
        self.metrics.auth_failures.labels(reason).inc()
        what = {
            "missing": "no virtual key: send `Authorization: Bearer uk-...`",
            "unknown": "incorrect virtual key provided",
            "revoked": f"virtual key {record.hint if record else ''} was revoked",
            "expired": f"virtual key {record.hint if record else ''} has expired",
        }[reason]
        await self.audit_refusal(api, "AuthenticationError", what, record)
        raise GatewayError(401, what, "invalid_request_error", "invalid_api_key")

    async def audit_refusal(self, api: str, error: str, message: str, key: VirtualKey | None, model: str = "") -> None:
        """A refused request still leaves an audit record (never the presented key)."""
        from unyo._core._offload import offload

        call = self.client._unpriced_call(("gateway", api), {"model": model})
        call.info.user = key.ledger_user if key else "key:?"
        call.info.tag = key.tag if key else None
        call.info.error, call.info.error_message = error, message
        call.end("failed")
        await offload(self.client._settled, call)

    async def read_json(self, request: Any) -> dict[str, Any]:
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        too_big = GatewayError(413, f"request body over {limit} bytes", "invalid_request_error", "request_too_large")
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_big
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limit:
                raise too_big
        try:
            body = json.loads(bytes(raw) or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GatewayError(
                400, f"the body is not valid JSON: {exc}", "invalid_request_error", "invalid_json"
            ) from None
        if not isinstance(body, dict):
            raise GatewayError(400, "the body must be a JSON object", "invalid_request_error", "invalid_json")
        return body

    async def check_body(self, body: dict[str, Any], required: str | None, key: VirtualKey, api: str) -> None:
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise GatewayError(400, "you must provide a model parameter", "invalid_request_error", "missing_model")
        if required and body.get(required) is None:
            raise GatewayError(400, f"missing required parameter: {required!r}", "invalid_request_error", "missing")
        ours = sorted(k for k in body if k.startswith("unyo_"))
        if ours:
            raise GatewayError(
                400, f"unyo options are set by the key, not the request: {', '.join(ours)}", "invalid_request_error"
            )
        if not self.allowed(key, model):
            message = f"model {model!r} is not allowed for key {key.name!r} (allowed: {', '.join(key.models)})"
            await self.audit_refusal(api, "PermissionDenied", message, key, model)
            raise GatewayError(403, message, "permission_error", "model_not_allowed")

    def allowed(self, key: VirtualKey, model: str) -> bool:
        if not key.models or model in key.models:
            return True
        profile = self.settings.profile
        target = profile.resolve_model(model)[0]
        return any(profile.resolve_model(m)[0] == target for m in key.models)

    # -- the calls ---------------------------------------------------------------------------

    async def create(self, request: Any, route: str) -> Any:
        from starlette.responses import JSONResponse

        from unyo._gateway._stream import EventStream

        path, required = _APIS[route]
        api = route.removeprefix("/v1/")
        key = await self.authenticate(request, api)
        body = await self.read_json(request)
        await self.check_body(body, required, key, api)
        await self.rates.admit(key)
        try:
            hops = Hops(self.client_for(key), path, body, self.metrics)  # the hops are one call: one ledger row
            try:
                result, failed = await self.fallbacks.run(body["model"], hops.send, hops.skipped)
            except BaseException as exc:
                await hops.abandon(exc)
                raise
        except (TypeError, ValueError) as exc:  # a parameter of the wrong shape, caught by unyo or the SDK
            raise GatewayError(400, f"invalid request: {exc}", "invalid_request_error") from None
        hops = {"x-unyo-fallback-from": ",".join(failed)} if failed else {}
        if body.get("stream") and route != "/v1/embeddings":
            usage_wanted = bool((body.get("stream_options") or {}).get("include_usage"))
            stream = EventStream(result, route == "/v1/responses", usage_wanted, lambda info: self.used(key, info))
            stream.raw_headers += [(k.encode(), v.encode()) for k, v in hops.items()]
            return stream
        await self.used(key, call_info(result))
        return JSONResponse(result.to_dict(), headers=hops)

    async def used(self, key: VirtualKey, info: Any) -> None:
        usage = getattr(info, "usage", None)
        if usage is not None:
            await self.rates.spent(key, (usage.input_tokens or 0) + (usage.output_tokens or 0))

    async def models(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        key = await self.authenticate(request, "models")
        if key.models:
            data = [
                {"id": m, "object": "model", "created": int(key.created_at), "owned_by": "unyo"} for m in key.models
            ]
            return JSONResponse({"object": "list", "data": data})
        page = await self.client_for(key).models.list()
        return JSONResponse({"object": "list", "data": [m.to_dict() for m in page.data]})

    async def retrieve(self, request: Any, response_id: str) -> Any:
        from starlette.responses import JSONResponse

        from unyo._core._offload import offload

        key = await self.authenticate(request, "responses.retrieve")
        if not await offload(self._owns, key, response_id):
            raise GatewayError(404, f"no response {response_id!r} for this key", "invalid_request_error", "not_found")
        result = await self.client_for(key).responses.retrieve(response_id)
        return JSONResponse(result.to_dict())

    def _owns(self, key: VirtualKey, response_id: str) -> bool:
        with self.store.tx(write=False) as tx:
            rows = tx.execute(
                "SELECT 1 FROM unyo_calls WHERE response_id = ? AND user_id = ?", [response_id, key.ledger_user]
            )
        return bool(rows)

    async def ready(self) -> tuple[bool, dict[str, str]]:
        from unyo._core._offload import offload

        checks: dict[str, str] = {}
        try:
            await offload(self.store.schema_version)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"failing: {type(exc).__name__}"
        try:
            checks["redis"] = "ok" if await self.rates.ping() else "failing"
        except Exception as exc:
            checks["redis"] = f"failing: {type(exc).__name__}"
        return all(v == "ok" for v in checks.values()), checks


def create_app(settings: Settings, config: GatewayConfig) -> Any:
    """The FastAPI app for `unyo serve` (and for tests, under a real uvicorn)."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, Response

    from unyo._gateway._admin import admin_routes

    gateway = Gateway(settings, config)
    app = FastAPI(title="unyo gateway", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.gateway = gateway

    async def failure(request: Request, exc: Exception) -> Any:  # every failure as OpenAI's error body
        status, payload, headers = to_http(exc)
        if not isinstance(exc, (GatewayError, UnyoError, openai.OpenAIError)):
            gateway.metrics.upstream_errors.labels(error_class(exc)).inc()
        return JSONResponse(payload, status_code=status, headers=headers)

    import openai

    for kind in (GatewayError, UnyoError, openai.OpenAIError, Exception):
        app.add_exception_handler(kind, failure)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Any:
        problems = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in exc.errors())
        return JSONResponse({"error": {"message": problems, "type": "invalid_request_error", "param": None,
                                       "code": None}}, 400)  # fmt: skip

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Any:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": None}}, exc.status_code)

    async def create(request: Request) -> Any:
        return await gateway.create(request, request.url.path)

    for route in _APIS:  # served by `_Timed`'s fast path; these routes answer what it does not take
        app.add_api_route(route, create, methods=["POST"], include_in_schema=False)

    @app.get("/v1/models")
    async def models(request: Request) -> Any:
        return await gateway.models(request)

    @app.get("/v1/responses/{response_id}")
    async def retrieve(request: Request, response_id: str) -> Any:
        return await gateway.retrieve(request, response_id)

    @app.get("/healthz")
    async def healthz() -> Any:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Any:
        ok, checks = await gateway.ready()
        return JSONResponse({"status": "ok" if ok else "failing", "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics() -> Any:
        data, kind = gateway.metrics.render()
        return Response(data, media_type=kind)

    admin_routes(app, gateway)
    from unyo._gateway._console._routes import console_routes  # the web console at /ui

    console_routes(app, gateway)
    return _Timed(app, gateway.metrics, gateway, failure)


class _Timed:
    """ASGI wrapper: every answer counted and timed (to its last byte) in the metrics, by route.

    The fast path: `POST /v1/responses | /v1/chat/completions | /v1/embeddings` go straight to
    `Gateway.create`, failures through the app's own error handler (`failure`), without FastAPI's
    middleware and routing layers, which those routes do not use (the endpoint reads and checks
    its own body) and which cost about a tenth of the CPU of a request. Everything else, and any
    other method on those paths, goes through the app."""

    def __init__(self, app: Any, metrics: Metrics, gateway: Gateway, failure: Any) -> None:
        self.app, self.metrics, self.gateway, self.failure = app, metrics, gateway, failure
        self.state = app.state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        began, status = time.monotonic(), [500]

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        path = scope["path"]
        fast = scope["method"] == "POST" and path in _APIS
        try:
            if fast:
                await self._create(scope, receive, sending, path)
            else:
                await self.app(scope, receive, sending)
        finally:
            route = path if fast else getattr(scope.get("route"), "path", "unrouted")
            self.metrics.answered(route, status[0], time.monotonic() - began)

    async def _create(self, scope: Any, receive: Any, send: Any, path: str) -> None:
        from starlette.requests import Request as StarletteRequest

        request = StarletteRequest(scope, receive)
        try:
            response = await self.gateway.create(request, path)
        except Exception as exc:
            response = await self.failure(request, exc)
            if response.status_code == 500:  # a bug or a misconfiguration: the log has the traceback
                import logging

                logging.getLogger("uvicorn.error").exception("%s %s failed", scope["method"], path)
        await response(scope, receive, send)
