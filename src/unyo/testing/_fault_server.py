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

An unscripted request gets `responder(body)` when that is set and returns something (a text to
answer with, or an action dict), else `default_action`; a request for JSON output gets a small instance of
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

Provider mode, `provider(rpm=600, tpm=200_000, latency_s=0.3)`, behaves as providers do: RPM and
TPM are continuous token buckets (refilling at limit/60 per second, holding `burst_s` seconds of
it: 60 is a minute's burst, as OpenAI's headers describe; a second or less is how providers
enforce limits "per second or finer"); a request is charged 1 request and its input tokens + its
output cap (x n) at admission; every answer, success or 429, carries `x-ratelimit-limit-*`,
`-remaining-*` and `-reset-*` for requests and tokens (`headers=False`: none, and a bare 429, as
some compatible servers do); an admitted request is answered after `latency_s`. `set_limits(...)`
changes the limits mid-run. `admissions` (time, tokens), `throttled` (times of 429s) and
`limit_log` (time, rpm, tpm) record what happened, for benchmarks.

The Batch API: `POST /files` (multipart, purpose=batch), `GET /files/{id}/content`,
`POST /batches`, `GET /batches/{id}`, `GET /batches`, `POST /batches/{id}/cancel`. A batch is
"in_progress" for `batch_seconds`, then its lines are answered like requests (each line takes the
next action of `script_batch(...)`, else "ok"; error actions go to the error file) and it is
"completed"; with `batch_expire_after=N` only N lines run and the rest expire with `batch_expired`;
with `batch_fail="why"` the batch fails validation.

Hosted knowledge: `GET /files`, `DELETE /files/{id}`, `/vector_stores` and their files, and the
`file_search` / `web_search` tools in `/responses` with citations (see _vector_stores.py).

Fine-tuning: `/fine_tuning/jobs` (create, list, retrieve, events, cancel) with scripted progress
and failure, reporting `trained_tokens` (`fine_tuning`, see _fine_tuning.py).
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

from unyo._providers import _shapes
from unyo.testing._fine_tuning import FineTuning
from unyo.testing._images import MEDIA_PATHS, image_input_tokens, serve_media
from unyo.testing._org_usage import OrgUsage
from unyo.testing._vector_stores import VectorStores, tool_answer

DEFAULT_TEXT = "Hello from the fault server. This reply has several words in it."
_ERROR_KINDS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    408: "timeout",
    409: "conflict",
    422: "invalid_request_error",
    429: "rate_limit_exceeded",
}


def _counter() -> Any:
    from unyo._providers._tokens import bpe_counter

    return bpe_counter("o200k_base")


