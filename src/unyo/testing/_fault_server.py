"""A fault-injecting OpenAI-compatible server on 127.0.0.1, for tests and benchmarks.

    with FaultServer() as server:
        server.script("429", {"action": "429", "retry_after": 0.2}, "ok")
        client = unyo.OpenAI(base_url=server.url, api_key="sk-test...")

Each request takes the next scripted action (then "ok" when the script runs out). Actions:

    ok                  a normal answer (JSON or SSE, Responses or Chat), usage counted with o200k
    400 401 403 404 408 409 422 500 502 503   that status with an OpenAI-style error body
    429                 rate limited; "retry_after" / "retry_after_ms" set the headers
    quota               429 with code insufficient_quota
    context             400 with code context_length_exceeded
    hang                accept, never answer (until the client goes away or the server stops)
    reset               close the TCP connection with a RST, no response
    cut                 start a stream, send "after" deltas (default 2), then drop the connection
    malformed           200 with a body that is not JSON
    stall               start a stream, send "after" deltas, then go silent (idle timeout test)

An unscripted request gets `default_action`; a request for JSON output gets a small instance of
its schema unless a text is scripted. Dict actions take extra keys: text, delay (seconds before
a plain answer, or between stream deltas), after, retry_after,
retry_after_ms, tool_calls (a list of {"name", "arguments"} the model "calls"; non-streamed) and
logprobs (a list of {"token", "logprob", "top_logprobs"}, returned when the request asks). The
401 body echoes the key it received, as a careless server would: clients must never repeat it.
`requests`, `disconnects` and `billed` record what happened.

Like the real API, the server keeps state: responses (for `previous_response_id`) and
conversations (`POST /conversations`, then `conversation=` on a response), billing the whole
chain as input. `limit(requests, per_s)` makes it enforce a request-rate limit with 429s,
`Retry-After` and `x-ratelimit-*` headers, as a provider does.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from unyo import _shapes

DEFAULT_TEXT = "Hello from the fault server. This reply has several words in it."
_ERROR_KINDS = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error", 404: "invalid_request_error",
                408: "timeout", 409: "conflict", 422: "invalid_request_error", 429: "rate_limit_exceeded"}


def _counter() -> Any:
    from unyo._tokens import bpe_counter

    return bpe_counter("o200k_base")


class FaultServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, models: tuple[str, ...] = ("gpt-4o-mini", "gpt-4.1-mini")) -> None:
        self.models = models
        self._script: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.disconnects: list[dict[str, Any]] = []  # streams the client closed early
        self.billed = {"input_tokens": 0, "output_tokens": 0, "requests": 0}
        self.stopping = threading.Event()
        self.default_action: dict[str, Any] = {"action": "ok"}  # what an unscripted request gets
        self.stored: dict[str, list[dict[str, str]]] = {}  # response id / conversation id -> messages
        self.rate_limited = 0  # 429s sent by the rate limit (not scripted ones)
        self._rate: tuple[int, float] | None = None
        self._window: deque[float] = deque()
        self._httpd = _QuietServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *actions: str | dict[str, Any]) -> None:
        with self._lock:
            for action in actions:
                self._script.append({"action": action} if isinstance(action, str) else dict(action))

    def next_action(self) -> dict[str, Any]:
        with self._lock:
            return self._script.popleft() if self._script else dict(self.default_action)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.default_action = {"action": "ok"}
            self._rate = None
            self.requests.clear()
            self.disconnects.clear()
            self.billed = {"input_tokens": 0, "output_tokens": 0, "requests": 0}

    def limit(self, requests: int, per_s: float = 60.0) -> None:
        """Allow at most `requests` generation requests in any sliding `per_s` window."""
        with self._lock:
            self._rate, self.rate_limited = (requests, per_s), 0
            self._window.clear()

    def admit(self) -> dict[str, str] | None:
        """None when the request may proceed, else the headers of its 429 (when to come back)."""
        with self._lock:
            if self._rate is None:
                return None
            limit, per_s = self._rate
            now = time.monotonic()
            while self._window and self._window[0] <= now - per_s:
                self._window.popleft()
            if len(self._window) < limit:
                self._window.append(now)
                return None
            self.rate_limited += 1
            wait = self._window[0] + per_s - now
        return {"retry-after-ms": str(int(wait * 1000) + 1), "x-ratelimit-limit-requests": str(limit),
                "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": f"{wait:.3f}s"}

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    def bill(self, g: _shapes.Generated) -> None:
        with self._lock:
            self.billed["input_tokens"] += g.input_tokens
            self.billed["output_tokens"] += g.output_tokens
            self.billed["requests"] += 1

    def start(self) -> FaultServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):  # resets are scripted
            super().handle_error(request, client_address)


def _handler_for(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        fault = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    fault: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # --- plumbing -------------------------------------------------------------------------

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-request-id", _shapes.new_id("req"))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-request-id", _shapes.new_id("req"))
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        """Drop the connection with a TCP RST."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _peer_gone(self) -> bool:
        try:
            return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _hang(self) -> None:
        while not self.fault.stopping.is_set():
            time.sleep(0.02)
            try:  # the client went away: stop hanging
                if self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    return
            except BlockingIOError:
                continue
            except OSError:
                return
        self.close_connection = True

    # --- routes ---------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET", None)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {"_unparseable": raw.decode("utf-8", "replace")}
        self._serve("POST", body)

    def _serve(self, method: str, body: dict[str, Any] | None) -> None:
        path = self.path.split("?")[0].rsplit("/v1", 1)[-1]
        action = self.fault.next_action()
        self.fault.record({"method": method, "path": path, "headers": dict(self.headers), "body": body, "action": action["action"], "at": time.monotonic()})
        kind = str(action["action"])
        if kind in ("hang",):
            return self._hang()
        if kind == "reset":
            return self._abort()
        if kind == "malformed":
            return self._send_json(200, None, raw=b'{"id": "resp_1", "object": "respo')
        if kind.isdigit() or kind in ("quota", "context"):
            return self._error(kind, action)
        if method == "GET" and path == "/models":
            return self._send_json(200, _shapes.models_json(self.fault.models))
        if method == "POST" and path == "/embeddings":
            return self._embeddings(body or {})
        if method == "POST" and path == "/conversations":
            conv_id = _shapes.new_id("conv")
            self.fault.stored[conv_id] = []
            return self._send_json(200, {"id": conv_id, "object": "conversation", "created_at": int(time.time()), "metadata": {}})
        if method == "POST" and path in ("/responses", "/chat/completions"):
            headers = self.fault.admit()
            if headers is not None:
                return self._send_json(429, _shapes.error_json(429, "Rate limit reached for requests", "rate_limit_exceeded", "requests"), headers)
            return self._generate(path == "/responses", body or {}, action)
        self._send_json(404, _shapes.error_json(404, f"no route {method} {path}", "unknown_url"))

    def _error(self, kind: str, action: dict[str, Any]) -> None:
        headers: dict[str, str] = {}
        if kind == "quota":
            status, code, message = 429, "insufficient_quota", "You exceeded your current quota, please check your plan and billing details."
        elif kind == "context":
            status, code, message = 400, "context_length_exceeded", "This model's maximum context length is 128000 tokens."
        else:
            status, code, message = int(kind), None, f"scripted error {kind}"
        if status == 401:
            auth = self.headers.get("authorization", "")
            message = f"Incorrect API key provided: {auth.removeprefix('Bearer ')}. You can find your API key at the dashboard."
            code = "invalid_api_key"
        if status == 429 and kind != "quota":
            code = "rate_limit_exceeded"
            message = "Rate limit reached for requests"
        if "retry_after" in action:
            headers["retry-after"] = str(action["retry_after"])
        if "retry_after_ms" in action:
            headers["retry-after-ms"] = str(action["retry_after_ms"])
        kind_name = _ERROR_KINDS.get(status, "server_error")
        self._send_json(status, _shapes.error_json(status, message, code, kind_name), headers)

    def _embeddings(self, body: dict[str, Any]) -> None:
        raw = body.get("input", "")
        items = raw if isinstance(raw, list) else [raw]
        tokens = sum(_counter().count_text(x) for x in items if isinstance(x, str))
        data = [{"object": "embedding", "index": i, "embedding": [0.1 * (i + 1), 0.2, 0.3]} for i, _ in enumerate(items)]
        self._send_json(200, {"object": "list", "data": data, "model": body.get("model", "?"), "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def _generate(self, responses: bool, body: dict[str, Any], action: dict[str, Any]) -> None:
        from unyo._tokens import count_input

        api = "responses" if responses else "chat"
        model = str(body.get("model", "gpt-4o-mini"))
        tool_calls = [
            {"call_id": _shapes.new_id("call"), "name": c["name"], "arguments": c["arguments"] if isinstance(c["arguments"], str) else json.dumps(c["arguments"])}
            for c in action.get("tool_calls", [])
        ]
        logprobs = action.get("logprobs")
        schema = _shapes.json_schema_of(body)
        default = json.dumps(_shapes.example_of(schema), ensure_ascii=False) if schema else DEFAULT_TEXT  # asked for JSON: valid JSON
        text = str(action.get("text", "".join(t["token"] for t in logprobs) if logprobs else "" if tool_calls else default))
        words = [w + " " for w in text.split(" ")]
        words[-1] = words[-1].rstrip()
        cap = _shapes.output_cap(body)
        counter = _counter()
        finish = "stop"
        if cap is not None and counter.count_text(text) > cap:  # honour the output cap like a provider
            kept: list[str] = []
            while words and counter.count_text("".join(kept + words[:1])) <= cap:
                kept.append(words.pop(0))
            words, finish = kept, "length"
        chain = body.get("previous_response_id") or body.get("conversation")
        chain = chain.get("id") if isinstance(chain, dict) else chain
        if chain and chain not in self.fault.stored:
            return self._send_json(404, _shapes.error_json(404, f"No response or conversation found with id '{chain}'.", None))
        prior = list(self.fault.stored.get(chain, [])) if chain else []
        messages = prior + _shapes.responses_messages(body) if responses else []
        input_tokens = counter.count_messages(messages) if prior else count_input(api, body, counter)
        calls_text = "".join(c["arguments"] for c in tool_calls)

        def generated(parts: list[str]) -> _shapes.Generated:
            out = "".join(parts)
            return _shapes.Generated(out, input_tokens, counter.count_text(out + calls_text), finish, tool_calls=tool_calls, logprobs=logprobs)

        if not body.get("stream"):
            if action.get("delay"):
                time.sleep(float(action["delay"]))
            g = generated(words)
            self.fault.bill(g)
            payload = _shapes.response_json(body, model, g) if responses else _shapes.chat_json(body, model, g)
            if responses:
                reply = [{"role": "assistant", "content": g.text}] + [
                    {"role": "assistant", "content": _shapes.tool_call_text(c["name"], c["arguments"])} for c in tool_calls
                ]
                if body.get("store", True):
                    self.fault.stored[payload["id"]] = messages + reply
                if body.get("conversation"):
                    self.fault.stored[chain] = messages + reply
            return self._send_json(200, payload)
        self._stream(responses, body, model, words, generated, action)

    def _stream(self, responses: bool, body: dict[str, Any], model: str, words: list[str], generated: Any, action: dict[str, Any]) -> None:
        kind = action["action"]
        delay = float(action.get("delay", 0))
        after = int(action.get("after", 2))
        sent: list[str] = []

        def deltas() -> Iterator[str]:
            for i, word in enumerate(words):
                if kind in ("cut", "stall") and i == after:
                    raise _StopStream(kind)
                if delay:
                    time.sleep(delay)
                    if self._peer_gone():  # like a provider: stop generating once the client left
                        raise BrokenPipeError
                sent.append(word)
                yield word

        events = (_shapes.response_events if responses else _shapes.chat_events)(body, model, deltas(), lambda: generated(sent))
        self._start_stream()
        try:
            for data in _shapes.sse(events, done_marker=not responses):
                self._chunk(data)
            self._chunk(b"")
        except _StopStream as stop:
            self.fault.bill(generated(sent))  # a provider bills what it generated before the cut
            if stop.kind == "stall":
                return self._hang()
            self.connection.shutdown(socket.SHUT_WR)  # FIN mid-body: the client sees a truncated chunked stream
            self.close_connection = True
            return
        except (BrokenPipeError, ConnectionResetError):
            self.fault.bill(generated(sent))
            self.fault.disconnects.append({"deltas_sent": len(sent), "of": len(words), "at": time.monotonic()})
            self.close_connection = True
            return
        self.fault.bill(generated(sent))


class _StopStream(Exception):
    def __init__(self, kind: str) -> None:
        self.kind = kind
