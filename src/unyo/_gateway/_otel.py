"""OpenTelemetry traces for the gateway, following the GenAI semantic conventions, when an OTLP
endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; the
exporter's own OTEL_* variables apply). Without one, or without `unyo[otel]`, nothing is loaded.

One CLIENT span per settled call (a pipeline finisher), spanning the call from when the pipeline
took it to when it settled:

    name                      "{gen_ai.operation.name} {gen_ai.request.model}"   e.g. "chat gpt-4o-mini"
    gen_ai.operation.name     chat (Responses and Chat Completions) | embeddings
    gen_ai.provider.name      the profile (openai, gemini, ...)
    gen_ai.request.model / gen_ai.response.id / gen_ai.request.max_tokens
    gen_ai.usage.input_tokens / gen_ai.usage.output_tokens
    error.type                the unyo error class, when the call failed (status ERROR)
    unyo.*                    status, cost_usd, attempts, budget decision, tag, cache_hit

No prompt or output text and no key is ever put on a span.
"""

from __future__ import annotations

import os
import time
from typing import Any

_OPERATION = {"responses": "chat", "chat": "chat", "embeddings": "embeddings"}


def tracer_from_env(env: Any = None) -> Any:
    """A tracer exporting over OTLP/HTTP, or None when no endpoint is configured."""
    env = os.environ if env is None else env
    if not (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        from unyo._types._errors import ConfigError

        raise ConfigError(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: pip install 'unyo[otel]'"
        ) from None
    provider = TracerProvider(resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "unyo-gateway")}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider.get_tracer("unyo.gateway")


def span_finisher(tracer: Any) -> Any:
    """A pipeline finisher recording each settled call as a span."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    def trace_call(call: Any) -> None:
        info = call.info
        operation = _OPERATION.get(info.api)
        if operation is None:
            return
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": info.profile,
            "gen_ai.request.model": info.model or str(call.params.get("model") or ""),
            "server.address": info.host,
            "unyo.status": info.status,
            "unyo.attempts": info.attempts,
            "unyo.cache_hit": bool(info.cache_hit),
        }
        optional = {
            "gen_ai.response.id": info.response_id,
            "gen_ai.request.max_tokens": info.max_output_tokens,
            "gen_ai.usage.input_tokens": info.usage.input_tokens if info.usage else None,
            "gen_ai.usage.output_tokens": info.usage.output_tokens if info.usage else None,
            "unyo.cost_usd": float(info.cost_usd) if info.cost_usd is not None else None,
            "unyo.budget": info.budget,
            "unyo.tag": info.tag,
            "error.type": info.error,
        }
        attributes.update({k: v for k, v in optional.items() if v is not None})
        ended = time.time_ns()
        began = ended - int((info.latency_s or 0) * 1e9)
        span = tracer.start_span(
            f"{operation} {attributes['gen_ai.request.model']}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=began,
        )
        if info.error and info.status == "failed":
            span.set_status(Status(StatusCode.ERROR, info.error))
        span.end(end_time=ended)

    return trace_call
