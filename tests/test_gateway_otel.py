"""OpenTelemetry: a real `unyo serve` exports GenAI spans over OTLP/HTTP to a receiver on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2 as httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.gateway_helpers import Served, gateway_env
from unyo.testing import FaultServer


class Receiver:
    """An OTLP/HTTP trace endpoint: decodes every export it gets."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                request = ExportTraceServiceRequest()
                request.ParseFromString(raw)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        receiver.spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def attributes(span: Any) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


def test_calls_are_exported_as_genai_spans(fault: FaultServer, tmp_path: Path) -> None:
    receiver = Receiver()
    env = gateway_env(
        fault.url,
        f"sqlite:///{tmp_path / 'gw' / 'unyo.db'}",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    server = Served(env, tmp_path / "serve.log")
    try:
        key = server.new_key(name="traced", tag="support")
        headers = {"authorization": f"Bearer {key}"}
        ok = httpx.post(f"{server.url}/v1/responses", json={"model": "gpt-4o-mini", "input": "hi"}, headers=headers)
        assert ok.status_code == 200
        fault.script("500", "500", "500")
        failed = httpx.post(
            f"{server.url}/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
            headers=headers,
        )
        assert failed.status_code == 502
        deadline = time.monotonic() + 15
        while len(receiver.spans) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.stop()
        receiver.httpd.shutdown()
    assert len(receiver.spans) == 2
    first, second = sorted(receiver.spans, key=lambda s: s.start_time_unix_nano)
    a = attributes(first)
    assert first.name == "chat gpt-4o-mini" and first.kind == 3  # SPAN_KIND_CLIENT
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.response.id"] == ok.json()["id"] and a["gen_ai.usage.output_tokens"] > 0
    assert a["gen_ai.usage.input_tokens"] > 0 and a["unyo.tag"] == "support" and a["unyo.status"] == "completed"
    assert first.end_time_unix_nano > first.start_time_unix_nano
    b = attributes(second)
    assert b["error.type"] == "ServerError" and second.status.code == 2 and b["unyo.attempts"] == 3  # ERROR
    everything = repr([attributes(s) for s in receiver.spans])
    assert key not in everything and "hi" not in [str(v) for v in a.values()]
