"""The web console's routes under /ui, on the gateway's own app, key store and guarded client.

    GET  /ui/login · POST /ui/login (virtual key -> session cookie) · POST /ui/logout
    GET  /ui/ (chat) · POST /ui/chat (SSE, the gateway's stream: Stop = disconnect = upstream cancel)
    GET  /ui/answer/{response_id} (its tokens and cost, from the ledger, own calls only)
    GET  /ui/usage (SVG charts) · GET /ui/review · GET|POST /ui/review/{id} · GET /ui/admin

Who: the session's key (or, when UNYO_CONSOLE_USER_HEADER names a header set by a trusted proxy,
the active key whose user it names). Admins: UNYO_CONSOLE_ADMINS, key names or users, comma-separated;
they see every key, the masked audit log and everyone's queue; a user sees only their own.
Every POST needs the CSRF token tied to the session; a wrong owner's id is a 404, like a wrong id.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request

from unyo._gateway._console import _session
from unyo._gateway._console._text import lang_of, words
from unyo._types._errors import ConfigError

HERE = Path(__file__).parent
_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"


class _Redirect(Exception):
    pass


class Console:
    def __init__(self, gateway: Any) -> None:
        import jinja2

        self.gw = gateway
        self.secret = gateway.config.secret
        self.admins = {a.strip() for a in os.environ.get("UNYO_CONSOLE_ADMINS", "").split(",") if a.strip()}
        self.user_header = (os.environ.get("UNYO_CONSOLE_USER_HEADER") or "").strip().lower() or None
        self.jinja = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
        self.jinja.filters["when"] = lambda ts: time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else "-"

    # -- who is asking ------------------------------------------------------------------------

    async def who(self, request: Any) -> tuple[Any, str]:
        """(key, session cookie) of a signed-in user, else _Redirect to the sign-in page."""
        from unyo._core._offload import offload

        cookie = request.cookies.get(_session.COOKIE)
        key_id = _session.key_id_of(self.secret, cookie)
        key = None
        proxied = bool(self.user_header and request.headers.get(self.user_header))
        if key_id is not None and not proxied:
            try:
                key = await offload(self.gw.keys.get, key_id)
            except ConfigError:  # the key row is gone
                key = None
        elif proxied and self.user_header:  # the proxy's word wins over an older session's
            name = request.headers[self.user_header]
            keys = await offload(self.gw.keys.list, False)
            key = next((k for k in keys if k.user == name and k.state() == "active"), None)
            if key is None or key.id != key_id:
                cookie = _session.issue(self.secret, key.id) if key else None
        if key is None or key.state() != "active" or cookie is None:
            raise _Redirect()
        return key, cookie

    def is_admin(self, key: Any) -> bool:
        return key.name in self.admins or (key.user is not None and key.user in self.admins)

    def roles(self, key: Any) -> list[str]:
        return list(key.models) if key.models else list(self.gw.settings.profile.models)

    def page(self, request: Any, name: str, key: Any = None, cookie: str = "", code: int = 200, **ctx: Any) -> Any:
        from starlette.responses import HTMLResponse

        lang = lang_of(request.query_params.get("lang"), request.headers.get("accept-language"))
        csrf = _session.csrf_token(self.secret, cookie) if cookie else ""
        html = self.jinja.get_template(name).render(
            t=words(lang), lang=lang, key=key, csrf=csrf, admin=bool(key and self.is_admin(key)), **ctx
        )
        answer = HTMLResponse(html, status_code=code)
        answer.headers["content-security-policy"] = _CSP
        answer.headers["x-content-type-options"] = "nosniff"
        answer.headers["referrer-policy"] = "same-origin"
        if cookie and request.cookies.get(_session.COOKIE) != cookie:  # a proxy-header user's session
            self.set_cookie(answer, cookie, request)
        return answer

    @staticmethod
    def secure(request: Any) -> bool:
        """Served over TLS (directly, or at a proxy that says so): the cookies get `Secure`."""
        return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"

    def set_cookie(self, answer: Any, cookie: str, request: Any) -> None:
        answer.set_cookie(
            _session.COOKIE,
            cookie,
            max_age=_session.TTL_S,
            path="/ui",
            httponly=True,
            samesite="strict",
            secure=self.secure(request),
        )

    async def form(self, request: Any, cookie: str | None) -> dict[str, str]:
        """The urlencoded form, once its CSRF token matches the session (403 otherwise)."""
        from unyo._gateway._errors import GatewayError

        raw = await request.body()
        if len(raw) > self.gw.config.max_body_bytes:
            raise GatewayError(413, "form too large", "invalid_request_error", "request_too_large")
        fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
        if not _session.csrf_ok(self.secret, cookie, fields.get("csrf")):
            raise GatewayError(403, "missing or wrong CSRF token: reload the page", "permission_error", "csrf")
        return fields

    # -- data ---------------------------------------------------------------------------------

    def conversations(self, owner: str) -> list[tuple[str, str]]:
        with self.gw.store.tx(write=False) as tx:
            rows = tx.execute(
                "SELECT c.id, (SELECT t.content FROM unyo_turns t WHERE t.conversation_id = c.id ORDER BY t.seq "
                "LIMIT 1) FROM unyo_conversations c WHERE c.user_id = ? AND c.strategy = 'console' "
                "ORDER BY c.updated_at DESC LIMIT 50",
                [owner],
            )
        return [(r[0], (r[1] or "")[:40]) for r in rows]

    def turns(self, conversation: str, owner: str) -> list[dict[str, str]] | None:
        """The conversation's turns, or None when it is not this owner's (or does not exist)."""
        with self.gw.store.tx(write=False) as tx:
            found = tx.execute("SELECT user_id FROM unyo_conversations WHERE id = ?", [conversation])
            if not found or found[0][0] != owner:
                return None
            rows = tx.execute(
                "SELECT role, content FROM unyo_turns WHERE conversation_id = ? ORDER BY seq", [conversation]
            )
        return [{"role": r[0], "content": r[1]} for r in rows]

    def add_turn(self, conversation: str, owner: str, role: str, content: str, new: bool = False) -> None:
        now = time.time()
        with self.gw.store.tx() as tx:
            if new:
                tx.execute(
                    "INSERT INTO unyo_conversations (id, user_id, strategy, chain_tokens, created_at, updated_at) "
                    "VALUES (?, ?, 'console', 0, ?, ?)",
                    [conversation, owner, now, now],
                )
            seq = tx.execute("SELECT COUNT(*) FROM unyo_turns WHERE conversation_id = ?", [conversation])[0][0]
            tx.execute(
                "INSERT INTO unyo_turns (conversation_id, seq, role, content, tokens, ts) VALUES (?, ?, ?, ?, 0, ?)",
                [conversation, int(seq), role, content, now],
            )
            tx.execute("UPDATE unyo_conversations SET updated_at = ? WHERE id = ?", [now, conversation])

    def answer(self, response_id: str, owner: str) -> dict[str, Any] | None:
        with self.gw.store.tx(write=False) as tx:
            rows = tx.execute(
                "SELECT input_tokens, output_tokens, cost, status, model FROM unyo_calls "
                "WHERE response_id = ? AND user_id = ? ORDER BY ts DESC LIMIT 1",
                [response_id, owner],
            )
        if not rows:
            return None
        i, o, cost, status, model = rows[0]
        return {"input_tokens": i, "output_tokens": o, "cost": str(cost or 0), "status": status, "model": model}

    def usage(self, owner: str | None, daily: Any = None, days: int = 30) -> dict[str, Any]:
        """The last `days` of calls (everyone's when owner is None), grouped for the charts; the
        day chart carries the key's daily budget as a line."""
        from decimal import Decimal

        from unyo._gateway._console._charts import bars

        since = time.time() - days * 86400
        where = "ts >= ? AND api NOT LIKE ?"  # gateway.* rows: refused requests, not calls
        params: list[Any] = [since, "gateway.%"]
        if owner is not None:
            where += " AND user_id = ?"
            params.append(owner)
        with self.gw.store.tx(write=False) as tx:
            rows = tx.execute(
                f"SELECT day, month, model, user_id, tag, status, cache_hit, latency_s, cost FROM unyo_calls "
                f"WHERE {where} ORDER BY ts",
                params,
            )
        month = time.strftime("%Y-%m", time.gmtime())
        names = {k.ledger_user: k.name for k in self.gw.keys.list(True)}
        groups: dict[str, dict[str, Decimal]] = {"day": {}, "model": {}, "key": {}, "user": {}, "tag": {}}
        latencies, failures, hits, spent = [], 0, 0, Decimal(0)
        for day, mon, model, user, tag, status, cache_hit, latency, cost in rows:
            value = Decimal(str(cost or 0))
            labels = (("day", day), ("model", model), ("key", names.get(user, "-")), ("user", user or "-"),
                      ("tag", tag or "-"))  # fmt: skip
            for name, label in labels:
                groups[name][label] = groups[name].get(label, Decimal(0)) + value
            failures += status == "failed"
            hits += bool(cache_hit)
            spent += value if mon == month else 0
            if latency is not None and status == "completed":
                latencies.append(float(latency))
        p50 = statistics.median(latencies) if latencies else None
        p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 2 else p50
        charts = {}
        for name, values in groups.items():
            ordered = sorted(values.items()) if name == "day" else sorted(values.items(), key=lambda x: -x[1])
            charts[name] = bars(ordered, float(daily) if name == "day" and daily is not None else None)
        return {"charts": charts, "calls": len(rows), "failures": failures, "cache_hits": hits, "p50": p50,
                "p95": p95, "spent": spent}  # fmt: skip

    def audit(self, limit: int = 50) -> list[dict[str, Any]]:
        from unyo._records._mask import mask

        with self.gw.store.tx(write=False) as tx:
            rows = tx.execute(
                "SELECT ts, user_id, api, model, status, error, prompt FROM unyo_calls ORDER BY ts DESC "
                f"LIMIT {int(limit)}"
            )
        return [
            {
                "ts": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r[0])),
                "user": r[1],
                "api": r[2],
                "model": r[3],
                "status": r[4],
                "error": r[5],
                "prompt": mask(r[6] or "")[:160],
            }  # fmt: skip
            for r in rows
        ]


