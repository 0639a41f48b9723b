"""The web console's sessions over plain HTTP against a real `unyo serve`: the sign-in form's CSRF,
a tampered or revoked session, the trusted proxy header (off by default), the session's signature."""

from __future__ import annotations

import re
from pathlib import Path

import httpx2 as httpx

from tests.gateway_helpers import SECRET, Served, gateway_env
from unyo._gateway._console import _session
from unyo.testing import FaultServer


def sign_in(served: Served, key: str) -> httpx.Client:
    client = httpx.Client(base_url=served.url)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/login").text)
    assert token
    answer = client.post("/ui/login", data={"csrf": token.group(1), "key": key})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/", answer.text
    return client


def test_sessions_csrf_revocation_and_the_proxy_header(fault: FaultServer, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'gw' / 'unyo.db'}"
    served = Served(gateway_env(fault.url, db), tmp_path / "serve.log")
    try:
        key = served.new_key(name="frank", user="frank")
        # the sign-in form without its double-submit token is refused, and so is a wrong key
        assert httpx.post(f"{served.url}/ui/login", data={"key": key}).status_code == 403
        client = sign_in(served, key)
        assert client.get("/ui/").status_code == 200
        # a tampered cookie is no session
        cookie = client.cookies["unyo_session"]
        tampered = cookie[:-1] + ("1" if cookie.endswith("0") else "0")  # never the same cookie again
        forged = httpx.get(f"{served.url}/ui/", cookies={"unyo_session": tampered})
        assert forged.status_code == 303 and forged.headers["location"] == "/ui/login"
        # the proxy header is ignored unless configured
        plain = httpx.get(f"{served.url}/ui/", headers={"x-forwarded-user": "frank"})
        assert plain.status_code == 303
        # revoking the key ends its console session on the next request
        key_id = client.cookies["unyo_session"].split(".")[0]
        assert served.admin("POST", f"/admin/keys/{key_id}/revoke").status_code == 200
        assert client.get("/ui/").status_code == 303
    finally:
        served.stop()
    proxied = Served(gateway_env(fault.url, db, UNYO_CONSOLE_USER_HEADER="X-Forwarded-User"), tmp_path / "p.log")
    try:
        proxied.new_key(name="grace", user="grace")
        page = httpx.get(f"{proxied.url}/ui/", headers={"x-forwarded-user": "grace"})
        assert page.status_code == 200 and "grace" in page.text
        assert "unyo_session" in page.headers.get("set-cookie", "") and "HttpOnly" in page.headers["set-cookie"]
        assert httpx.get(f"{proxied.url}/ui/", headers={"x-forwarded-user": "nobody"}).status_code == 303
        # the proxy's user wins over a session cookie of another user
        henry = proxied.new_key(name="henry", user="henry")
        page = httpx.get(f"{proxied.url}/ui/", headers={"x-forwarded-user": "grace"},
                         cookies={"unyo_session": sign_in(proxied, henry).cookies["unyo_session"]})  # fmt: skip
        assert page.status_code == 200 and "grace" in page.text and "henry" not in page.text
        # behind TLS the cookies are Secure
        login = httpx.get(f"{proxied.url}/ui/login", headers={"x-forwarded-proto": "https"})
        assert "Secure" in login.headers["set-cookie"]
    finally:
        proxied.stop()


def test_session_cookies_are_signed_and_expire() -> None:
    secret = SECRET.encode()
    cookie = _session.issue(secret, "vk_1", now=1000.0)
    assert _session.key_id_of(secret, cookie, now=1001.0) == "vk_1"
    assert _session.key_id_of(secret, cookie, now=1000.0 + _session.TTL_S + 1) is None
    assert _session.key_id_of(b"another secret!!", cookie, now=1001.0) is None
    assert _session.key_id_of(secret, cookie.replace("vk_1", "vk_2"), now=1001.0) is None
    assert _session.csrf_ok(secret, cookie, _session.csrf_token(secret, cookie))
    assert not _session.csrf_ok(secret, cookie, _session.csrf_token(secret, cookie + "x"))
    assert not _session.csrf_ok(secret, None, "")


def test_every_word_a_template_uses_exists_in_both_languages() -> None:
    from unyo._gateway._console._text import WORDS

    templates = Path(_session.__file__).parent / "templates"
    used = {m for f in templates.glob("*.html") for m in re.findall(r"\bt\.(\w+)", f.read_text(encoding="utf-8"))}
    assert used and used <= set(WORDS), used - set(WORDS)
    assert not set(WORDS) & set(dir(dict))  # `t.keys` would be the dict's method, not the word
    assert all(en and ja and en != ja for en, ja in WORDS.values())
