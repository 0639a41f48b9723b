"""httpx2 transports that answer OpenAI API requests from the local model, in-process.

POST /responses, POST /chat/completions (plain and SSE), POST /embeddings (multilingual-e5-small,
see `_embed`) and GET /models. Streams are produced
lazily: closing the response closes the generator, which stops llama.cpp at the next token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2

from unyo._providers import _shapes
from unyo._providers._local import _tools
from unyo._providers._local._model import LocalModel, get_model
from unyo._types._errors import UnyoError

LOCAL_BASE_URL = "http://local.unyo/v1"


def _json_response(status: int, payload: dict[str, Any]) -> httpx2.Response:
    return httpx2.Response(status, json=payload, headers={"x-request-id": _shapes.new_id("req")})


class _Server:
    """Routing and request decoding shared by the sync and async transports."""

    def __init__(self, model_file: str | None, n_ctx: int) -> None:
        self._model_file, self._n_ctx = model_file, n_ctx

    @property
    def model(self) -> LocalModel:
        return get_model(self._model_file, self._n_ctx)

    def route(self, request: httpx2.Request, body: bytes) -> httpx2.Response | tuple[Iterator[bytes], dict[str, str]]:
        path = request.url.path.rstrip("/").rsplit("/v1", 1)[-1]
        try:
            if request.method == "GET" and path == "/models":
                return _json_response(200, _shapes.models_json([self.model.model_id, _embed_model_id()]))
            if request.method == "POST" and path in ("/responses", "/chat/completions"):
                return self._generate(path, json.loads(body or b"{}"))
            if request.method == "POST" and path == "/embeddings":
                return _embeddings(json.loads(body or b"{}"))
        except UnyoError as exc:  # e.g. the model file is missing
            return _json_response(500, _shapes.error_json(500, str(exc), "local_model_unavailable", "server_error"))
        except json.JSONDecodeError:
            return _json_response(400, _shapes.error_json(400, "request body is not JSON"))
        message = f"the local model does not serve {request.method} {path}"
        return _json_response(404, _shapes.error_json(404, message, "unknown_url"))

    def _generate(self, path: str, body: dict[str, Any]) -> httpx2.Response | tuple[Iterator[bytes], dict[str, str]]:
        responses = path == "/responses"
        if body.get("previous_response_id") or body.get("conversation"):
            msg = (
                "the local model keeps no server-side state: previous_response_id / conversation need a provider; "
                "use the history strategy"
            )
            return _json_response(400, _shapes.error_json(400, msg, "unsupported_parameter"))
        messages = _shapes.responses_messages(body) if responses else _shapes.chat_messages(body)
        if not messages:
            return _json_response(400, _shapes.error_json(400, "no input messages"))
        model = self.model
        prompt_tokens = model.count_messages(messages)
        cap = _shapes.output_cap(body) or 512
        if prompt_tokens + cap > model.context_window:
            msg = (
                f"This model's maximum context length is {model.context_window} tokens; "
                f"the request asks for {prompt_tokens} input + {cap} output tokens."
            )
            return _json_response(400, _shapes.error_json(400, msg, "context_length_exceeded"))
        schema = _shapes.json_schema_of(body)
        tools = _shapes.tools_of(body)  # with tool_choice "none" the grammar allows only an answer
        if tools and body.get("stream"):
            return _json_response(
                400, _shapes.error_json(400, "the local model does not stream tool calls; call it without stream")
            )
        if not body.get("stream"):
            if tools:
                schema = _tools.grammar(tools, body.get("tool_choice", "auto"), answer_chars=cap * 4)
                generated = _tools.reply(model.generate([_tools.prompt(tools), *messages], body, schema, cap))
            else:
                generated = model.generate(messages, body, schema, cap)
                generated = _valid_json_strings(generated) if schema is not None else generated
            payload = (
                _shapes.response_json(body, model.model_id, generated)
                if responses
                else _shapes.chat_json(body, model.model_id, generated)
            )
            return _json_response(200, payload)
        deltas, finish = model.stream(messages, body, schema, cap)
        events = (_shapes.response_events if responses else _shapes.chat_events)(body, model.model_id, deltas, finish)
        headers = {"content-type": "text/event-stream", "x-request-id": _shapes.new_id("req")}
        return _shapes.sse(events, done_marker=not responses), headers


def _embed_model_id() -> str:
    from unyo._providers._local._embed import MODEL_ID

    return MODEL_ID


def _embeddings(body: dict[str, Any]) -> httpx2.Response:
    """OpenAI's embeddings answer from the bundled E5 model. E5 wants a prefix: an input that starts
    with "passage: " is embedded as a passage, one with "query: " (or none) as a query, which is
    what E5's authors advise for symmetric similarity."""
    import base64

    from unyo._providers._local import _embed

    if body.get("model") != _embed.MODEL_ID:
        msg = f"the local model {body.get('model')!r} makes no embeddings; use model {_embed.MODEL_ID!r}"
        return _json_response(404, _shapes.error_json(404, msg, "model_not_found"))
    raw = body.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        msg = "input must be a non-empty string or list of strings (the local model takes no token arrays)"
        return _json_response(400, _shapes.error_json(400, msg, "invalid_input"))
    if body.get("dimensions") not in (None, _embed.DIMENSIONS):
        msg = f"{_embed.MODEL_ID} has {_embed.DIMENSIONS} dimensions and cannot shorten them"
        return _json_response(400, _shapes.error_json(400, msg, "unsupported_parameter"))
    kinds = ["passage" if t.startswith("passage: ") else "query" for t in texts]
    bare = [t.split(": ", 1)[1] if t.startswith(("passage: ", "query: ")) else t for t in texts]
    vectors: list[Any] = [None] * len(texts)
    for kind in ("query", "passage"):
        picked = [i for i, k in enumerate(kinds) if k == kind]
        for i, vector in zip(picked, _embed.embed([bare[i] for i in picked], kind)):  # type: ignore[arg-type]
            vectors[i] = vector
    tokens = sum(_embed.token_count(t, k) for t, k in zip(bare, kinds))  # type: ignore[arg-type]
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode()
            if body.get("encoding_format") == "base64"
            else [float(x) for x in v],
        }
        for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return _json_response(200, {"object": "list", "data": data, "model": _embed.MODEL_ID, "usage": usage})