def _chat_stream(console: Console, key: Any, conversation: str, owner: str, stream: Any) -> Any:
    """The gateway's SSE stream of the answer; the text it delivered becomes the assistant turn."""
    from unyo._core._offload import offload
    from unyo._gateway._stream import EventStream

    class Answer(EventStream):
        text: list[str]

        def encode(self, event: Any) -> bytes:
            for choice in event.choices or ():
                if choice.delta and choice.delta.content:
                    self.text.append(choice.delta.content)
            return super().encode(event)

    async def ended(info: Any) -> None:
        await console.gw.used(key, info)
        if answer.text:
            await offload(console.add_turn, conversation, owner, "assistant", "".join(answer.text))

    answer = Answer(stream, False, False, ended)
    answer.text = []
    answer.raw_headers.append((b"x-unyo-conversation", conversation.encode()))
    return answer


def console_routes(app: Any, gateway: Any) -> None:
    from starlette.responses import JSONResponse, RedirectResponse, Response

    from unyo._core._offload import offload
    from unyo._gateway._errors import GatewayError

    console = Console(gateway)
    app.state.console = console

    @app.exception_handler(_Redirect)
    async def to_login(request: Request, exc: _Redirect) -> Any:
        if request.method != "GET":
            return JSONResponse({"error": {"message": "not signed in", "type": "invalid_request_error",
                                           "param": None, "code": "invalid_api_key"}}, 401)  # fmt: skip
        return RedirectResponse("/ui/login", 303)

    @app.get("/ui/static/console.js")
    async def script() -> Any:
        body = (HERE / "static" / "console.js").read_text(encoding="utf-8")
        return Response(body, media_type="text/javascript", headers={"cache-control": "no-cache"})

    @app.get("/ui/login")
    async def login_page(request: Request, error: str = "") -> Any:
        token = uuid.uuid4().hex
        answer = console.page(request, "login.html", login_token=token, error=bool(error))
        secure = console.secure(request)
        answer.set_cookie(
            _session.LOGIN_COOKIE, token, max_age=600, path="/ui", httponly=True, samesite="strict", secure=secure
        )
        return answer

    @app.post("/ui/login")
    async def login(request: Request) -> Any:
        raw = (await request.body())[:8192].decode("utf-8", "replace")
        fields = {k: v[0] for k, v in parse_qs(raw).items()}
        expected = request.cookies.get(_session.LOGIN_COOKIE) or ""
        if not expected or fields.get("csrf") != expected:
            raise GatewayError(403, "missing or wrong CSRF token: reload the sign-in page", "permission_error", "csrf")
        presented = fields.get("key", "").strip()
        record = await offload(gateway.keys.lookup, presented) if presented else None
        if record is None or record.state() != "active":
            await gateway.audit_refusal("console.login", "AuthenticationError", "console sign-in refused", record)
            return RedirectResponse("/ui/login?error=1", 303)
        answer = RedirectResponse("/ui/", 303)
        console.set_cookie(answer, _session.issue(console.secret, record.id), request)
        answer.delete_cookie(_session.LOGIN_COOKIE, path="/ui")
        return answer

    @app.post("/ui/logout")
    async def logout(request: Request) -> Any:
        key, cookie = await console.who(request)
        await console.form(request, cookie)
        answer = RedirectResponse("/ui/login", 303)
        answer.delete_cookie(_session.COOKIE, path="/ui")
        return answer

    @app.get("/ui/")
    async def chat_page(request: Request, c: str = "") -> Any:
        key, cookie = await console.who(request)
        turns = await offload(console.turns, c, key.ledger_user) if c else []
        if turns is None:
            raise GatewayError(404, "no such conversation", "invalid_request_error", "not_found")
        chats = await offload(console.conversations, key.ledger_user)
        return console.page(request, "chat.html", key, cookie, roles=console.roles(key), turns=turns,
                            conversation=c, chats=chats)  # fmt: skip

    @app.post("/ui/chat")
    async def chat(request: Request) -> Any:
        key, cookie = await console.who(request)
        if not _session.csrf_ok(console.secret, cookie, request.headers.get("x-csrf-token")):
            raise GatewayError(403, "missing or wrong CSRF token: reload the page", "permission_error", "csrf")
        body = await gateway.read_json(request)
        role, message, conversation = body.get("role"), body.get("message"), body.get("conversation") or ""
        if not isinstance(role, str) or not isinstance(message, str) or not message.strip():
            raise GatewayError(400, "send a role and a message", "invalid_request_error")
        if role not in console.roles(key) or not gateway.allowed(key, role):
            raise GatewayError(403, f"role {role!r} is not allowed for this key", "permission_error")
        owner = key.ledger_user
        history = await offload(console.turns, conversation, owner) if conversation else []
        if history is None:
            raise GatewayError(404, "no such conversation", "invalid_request_error", "not_found")
        new = not conversation
        conversation = conversation or uuid.uuid4().hex
        await offload(console.add_turn, conversation, owner, "user", message, new)
        await gateway.rates.admit(key)
        messages = [*history, {"role": "user", "content": message}]
        stream = await gateway.client_for(key).chat.completions.create(model=role, messages=messages, stream=True)
        return _chat_stream(console, key, conversation, owner, stream)

    @app.get("/ui/answer/{response_id}")
    async def answer(request: Request, response_id: str) -> Any:
        key, _ = await console.who(request)
        found = await offload(console.answer, response_id, key.ledger_user)
        if found is None:
            raise GatewayError(404, "no such answer", "invalid_request_error", "not_found")
        return JSONResponse(found)

    @app.get("/ui/usage")
    async def usage(request: Request) -> Any:
        key, cookie = await console.who(request)
        data = await offload(console.usage, None if console.is_admin(key) else key.ledger_user, key.budget_daily)
        return console.page(request, "usage.html", key, cookie, **data)

    def scope(key: Any) -> str | None:
        return None if console.is_admin(key) else key.ledger_user

    @app.get("/ui/review")
    async def review_list(request: Request, status: str = "pending") -> Any:
        key, cookie = await console.who(request)
        items = await offload(review_queue(gateway).list, status or None, scope(key))
        return console.page(request, "review_list.html", key, cookie, items=items, status=status)

    @app.get("/ui/review/{item_id}")
    async def review_item(request: Request, item_id: str) -> Any:
        from unyo._records._review import ReviewError

        key, cookie = await console.who(request)
        q = review_queue(gateway)
        try:
            item = await offload(q.get, item_id, scope(key))
        except ReviewError:
            raise GatewayError(404, "no such review item", "invalid_request_error", "not_found") from None
        history = await offload(q.history, item.id)
        output = json.dumps(item.final, ensure_ascii=False, indent=2)
        return console.page(request, "review_item.html", key, cookie, item=item, history=history, output=output)

    @app.post("/ui/review/{item_id}")
    async def review_decide(request: Request, item_id: str) -> Any:
        from unyo._records._review import ReviewError, parse_output

        key, cookie = await console.who(request)
        fields = await console.form(request, cookie)
        action = fields.get("action", "")
        try:
            edited = parse_output(fields.get("output", "")) if action == "edit" else None
            who = f"{key.ledger_user} (console)"
            await offload(review_queue(gateway).decide, item_id, action, who, edited, fields.get("note", ""),
                          scope(key))  # fmt: skip
        except ReviewError as exc:
            if "no review item" in str(exc):
                raise GatewayError(404, "no such review item", "invalid_request_error", "not_found") from None
            raise GatewayError(400, str(exc), "invalid_request_error") from None
        return RedirectResponse(f"/ui/review/{item_id}", 303)

    @app.get("/ui/admin")
    async def admin(request: Request) -> Any:
        key, cookie = await console.who(request)
        if not console.is_admin(key):
            raise GatewayError(404, "not found", "invalid_request_error", "not_found")
        keys = await offload(gateway.keys.list, True)
        audit = await offload(console.audit)
        return console.page(request, "admin.html", key, cookie, keys=keys, audit=audit)


def review_queue(gateway: Any) -> Any:
    from unyo._records._review import ReviewQueue

    queue = getattr(gateway, "_review_queue", None)
    if queue is None:
        queue = gateway._review_queue = ReviewQueue(gateway.store)
    return queue
