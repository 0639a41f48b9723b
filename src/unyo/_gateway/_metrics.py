"""`GET /metrics`: the gateway's Prometheus series, one registry per app.

unyo_gateway_requests_total{route,status}           every request answered
unyo_gateway_request_seconds{route}                 latency histogram (to the last byte)
unyo_gateway_tokens_total{kind}                     input / output tokens billed
unyo_gateway_cost_usd_total                         the ledger's cost of those calls
unyo_gateway_budget_refusals_total                  429 budget_exceeded
unyo_gateway_upstream_errors_total{class}           by unyo error class (RateLimited, ServerError, ...)
unyo_gateway_auth_failures_total{reason}            unknown / revoked / expired / missing key
"""

from __future__ import annotations

from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("unyo_gateway_requests", "Requests answered", ["route", "status"], registry=r)
        self.latency = Histogram(
            "unyo_gateway_request_seconds", "Request latency", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.tokens = Counter("unyo_gateway_tokens", "Tokens billed", ["kind"], registry=r)
        self.cost = Counter("unyo_gateway_cost_usd", "Cost of the calls served (USD)", registry=r)
        self.budget_refusals = Counter("unyo_gateway_budget_refusals", "Calls refused by a budget", registry=r)
        self.upstream_errors = Counter("unyo_gateway_upstream_errors", "Failed calls by class", ["class"], registry=r)
        self.auth_failures = Counter("unyo_gateway_auth_failures", "Refused keys", ["reason"], registry=r)

    def answered(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def settled(self, info: Any) -> None:
        """A finished call's usage and cost (CallInfo)."""
        usage = getattr(info, "usage", None)
        if usage is not None:
            self.tokens.labels("input").inc(usage.input_tokens or 0)
            self.tokens.labels("output").inc(usage.output_tokens or 0)
        cost = getattr(info, "cost_usd", None)
        if cost:
            self.cost.inc(float(cost))

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