def _valid_json_strings(g: Any) -> Any:
    """llama.cpp's JSON grammar lets raw control characters (a newline) into strings, which JSON
    forbids: re-encode such output so it is the valid JSON the grammar meant."""
    from dataclasses import replace

    try:
        json.loads(g.text)
        return g
    except json.JSONDecodeError:
        pass
    try:
        return replace(g, text=json.dumps(json.loads(g.text, strict=False), ensure_ascii=False))
    except json.JSONDecodeError:
        return g


class _ClosingStream(httpx2.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close:
            close()


class LocalTransport(httpx2.BaseTransport):
    def __init__(self, model_file: str | None = None, n_ctx: int = 4096) -> None:
        self._server = _Server(model_file, n_ctx)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        routed = self._server.route(request, request.read())
        if isinstance(routed, httpx2.Response):
            return routed
        chunks, headers = routed
        return httpx2.Response(200, headers=headers, stream=_ClosingStream(chunks))


class _AsyncClosingStream(httpx2.AsyncByteStream):
    """Pulls the blocking generator in a worker thread so the event loop never waits on llama."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        done = object()
        while True:
            chunk = await asyncio.to_thread(next, self._chunks, done)
            if chunk is done:
                return
            yield chunk  # type: ignore[misc]

    async def aclose(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close:
            await asyncio.to_thread(close)


class AsyncLocalTransport(httpx2.AsyncBaseTransport):
    def __init__(self, model_file: str | None = None, n_ctx: int = 4096) -> None:
        self._server = _Server(model_file, n_ctx)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        routed = await asyncio.to_thread(self._server.route, request, body)
        if isinstance(routed, httpx2.Response):
            return routed
        chunks, headers = routed
        return httpx2.Response(200, headers=headers, stream=_AsyncClosingStream(chunks))
