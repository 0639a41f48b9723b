"""Every failure as OpenAI's error body and status: `{"error": {message, type, param, code}}`.

    gateway's own     401 invalid_api_key · 403 model_not_allowed · 413 request_too_large
                      400 invalid_json / invalid_request_error · 429 rate_limit_exceeded (per key)
    budget            429 budget_exceeded (type budget_exceeded), never retried by a client
    upstream          429 rate_limit_exceeded (Retry-After passed on) vs 429 insufficient_quota;
                      400/404/422 as the provider said; upstream 401/403 (the server's key) and 5xx
                      -> 502; timeouts -> 504; a broken connection -> 502
    anything else     500 "internal error" (never the exception's text)

`error_class` names the kind for the metrics (`upstream_errors_total{class=...}`).
"""

from __future__ import annotations

from typing import Any

from unyo._types import _errors as e
from unyo._types._redact import redact


class GatewayError(Exception):
    """A refusal by the gateway itself (before the pipeline): status and OpenAI error fields."""

    def __init__(
        self, status: int, message: str, type_: str, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type_, code
        self.headers = headers or {}


def body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": redact(message), "type": type_, "param": param, "code": code}}


def _retry_headers(exc: Any) -> dict[str, str]:
    after = getattr(exc, "retry_after", None)
    return {"retry-after": str(max(1, round(after)))} if isinstance(after, (int, float)) else {}


def to_http(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) for any exception raised while serving a request."""
    if isinstance(exc, GatewayError):
        return exc.status, body(exc.message, exc.type, exc.code), exc.headers
    if not isinstance(exc, e.UnyoError) and type(exc).__module__.split(".")[0] in ("openai", "httpx2"):
        return to_http(e.from_sdk(exc, e.ErrorContext()))  # a pass-through call (retrieve, models)
    if isinstance(exc, e.BudgetExceeded):
        return 429, body(str(exc), "budget_exceeded", "budget_exceeded"), {}
    if isinstance(exc, e.UnpricedModel):
        return 400, body(str(exc), "invalid_request_error", "unpriced_model"), {}
    if isinstance(exc, e.ConversationDenied):
        return 404, body(str(exc), "invalid_request_error", "not_found"), {}
    if isinstance(exc, e.QuotaExhausted):
        return 429, body(exc.message, "insufficient_quota", "insufficient_quota"), {}
    if isinstance(exc, e.RateLimited):
        return 429, body(exc.message, "requests", "rate_limit_exceeded"), _retry_headers(exc)
    if isinstance(exc, (e.AuthenticationError, e.PermissionDenied)):
        return 502, body(f"the upstream refused the gateway's credentials: {exc.message}", "upstream_error"), {}
    if isinstance(exc, e.ServerError):
        return 502, body(exc.message, "upstream_error", "upstream_server_error"), {}
    if isinstance(exc, e.APITimeout):
        return 504, body(exc.message, "upstream_error", "upstream_timeout"), {}
    if isinstance(exc, e.TransportError):
        return 502, body(exc.message, "upstream_error", "upstream_unavailable"), {}
    if isinstance(exc, e.APIStatusError):
        status = exc.status if isinstance(exc.status, int) and 400 <= exc.status < 500 else 400
        return status, body(exc.message, "invalid_request_error", getattr(exc, "code", None)), {}
    if isinstance(exc, (e.BadInput, e.OutputInvalid, e.ToolLoopExceeded)):
        return 400, body(str(exc), "invalid_request_error"), {}
    if isinstance(exc, e.ConfigError):
        return 500, body(f"the gateway is misconfigured: {exc}", "server_error", "gateway_config"), {}
    return 500, body("internal error in the gateway (see its log)", "server_error"), {}


def error_class(exc: BaseException) -> str:
    """A short label for the metrics: the unyo error class, or 'internal'."""
    if isinstance(exc, GatewayError):
        return exc.code or exc.type
    return type(exc).__name__ if isinstance(exc, e.UnyoError) else "internal"
