"""The admin API: the `unyo keys` commands over HTTP, behind `Authorization: Bearer <admin token>`.

    GET  /admin/keys                 every key (never a key itself)
    POST /admin/keys                 {"name", "models", "budget_request|daily|monthly", "rpm", "tpm",
                                      "user", "tag", "expires": "90d"} -> {"key": shown once, "id", ...}
    GET  /admin/keys/{ref}           one key by id or name
    POST /admin/keys/{ref}/revoke    revoked for every replica from the next request
    POST /admin/keys/{ref}/rotate    a new key with the same scope; the old one revoked

Without UNYO_GATEWAY_ADMIN_TOKEN the admin API answers 404: it does not exist.
"""

from __future__ import annotations

import hmac
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import Request  # at module level: FastAPI resolves route annotations here

from unyo._gateway._errors import GatewayError
from unyo._gateway._keys import parse_duration
from unyo._types._errors import ConfigError


def _check(gateway: Any, request: Any) -> None:
    token = gateway.config.admin_token
    if not token:
        raise GatewayError(404, "the admin API is off (set UNYO_GATEWAY_ADMIN_TOKEN)", "invalid_request_error")
    header = request.headers.get("authorization", "")
    given = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        gateway.metrics.auth_failures.labels("admin").inc()
        raise GatewayError(401, "incorrect admin token", "invalid_request_error", "invalid_api_key")


def _amount(body: dict[str, Any], name: str) -> Decimal | None:
    raw = body.get(name)
    if raw is None:
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise GatewayError(400, f"{name}: expected an amount in USD, got {raw!r}", "invalid_request_error") from None
    if not value.is_finite():
        raise GatewayError(400, f"{name}: expected an amount in USD, got {raw!r}", "invalid_request_error")
    return value


def _count(body: dict[str, Any], name: str) -> int | None:
    raw = body.get(name)
    if raw is None:
        return None
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise GatewayError(400, f"{name}: expected an integer, got {raw!r}", "invalid_request_error")
    return raw


def create_key(gateway: Any, body: dict[str, Any]) -> dict[str, Any]:
    models = body.get("models") or []
    if isinstance(models, str):
        models = models.split(",")
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise GatewayError(400, "models: expected a list of roles / model ids", "invalid_request_error")
    try:
        key, record = gateway.keys.create(
            str(body.get("name") or ""),
            models=models,
            budget_request=_amount(body, "budget_request"),
            budget_daily=_amount(body, "budget_daily"),
            budget_monthly=_amount(body, "budget_monthly"),
            rpm=_count(body, "rpm"),
            tpm=_count(body, "tpm"),
            user=body.get("user"),
            tag=body.get("tag"),
            expires_in_s=parse_duration(body["expires"]) if body.get("expires") else None,
        )
    except ConfigError as exc:
        raise GatewayError(400, str(exc), "invalid_request_error") from None
    return {"key": key, **record.to_dict()}


def admin_routes(app: Any, gateway: Any) -> None:
    from unyo._core._offload import offload

    async def keyed(request: Request, action: Any, *args: Any) -> Any:
        _check(gateway, request)
        try:
            return await offload(action, *args)
        except ConfigError as exc:
            status = 404 if str(exc).startswith("no virtual key") else 400
            raise GatewayError(status, str(exc), "invalid_request_error") from None

    @app.get("/admin/keys")
    async def list_keys(request: Request) -> Any:
        keys = await keyed(request, gateway.keys.list)
        return {"object": "list", "data": [k.to_dict() for k in keys]}

    @app.post("/admin/keys")
    async def new_key(request: Request) -> Any:
        _check(gateway, request)
        body = await gateway.read_json(request)
        return await offload(create_key, gateway, body)

    @app.get("/admin/keys/{ref}")
    async def show_key(request: Request, ref: str) -> Any:
        return (await keyed(request, gateway.keys.get, ref)).to_dict()

    @app.post("/admin/keys/{ref}/revoke")
    async def revoke_key(request: Request, ref: str) -> Any:
        return (await keyed(request, gateway.keys.revoke, ref)).to_dict()

    @app.post("/admin/keys/{ref}/rotate")
    async def rotate_key(request: Request, ref: str) -> Any:
        key, record = await keyed(request, gateway.keys.rotate, ref)
        return {"key": key, **record.to_dict()}