class FaultServer:
    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, models: tuple[str, ...] = ("gpt-4o-mini", "gpt-4.1-mini")
    ) -> None:
        self.models = models
        self._script: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.disconnects: list[dict[str, Any]] = []  # streams the client closed early
        self.billed = {"input_tokens": 0, "output_tokens": 0, "requests": 0}
        self.stopping = threading.Event()
        self._epoch = 0  # bumped by reset(): a straggling handler from an earlier test bills nothing now
        self._local = threading.local()  # the epoch each handler thread's current request began in
        self.default_action: dict[str, Any] = {"action": "ok"}  # what an unscripted request gets
        self.responder: Any = None  # body -> action (str or dict) or None: an unscripted answer chosen by content
        self.stored: dict[str, list[dict[str, str]]] = {}  # response id / conversation id -> messages
        self.responses: dict[str, dict[str, Any]] = {}  # stored (non-streamed) responses, for GET /responses/{id}
        self.rate_limited = 0  # 429s sent by the rate limit (not scripted ones)
        self._rate: tuple[int, float] | None = None
        self._window: deque[float] = deque()
        self._provider: dict[str, Any] | None = None  # provider mode: buckets, latency, headers
        self.admissions: list[tuple[float, float]] = []  # provider mode: (time, tokens charged)
        self.throttled: list[float] = []  # provider mode: when each 429 was sent
        self.limit_log: list[tuple[float, float | None, float | None]] = []  # (time, rpm, tpm) from each change
        self.files: dict[str, dict[str, Any]] = {}  # file id -> {"object": file..., "content": bytes}
        self.batches: dict[str, dict[str, Any]] = {}  # batch id -> the Batch object (+ private "_..." keys)
        self.batch_seconds = 0.0  # how long a batch stays in progress
        self.batch_expire_after: int | None = None  # lines run before the window "expires"
        self.batch_fail: str | None = None  # a batch fails validation with this message
        self._batch_script: deque[dict[str, Any]] = deque()
        self.fine_tuning = FineTuning()  # /fine_tuning/jobs: scripted progress, failure, trained_tokens
        self.org = OrgUsage()  # the organization usage/costs API: admin key, prices, billed entries (see _org_usage)
        self.media_bill: list[dict[str, Any]] = []  # Images / Audio answers billed (see _images)
        self.generated: dict[str, bytes] = {}  # image id -> PNG served at /_generated/ID.png
        self.vector_stores = VectorStores()  # /vector_stores and the file_search / web_search tools
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

    def script_batch(self, *actions: str | dict[str, Any]) -> None:
        """Actions for the lines of the next batches processed, in file order."""
        with self._lock:
            for action in actions:
                self._batch_script.append({"action": action} if isinstance(action, str) else dict(action))

    def next_action(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._lock:
            if self._script:
                return self._script.popleft()
            responder = self.responder
        chosen = responder(body) if responder is not None and body is not None else None
        if chosen is not None:
            return {"action": "ok", "text": chosen} if isinstance(chosen, str) else dict(chosen)
        return dict(self.default_action)

    def enter(self) -> None:
        """Called as each request begins: what it records and bills belongs to the current epoch."""
        self._local.epoch = self._epoch

    def _stale(self) -> bool:
        return getattr(self._local, "epoch", self._epoch) != self._epoch

    def reset(self) -> None:
        with self._lock:
            self._epoch += 1
            self._script.clear()
            self.default_action = {"action": "ok"}
            self.responder = None
            self._rate = None
            self._provider = None
            self.admissions, self.throttled, self.limit_log = [], [], []
            self._batch_script.clear()
            self.files.clear()
            self.batches.clear()
            self.batch_seconds, self.batch_expire_after, self.batch_fail = 0.0, None, None
            self.requests.clear()
            self.disconnects.clear()
            self.billed = {"input_tokens": 0, "output_tokens": 0, "requests": 0}
            self.media_bill, self.generated = [], {}
        self.org.reset()
        self.fine_tuning.reset()
        self.vector_stores.reset()

    def limit(self, requests: int, per_s: float = 60.0) -> None:
        """Allow at most `requests` generation requests in any sliding `per_s` window."""
        with self._lock:
            self._rate, self.rate_limited = (requests, per_s), 0
            self._window.clear()

    def provider(
        self,
        rpm: float | None = 600,
        tpm: float | None = None,
        latency_s: float = 0.3,
        headers: bool = True,
        burst_s: float = 60.0,
    ) -> None:
        """Provider mode (see the module's docstring); None for a limit: not enforced."""
        _counter()  # load the tokenizer now: a provider admits a request as it arrives
        with self._lock:
            self._provider = {
                "latency_s": float(latency_s),
                "headers": headers,
                "burst_s": float(burst_s),
                "stamp": time.monotonic(),
                "rpm": None,
                "tpm": None,
                "level_r": 0.0,
                "level_t": 0.0,
            }
            self.admissions, self.throttled, self.limit_log, self.rate_limited = [], [], [], 0
        self.set_limits(rpm, tpm, full=True)

    def set_limits(self, rpm: float | None, tpm: float | None, full: bool = False) -> None:
        """Change the provider-mode limits now (the buckets keep what they hold, up to the new size)."""
        with self._lock:
            p = self._provider
            if p is None:
                raise RuntimeError("set_limits needs provider mode: call provider(...) first")
            now = time.monotonic()
            self._refill(p, now)
            p["rpm"], p["tpm"] = rpm, tpm
            for dim, limit in (("r", rpm), ("t", tpm)):
                cap = (limit or 0) * p["burst_s"] / 60.0
                p[f"level_{dim}"] = cap if full else min(p[f"level_{dim}"], cap)
            self.limit_log.append((now, rpm, tpm))

    @staticmethod
    def _refill(p: dict[str, Any], now: float) -> None:
        for dim, limit in (("r", p["rpm"]), ("t", p["tpm"])):
            if limit:
                p[f"level_{dim}"] = min(
                    limit * p["burst_s"] / 60.0, p[f"level_{dim}"] + (now - p["stamp"]) * limit / 60.0
                )
        p["stamp"] = now

    def _provider_admit(self, body: dict[str, Any], responses: bool) -> tuple[bool, dict[str, str], float]:
        """(admitted, the x-ratelimit-* headers, latency) for one generation request."""
        from unyo._providers._tokens import count_input

        n = max(1, int(body.get("n") or 1)) if not responses else 1
        try:
            tokens = (
                count_input("responses" if responses else "chat", body, _counter())
                + (_shapes.output_cap(body) or 0) * n
            )
        except Exception:  # noqa: BLE001 - a malformed body is answered by the normal path
            tokens = 0
        with self._lock:
            p = self._provider
            assert p is not None
            now = time.monotonic()
            self._refill(p, now)
            caps = {d: (limit or 0) * p["burst_s"] / 60.0 for d, limit in (("r", p["rpm"]), ("t", p["tpm"]))}
            cost_t = min(tokens, caps["t"])  # larger than the bucket: admitted once it is full
            short_r = 1 - p["level_r"] if p["rpm"] else 0.0
            short_t = cost_t - p["level_t"] if p["tpm"] else 0.0
            admitted = short_r <= 1e-9 and short_t <= 1e-9
            if admitted:
                if p["rpm"]:
                    p["level_r"] -= 1
                if p["tpm"]:
                    p["level_t"] -= cost_t
                self.admissions.append((now, float(tokens)))
            else:
                self.rate_limited += 1
                self.throttled.append(now)
            headers: dict[str, str] = {}
            if not admitted:
                waits = [
                    short_r / (p["rpm"] / 60.0) if p["rpm"] and short_r > 0 else 0.0,
                    short_t / (p["tpm"] / 60.0) if p["tpm"] and short_t > 0 else 0.0,
                ]
                if p["headers"]:
                    headers["retry-after-ms"] = str(int(max(waits) * 1000) + 1)
            if p["headers"]:
                for dim, name, limit in (("r", "requests", p["rpm"]), ("t", "tokens", p["tpm"])):
                    if limit:
                        level = max(0.0, p[f"level_{dim}"])
                        headers[f"x-ratelimit-limit-{name}"] = str(int(limit))
                        headers[f"x-ratelimit-remaining-{name}"] = str(int(level))
                        headers[f"x-ratelimit-reset-{name}"] = f"{(caps[dim] - level) / (limit / 60.0):.3f}s"
            return admitted, headers, p["latency_s"]

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
        per_minute = int(limit * 60 / per_s)  # the limit as providers announce it: per minute
        return {
            "retry-after-ms": str(int(wait * 1000) + 1),
            "x-ratelimit-limit-requests": str(per_minute),
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{wait:.3f}s",
        }

    def record(self, entry: dict[str, Any]) -> None:
        if self._stale():
            return
        with self._lock:
            self.requests.append(entry)
        self.org.note_request(entry)

    def bill(self, g: _shapes.Generated) -> None:
        if self._stale():  # a stream of an earlier test ending now is not this test's bill
            return
        with self._lock:
            self.billed["input_tokens"] += g.input_tokens
            self.billed["output_tokens"] += g.output_tokens
            self.billed["requests"] += 1
        self.org.billed(g.input_tokens, g.output_tokens)

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
    request_queue_size = 256  # the listen backlog: a benchmark's 200 concurrent connections, not resets

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

    def _send_json(
        self, status: int, payload: Any, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> None:
        body = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        if "content-type" not in (headers or {}):
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-request-id", _shapes.new_id("req"))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _start_stream(self, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-request-id", _shapes.new_id("req"))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
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
        self.fault.enter()
        self._serve("GET", None)

    def do_DELETE(self) -> None:  # noqa: N802
        self.fault.enter()
        self._serve("DELETE", None)

    def do_POST(self) -> None:  # noqa: N802
        self.fault.enter()
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("content-type", "").startswith("multipart/form-data"):
            return self._serve("POST", _multipart(self.headers["content-type"], raw))
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {"_unparseable": raw.decode("utf-8", "replace")}
        self._serve("POST", body)

    def _serve(self, method: str, body: dict[str, Any] | None) -> None:
        path = self.path.split("?")[0].rsplit("/v1", 1)[-1]
        if method == "GET" and path.startswith("/organization/"):  # admin reads take no scripted action
            return self._send_json(*self.fault.org.serve(self.headers, self.path))
        action = self.fault.next_action(body if method == "POST" else None)
        self.fault.record(
            {
                "method": method,
                "path": path,
                "headers": dict(self.headers),
                "body": body,
                "action": action["action"],
                "at": time.monotonic(),
            }
        )
        kind = str(action["action"])
        if kind in ("hang",):
            return self._hang()
        if kind == "reset":
            return self._abort()
        if kind == "malformed":
            return self._send_json(200, None, raw=b'{"id": "resp_1", "object": "respo')
        if kind.isdigit() or kind in ("quota", "context"):
            return self._error(kind, action)
        if method == "GET" and path.startswith("/responses/") and path.count("/") == 2:
            found = self.fault.responses.get(path.split("/")[2])
            if found is None:
                return self._send_json(404, _shapes.error_json(404, f"No response with id {path}", None))
            return self._send_json(200, found)
        if method == "GET" and path == "/models":
            return self._send_json(200, _shapes.models_json(self.fault.models))
        if method == "POST" and path == "/embeddings":
            return self._embeddings(body or {})
        if method == "POST" and path == "/conversations":
            conv_id = _shapes.new_id("conv")
            self.fault.stored[conv_id] = []
            return self._send_json(
                200, {"id": conv_id, "object": "conversation", "created_at": int(time.time()), "metadata": {}}
            )
        if path.startswith(MEDIA_PATHS):  # the Images and Audio API (see _images)
            return self._send_json(*serve_media(self.fault, method, path, body or {}))
        if path.startswith("/fine_tuning/jobs"):
            return self._send_json(
                *self.fault.fine_tuning.serve(self.fault.files, method, path, self.path.partition("?")[2], body or {})
            )
        if path.startswith("/vector_stores"):
            return self._send_json(
                *self.fault.vector_stores.serve(self.fault.files, method, path, self.path.partition("?")[2], body or {})
            )
        if path.startswith(("/files", "/batches")):
            return self._send_json(*_batch_api(self.fault, method, path, self.path.partition("?")[2], body or {}))
        if method == "POST" and path in ("/responses", "/chat/completions"):
            if self.fault._provider is not None:
                admitted, headers, latency = self.fault._provider_admit(body or {}, path == "/responses")
                if not admitted:
                    return self._send_json(
                        429, _shapes.error_json(429, "Rate limit reached", "rate_limit_exceeded", "requests"), headers
                    )
                if latency:
                    time.sleep(latency)
                return self._generate(path == "/responses", body or {}, action, headers)
            headers = self.fault.admit()
            if headers is not None:
                return self._send_json(
                    429,
                    _shapes.error_json(429, "Rate limit reached for requests", "rate_limit_exceeded", "requests"),
                    headers,
                )
            return self._generate(path == "/responses", body or {}, action)
        self._send_json(404, _shapes.error_json(404, f"no route {method} {path}", "unknown_url"))

    def _error(self, kind: str, action: dict[str, Any]) -> None:
        headers: dict[str, str] = {}
        if kind == "quota":
            status, code, message = (
                429,
                "insufficient_quota",
                "You exceeded your current quota, please check your plan and billing details.",
            )
        elif kind == "context":
            status, code, message = (
                400,
                "context_length_exceeded",
                "This model's maximum context length is 128000 tokens.",
            )
        else:
            status, code, message = int(kind), None, f"scripted error {kind}"
        if status == 401:
            auth = self.headers.get("authorization", "")
            message = (
                f"Incorrect API key provided: {auth.removeprefix('Bearer ')}. "
                "You can find your API key at the dashboard."
            )
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
        data = [
            {"object": "embedding", "index": i, "embedding": [0.1 * (i + 1), 0.2, 0.3]} for i, _ in enumerate(items)
        ]
        self.fault.org.billed(tokens, 0, kind="embeddings", model=str(body.get("model", "?")))
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "?"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    def _generate(
        self, responses: bool, body: dict[str, Any], action: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        answer = _Answer(self.fault, responses, body, action)
        if answer.error is not None:
            return self._send_json(*answer.error)
        if not body.get("stream"):
            if action.get("delay"):
                time.sleep(float(action["delay"]))
            return self._send_json(200, answer.payload(), headers)
        self._stream(responses, body, answer.model, answer.words, answer.generated, action, headers,
                     answer.hosted.items if answer.hosted else None)  # fmt: skip

    def _stream(
        self,
        responses: bool,
        body: dict[str, Any],
        model: str,
        words: list[str],
        generated: Any,
        action: dict[str, Any],
        headers: dict[str, str] | None = None,
        hosted: list[dict[str, Any]] | None = None,
    ) -> None:
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

        if responses:
            events = _shapes.response_events(body, model, deltas(), lambda: generated(sent), hosted)
        else:
            events = _shapes.chat_events(body, model, deltas(), lambda: generated(sent))
        self._start_stream(headers)
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
            if not self.fault._stale():
                self.fault.disconnects.append({"deltas_sent": len(sent), "of": len(words), "at": time.monotonic()})
            self.close_connection = True
            return
        self.fault.bill(generated(sent))


class _Answer:
    """What the "model" says to one generation request (shared by HTTP requests and batch lines)."""

    def __init__(self, fault: FaultServer, responses: bool, body: dict[str, Any], action: dict[str, Any]) -> None:
        from unyo._providers._tokens import count_input

        self.fault, self.responses, self.body = fault, responses, body
        self.error: tuple[int, dict[str, Any]] | None = None
        self.model = str(body.get("model", "gpt-4o-mini"))
        self.tool_calls = [
            {
                "call_id": _shapes.new_id("call"),
                "name": c["name"],
                "arguments": c["arguments"] if isinstance(c["arguments"], str) else json.dumps(c["arguments"]),
            }
            for c in action.get("tool_calls", [])
        ]
        self.logprobs = action.get("logprobs")
        schema = _shapes.json_schema_of(body)
        default = (
            json.dumps(_shapes.example_of(schema), ensure_ascii=False) if schema else DEFAULT_TEXT
        )  # asked for JSON: valid JSON
        plain = responses and "text" not in action and not self.tool_calls
        self.hosted = tool_answer(fault, body, action) if plain else None  # file_search / web_search
        if self.hosted is not None:
            default = self.hosted.text
        text = str(
            action.get(
                "text",
                "".join(t["token"] for t in self.logprobs) if self.logprobs else "" if self.tool_calls else default,
            )
        )
        words = [w + " " for w in text.split(" ")]
        words[-1] = words[-1].rstrip()
        cap = _shapes.output_cap(body)
        self.counter = counter = _counter()
        self.finish = "stop"
        if cap is not None and counter.count_text(text) > cap:  # honour the output cap like a provider
            kept: list[str] = []
            while words and counter.count_text("".join(kept + words[:1])) <= cap:
                kept.append(words.pop(0))
            words, self.finish = kept, "length"
        self.words = words
        chain = body.get("previous_response_id") or body.get("conversation")
        self.chain = chain.get("id") if isinstance(chain, dict) else chain
        if self.chain and self.chain not in fault.stored:
            self.error = (
                404,
                _shapes.error_json(404, f"No response or conversation found with id '{self.chain}'.", None),
            )
            return
        prior = list(fault.stored.get(self.chain, [])) if self.chain else []
        self.messages = prior + _shapes.responses_messages(body) if responses else []
        self.input_tokens = (
            counter.count_messages(self.messages)
            if prior
            else count_input("responses" if responses else "chat", body, counter)
        ) + image_input_tokens(body, responses)  # images billed by the model's rule, as the provider does
        if self.hosted is not None:  # the search results are read by the model: billed as input
            self.input_tokens += counter.count_text(self.hosted.content)

    def generated(self, parts: list[str]) -> _shapes.Generated:
        out = "".join(parts)
        calls_text = "".join(c["arguments"] for c in self.tool_calls)
        hosted = self.hosted
        return _shapes.Generated(
            out,
            self.input_tokens,
            self.counter.count_text(out + calls_text),
            self.finish,
            tool_calls=self.tool_calls,
            logprobs=self.logprobs,
            hosted=hosted.items if hosted else [],
            annotations=[a for a in hosted.annotations if a.get("index", a.get("end_index", 0)) <= len(out)]
            if hosted
            else [],
        )

    def payload(self) -> dict[str, Any]:
        """The whole (non-streamed) answer, billed and, for the Responses API, stored."""
        g = self.generated(self.words)
        self.fault.bill(g)
        body = self.body
        if not self.responses:
            return _shapes.chat_json(body, self.model, g)
        payload = _shapes.response_json(body, self.model, g)
        reply = [{"role": "assistant", "content": g.text}] + [
            {"role": "assistant", "content": _shapes.tool_call_text(c["name"], c["arguments"])} for c in self.tool_calls
        ]
        if body.get("store", True):
            self.fault.stored[payload["id"]] = self.messages + reply
            self.fault.responses[payload["id"]] = payload
        if body.get("conversation"):
            self.fault.stored[self.chain] = self.messages + reply
        return payload


class _StopStream(Exception):
    def __init__(self, kind: str) -> None:
        self.kind = kind


def _multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    """A multipart/form-data body: field -> text, or {"filename", "content"} for a file."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(f"content-type: {content_type}\r\n\r\n".encode() + raw)
    out: dict[str, Any] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        out[str(name)] = {"filename": filename, "content": content} if filename else content.decode("utf-8", "replace")
    return out


_BATCH_ENDPOINTS = ("/v1/responses", "/v1/chat/completions", "/v1/embeddings")


def _batch_api(
    fault: FaultServer, method: str, path: str, query: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]] | tuple[int, None, dict[str, str], bytes]:
    parts = path.strip("/").split("/")
    now = int(time.time())
    if method == "POST" and parts == ["files"]:
        upload = body.get("file")
        if not isinstance(upload, dict) or body.get("purpose") not in ("batch", "fine-tune", "assistants", "user_data"):
            return 400, _shapes.error_json(400, "'file' and a valid 'purpose' are required", "invalid_request")
        file_id = _shapes.new_id("file")
        obj = {
            "id": file_id,
            "object": "file",
            "bytes": len(upload["content"]),
            "created_at": now,
            "filename": upload["filename"],
            "purpose": body["purpose"],
            "status": "processed",
        }
        fault.files[file_id] = {**obj, "_content": upload["content"]}
        return 200, obj
    if method == "GET" and parts == ["files"]:
        from unyo.testing._vector_stores import list_page

        listed = [{k: v for k, v in f.items() if not k.startswith("_")} for f in list(fault.files.values())[::-1]]
        return 200, list_page(listed, query)
    if parts[0] == "files" and len(parts) >= 2:
        stored = fault.files.get(parts[1])
        if stored is None:
            return 404, _shapes.error_json(404, f"No such File object: {parts[1]}", None)
        if (
            method == "GET"
            and parts[2:] == ["content"]
            and stored["purpose"] == "fine-tune"
            and not fault.fine_tuning.downloadable
        ):
            return 400, _shapes.error_json(
                400, "Not allowed to download files of purpose: fine-tune", "invalid_request"
            )
        if method == "GET" and parts[2:] == ["content"]:
            return 200, None, {"content-type": "application/octet-stream"}, stored["_content"]
        if method == "GET" and len(parts) == 2:
            return 200, {k: v for k, v in stored.items() if not k.startswith("_")}
        if method == "DELETE" and len(parts) == 2:
            del fault.files[parts[1]]
            return 200, {"id": parts[1], "object": "file", "deleted": True}
    if method == "POST" and parts == ["batches"]:
        return _create_batch(fault, body, now)
    if method == "GET" and parts == ["batches"]:
        from urllib.parse import parse_qs

        params = parse_qs(query)
        limit, after = int(params.get("limit", ["20"])[0]), params.get("after", [None])[0]
        ordered = list(fault.batches)[::-1]  # newest first
        if after in ordered:
            ordered = ordered[ordered.index(after) + 1 :]
        data = [_batch_view(fault, fault.batches[b]) for b in ordered]
        return 200, {
            "object": "list",
            "data": data[:limit],
            "has_more": len(data) > limit,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[:limit][-1]["id"] if data else None,
        }
    if parts[0] == "batches" and len(parts) >= 2:
        batch = fault.batches.get(parts[1])
        if batch is None:
            return 404, _shapes.error_json(404, f"No such Batch object: {parts[1]}", None)
        if method == "GET" and len(parts) == 2:
            return 200, _batch_view(fault, batch)
        if method == "POST" and parts[2:] == ["cancel"]:
            if batch["status"] in ("validating", "in_progress"):
                batch.update(status="cancelled", cancelling_at=now, cancelled_at=now)
                _finish_batch(
                    fault, batch, run=0, reason=("batch_cancelled", "This request was cancelled with its batch.")
                )
            return 200, _batch_view(fault, batch)
    return 404, _shapes.error_json(404, f"no route {method} {path}", "unknown_url")


def _create_batch(fault: FaultServer, body: dict[str, Any], now: int) -> tuple[int, dict[str, Any]]:
    stored = fault.files.get(str(body.get("input_file_id")))
    if stored is None:
        return 400, _shapes.error_json(
            400, f"input_file_id {body.get('input_file_id')!r} does not exist", "invalid_request"
        )
    if body.get("endpoint") not in _BATCH_ENDPOINTS or body.get("completion_window") != "24h":
        return 400, _shapes.error_json(
            400, f"endpoint must be one of {_BATCH_ENDPOINTS} and completion_window '24h'", "invalid_request"
        )
    batch_id = _shapes.new_id("batch")
    batch: dict[str, Any] = {
        "id": batch_id,
        "object": "batch",
        "endpoint": body["endpoint"],
        "errors": None,
        "input_file_id": stored["id"],
        "completion_window": "24h",
        "status": "validating",
        "output_file_id": None,
        "error_file_id": None,
        "created_at": now,
        "in_progress_at": None,
        "expires_at": now + 86400,
        "finalizing_at": None,
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "metadata": body.get("metadata") or {},
        "_ready": time.monotonic() + fault.batch_seconds,
        "_lines": [],
    }
    problems: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(stored["_content"].decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"line {number}: not JSON")
            continue
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or custom_id in seen:
            problems.append(f"line {number}: custom_id missing or duplicated")
        elif (
            item.get("method") != "POST"
            or item.get("url") != body["endpoint"]
            or not isinstance(item.get("body"), dict)
        ):
            problems.append(f"line {number}: method must be POST, url {body['endpoint']}, body an object")
        seen.add(str(custom_id))
        batch["_lines"].append(item)
    if fault.batch_fail:
        problems.append(fault.batch_fail)
    if problems or not batch["_lines"]:
        batch.update(
            status="failed",
            failed_at=now,
            errors={
                "object": "list",
                "data": [
                    {"code": "invalid_request", "message": p, "line": None}
                    for p in (problems or ["the input file has no requests"])
                ],
            },
        )
    fault.batches[batch_id] = batch
    return 200, _batch_view(fault, batch)


def _batch_view(fault: FaultServer, batch: dict[str, Any]) -> dict[str, Any]:
    """The public Batch object; a batch whose time has come is run and completed first."""
    if batch["status"] == "validating":
        batch.update(status="in_progress", in_progress_at=int(time.time()))
    if batch["status"] == "in_progress" and time.monotonic() >= batch["_ready"]:
        expire = fault.batch_expire_after
        _finish_batch(
            fault,
            batch,
            run=len(batch["_lines"]) if expire is None else expire,
            reason=("batch_expired", "This request could not be executed before the completion window expired."),
        )
        now = int(time.time())
        batch.update(
            status="completed" if expire is None else "expired",
            finalizing_at=now,
            **{"completed_at" if expire is None else "expired_at": now},
        )
    lines = len(batch["_lines"])
    done = batch.get("_counts", (0, 0))
    view = {k: v for k, v in batch.items() if not k.startswith("_")}
    view["request_counts"] = {"total": lines, "completed": done[0], "failed": done[1]}
    return view


def _finish_batch(fault: FaultServer, batch: dict[str, Any], run: int, reason: tuple[str, str]) -> None:
    """Answer the first `run` lines like requests; the rest get `reason` as their error."""
    outputs: list[str] = []
    errors: list[str] = []
    path_of = {"/v1/responses": "/responses", "/v1/chat/completions": "/chat/completions"}
    for index, item in enumerate(batch["_lines"]):
        line_id = _shapes.new_id("batch_req")
        if index >= run:
            errors.append(
                json.dumps(
                    {
                        "id": line_id,
                        "custom_id": item.get("custom_id"),
                        "response": None,
                        "error": {"code": reason[0], "message": reason[1]},
                    }
                )
            )
            continue
        with fault._lock:
            action = fault._batch_script.popleft() if fault._batch_script else {"action": "ok"}
        fault.record(
            {
                "method": "POST",
                "path": path_of.get(batch["endpoint"], batch["endpoint"]),
                "headers": {},
                "body": item["body"],
                "action": action["action"],
                "at": time.monotonic(),
                "batch": batch["id"],
            }
        )
        kind = str(action["action"])
        if kind.isdigit() or kind in ("quota", "context"):
            status = 400 if kind == "context" else 429 if kind == "quota" else int(kind)
            code = {"context": "context_length_exceeded", "quota": "insufficient_quota"}.get(kind)
            payload = _shapes.error_json(
                status, f"scripted error {kind}", code, _ERROR_KINDS.get(status, "server_error")
            )
        else:
            answer = _Answer(fault, batch["endpoint"] == "/v1/responses", item["body"], action)
            status, payload = answer.error if answer.error is not None else (200, answer.payload())
        line = json.dumps(
            {
                "id": line_id,
                "custom_id": item["custom_id"],
                "error": None,
                "response": {"status_code": status, "request_id": _shapes.new_id("req"), "body": payload},
            },
            ensure_ascii=False,
        )
        (outputs if status == 200 else errors).append(line)
    now = int(time.time())
    for key, lines in (("output_file_id", outputs), ("error_file_id", errors)):
        if lines:
            file_id = _shapes.new_id("file")
            content = ("\n".join(lines) + "\n").encode()
            fault.files[file_id] = {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": now,
                "filename": f"{batch['id']}_{key[:-8]}.jsonl",
                "purpose": "batch_output",
                "_content": content,
            }
            batch[key] = file_id
    batch["_counts"] = (len(outputs), len(errors))
