"""`unyo serve`: a real uvicorn process on 127.0.0.1, upstream = the fault server, keys in the
real store. Calls, SSE, disconnects, every refusal as OpenAI's error body, the audit, /metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import run_cli
from tests.gateway_helpers import ADMIN, SECRET, Served, gateway_env
from unyo.testing import FaultServer


@pytest.fixture
def served(fault: FaultServer, tmp_path: Path) -> Iterator[Served]:
    env = gateway_env(fault.url, f"sqlite:///{tmp_path / 'gw' / 'unyo.db'}")
    server = Served(env, tmp_path / "serve.log")
    server.env = env  # type: ignore[attr-defined]
    yield server
    server.stop()


def post(served: Served, path: str, key: str | None, body: Any, **kwargs: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(f"{served.url}{path}", content=data, headers=headers, timeout=30, **kwargs)


def ledger(served: Served, since: float = 0) -> list[dict[str, Any]]:
    out = run_cli("logs", "--json", "-n", "50", env=served.env)  # type: ignore[attr-defined]
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_responses_and_chat_through_the_guarded_pipeline(served: Served, fault: FaultServer) -> None:
    key = served.new_key(name="team-a", tag="support")
    r = post(served, "/v1/responses", key, {"model": "gpt-4o-mini", "input": "hi"})
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "response" and "fault server" in r.json()["output"][0]["content"][0]["text"]
    c = post(
        served, "/v1/chat/completions", key, {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
    )
    assert c.status_code == 200 and c.json()["choices"][0]["message"]["content"]
    e = post(served, "/v1/embeddings", key, {"model": "text-embedding-3-small", "input": ["a", "b"]})
    assert e.status_code == 200 and len(e.json()["data"]) == 2
    sent = [req for req in fault.requests if req["method"] == "POST"]
    assert [req["path"] for req in sent] == ["/responses", "/chat/completions", "/embeddings"]
    auth = [{k.lower(): v for k, v in req["headers"].items()}["authorization"] for req in sent]
    assert all(a.endswith("XYZ") for a in auth)  # the server's key, not the caller's
    assert all(key not in json.dumps(req) for req in sent)
    rows = ledger(served)
    mine = [row for row in rows if row["api"] in ("responses", "chat", "embeddings")]
    assert (
        len(mine) == 3
        and {row["user_id"] for row in mine} == {"key:team-a"}
        and {row["tag"] for row in mine} == {"support"}
    )
    got = httpx.get(f"{served.url}/v1/responses/{r.json()['id']}", headers={"authorization": f"Bearer {key}"})
    assert got.status_code == 200 and got.json()["id"] == r.json()["id"]
    other = served.new_key(name="team-b")
    hidden = httpx.get(f"{served.url}/v1/responses/{r.json()['id']}", headers={"authorization": f"Bearer {other}"})
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"


def _sse(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]


def test_streams_are_served_as_openai_sse(served: Served) -> None:
    key = served.new_key()
    chat = post(
        served,
        "/v1/chat/completions",
        key,
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": True},
    )
    assert chat.status_code == 200 and chat.headers["content-type"].startswith("text/event-stream")
    data = _sse(chat)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["choices"] for c in chunks)  # no usage chunk unasked
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks).startswith("Hello from")
    resp = post(served, "/v1/responses", key, {"model": "gpt-4o-mini", "input": "x", "stream": True})
    events = [line[7:] for line in resp.text.splitlines() if line.startswith("event: ")]
    assert events[0] == "response.created" and events[-1] == "response.completed"
    assert "[DONE]" not in resp.text


def test_a_dropped_stream_cancels_upstream_and_bills_what_was_delivered(served: Served, fault: FaultServer) -> None:
    key = served.new_key(name="dropper")
    fault.script({"action": "ok", "delay": 0.15, "text": " ".join(f"w{i}" for i in range(60))})
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": True}
    with httpx.stream(
        "POST", f"{served.url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
    ) as response:
        got = 0
        for line in response.iter_lines():
            if line.startswith("data: "):
                got += 1
            if got >= 4:
                break  # the client goes away mid-stream
    deadline = time.monotonic() + 10
    while not fault.disconnects and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fault.disconnects and fault.disconnects[0]["deltas_sent"] < 60  # the upstream saw it and stopped
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = next((r for r in ledger(served) if r["api"] == "chat"), None)
        if row and row["status"] != "pending":
            break
        time.sleep(0.2)
    assert row is not None and row["status"] == "cancelled" and row["user_id"] == "key:dropper"
    assert 3 <= row["output_tokens"] < 60 * 2


def error(response: httpx.Response) -> dict[str, Any]:
    payload = response.json()
    assert set(payload) == {"error"} and set(payload["error"]) == {"message", "type", "param", "code"}
    return dict(payload["error"])


def test_bad_keys_are_401_with_openai_bodies_and_audited(served: Served) -> None:
    body = {"model": "gpt-4o-mini", "input": "hi"}
    missing = post(served, "/v1/responses", None, body)
    unknown = post(served, "/v1/responses", "uk-not-a-real-key", body)
    key = served.new_key(name="gone")
    assert served.admin("POST", "/admin/keys/gone/revoke").status_code == 200
    revoked = post(served, "/v1/responses", key, body)
    expired_key = served.new_key(name="brief", expires="1s")
    time.sleep(1.2)
    expired = post(served, "/v1/responses", expired_key, body)
    for response, words in ((missing, "no virtual key"), (unknown, "incorrect"), (revoked, "revoked"),
                            (expired, "expired")):  # fmt: skip
        assert response.status_code == 401
        assert error(response)["code"] == "invalid_api_key" and words in error(response)["message"]
    assert "uk-not-a-real-key" not in unknown.text
    rows = [r for r in ledger(served) if r["api"].startswith("gateway.")]
    assert len(rows) == 4 and all(r["error"] == "AuthenticationError" for r in rows)
    assert {r["user_id"] for r in rows} == {"key:?", "key:gone", "key:brief"}
    log = run_cli("logs", "--json", "-n", "50", env=served.env).stdout  # type: ignore[attr-defined]
    assert key not in log and "uk-not-a-real-key" not in log and SECRET not in log


def test_bad_input_is_never_a_500(served: Served, fault: FaultServer) -> None:
    key = served.new_key(name="scoped", models="main,gpt-4o-mini")
    too_big = post(served, "/v1/responses", key, {"model": "gpt-4o-mini", "input": "x" * (5 * 1024 * 1024)})
    assert too_big.status_code == 413 and error(too_big)["code"] == "request_too_large"
    broken = post(served, "/v1/responses", key, b'{"model": "gpt-4o-mini", "input": ')
    assert broken.status_code == 400 and error(broken)["code"] == "invalid_json"
    not_object = post(served, "/v1/chat/completions", key, b"[1, 2]")
    assert not_object.status_code == 400
    no_model = post(served, "/v1/responses", key, {"input": "x"})
    assert no_model.status_code == 400 and "model" in error(no_model)["message"]
    outside = post(served, "/v1/responses", key, {"model": "gpt-4o", "input": "x"})
    assert outside.status_code == 403 and error(outside)["code"] == "model_not_allowed"
    sneaky = post(served, "/v1/responses", key, {"model": "gpt-4o-mini", "input": "x", "unyo_user": "ceo"})
    assert sneaky.status_code == 400
    wrong_type = post(served, "/v1/chat/completions", key, {"model": "gpt-4o-mini", "messages": "not a list"})
    assert 400 <= wrong_type.status_code < 500
    huge_cap = post(served, "/v1/responses", key, {"model": "gpt-4o-mini", "input": "x", "max_output_tokens": "many"})
    assert 400 <= huge_cap.status_code < 500, huge_cap.text
    nowhere = httpx.get(f"{served.url}/v1/nothing-here")
    assert nowhere.status_code == 404 and error(nowhere)
    assert not [r for r in fault.requests if r["method"] == "POST"]  # none of these reached the upstream
    assert "Traceback" not in served.log.read_text()


def test_budget_refusal_is_429_budget_exceeded_and_quota_differs_from_rate_limit(
    served: Served, fault: FaultServer
) -> None:
    key = served.new_key(name="tiny", budget_request="0.0000001")
    refused = post(served, "/v1/responses", key, {"model": "gpt-4o-mini", "input": "hi"})
    assert refused.status_code == 429 and error(refused)["code"] == "budget_exceeded"
    assert error(refused)["type"] == "budget_exceeded" and "not sent" in error(refused)["message"]
    free = served.new_key(name="free")
    fault.script("quota")
    quota = post(served, "/v1/responses", free, {"model": "gpt-4o-mini", "input": "hi"})
    assert quota.status_code == 429 and error(quota)["code"] == "insufficient_quota"
    fault.script(*[{"action": "429", "retry_after": 0}] * 3)
    limited = post(served, "/v1/responses", free, {"model": "gpt-4o-mini", "input": "hi"})
    assert limited.status_code == 429 and error(limited)["code"] == "rate_limit_exceeded"
    fault.script("500", "500", "500")
    upstream = post(served, "/v1/responses", free, {"model": "gpt-4o-mini", "input": "hi"})
    assert upstream.status_code == 502 and error(upstream)["type"] == "upstream_error"
    metrics = httpx.get(f"{served.url}/metrics").text
    assert "unyo_gateway_budget_refusals_total 1.0" in metrics
    assert 'unyo_gateway_upstream_errors_total{class="QuotaExhausted"} 1.0' in metrics
    assert 'unyo_gateway_upstream_errors_total{class="ServerError"} 1.0' in metrics


def same_minute() -> None:
    """The key limits count per calendar minute: do not start a test that could straddle one."""
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)


def test_key_rpm_is_enforced(served: Served) -> None:
    key = served.new_key(name="slow", rpm=2)
    same_minute()
    body = {"model": "gpt-4o-mini", "input": "hi"}
    codes = [post(served, "/v1/responses", key, body).status_code for _ in range(3)]
    assert codes[:2] == [200, 200] and codes[2] == 429
    third = post(served, "/v1/responses", key, body)
    assert error(third)["code"] == "rate_limit_exceeded" and int(third.headers["retry-after"]) >= 1


def test_health_ready_metrics_and_models(served: Served) -> None:
    assert httpx.get(f"{served.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{served.url}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    key = served.new_key(name="m", models="main,bulk")
    models = httpx.get(f"{served.url}/v1/models", headers={"authorization": f"Bearer {key}"})
    assert [m["id"] for m in models.json()["data"]] == ["main", "bulk"]
    post(served, "/v1/responses", key, {"model": "main", "input": "hi"})
    text = httpx.get(f"{served.url}/metrics").text
    assert 'unyo_gateway_requests_total{route="/v1/responses",status="200"} 1.0' in text
    assert 'unyo_gateway_request_seconds_bucket{le="+Inf",route="/v1/responses"} 1.0' in text
    assert 'unyo_gateway_tokens_total{kind="output"}' in text and "unyo_gateway_cost_usd_total" in text


def test_admin_api_needs_the_admin_token(served: Served) -> None:
    anon = httpx.get(f"{served.url}/admin/keys")
    wrong = httpx.get(f"{served.url}/admin/keys", headers={"authorization": "Bearer nope"})
    assert anon.status_code == wrong.status_code == 401
    served.new_key(name="listed")
    listed = served.admin("GET", "/admin/keys").json()["data"]
    assert [k["name"] for k in listed] == ["listed"] and "key" not in listed[0] and ADMIN not in json.dumps(listed)
    rotated = served.admin("POST", "/admin/keys/listed/rotate").json()
    ok = post(served, "/v1/responses", rotated["key"], {"model": "gpt-4o-mini", "input": "hi"})
    assert ok.status_code == 200
    bad = served.admin("POST", "/admin/keys", json={"name": "x", "budget_monthly": "lots"})
    assert bad.status_code == 400 and error(bad)
    assert served.admin("GET", "/admin/keys/nope").status_code == 404


def test_key_tpm_and_user_are_applied(served: Served) -> None:
    key = served.new_key(name="wordy", tpm=30, user="alice", tag="ops")
    same_minute()
    body = {"model": "gpt-4o-mini", "input": "hi"}
    first = post(served, "/v1/responses", key, body)
    assert first.status_code == 200 and first.json()["usage"]["total_tokens"] < 30
    codes = [post(served, "/v1/responses", key, body).status_code for _ in range(4)]
    assert 429 in codes and codes[0] == 200  # the minute's tokens ran out after a few calls
    refused = post(served, "/v1/responses", key, body)
    assert error(refused)["code"] == "rate_limit_exceeded" and "tokens per minute" in error(refused)["message"]
    rows = [r for r in ledger(served) if r["api"] == "responses"]
    assert rows and {r["user_id"] for r in rows} == {"alice"} and {r["tag"] for r in rows} == {"ops"}


def test_an_upstream_stream_that_breaks_ends_with_an_error_event(served: Served, fault: FaultServer) -> None:
    key = served.new_key(name="cut")
    fault.script({"action": "cut", "after": 2})
    chat = post(
        served,
        "/v1/chat/completions",
        key,
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": True},
    )
    data = _sse(chat)
    assert chat.status_code == 200 and "[DONE]" not in data  # a cut stream is not a finished one
    last = json.loads(data[-1])
    assert last["error"]["type"] == "upstream_error" and "interrupted" in last["error"]["message"]
    fault.script({"action": "cut", "after": 2})
    resp = post(served, "/v1/responses", key, {"model": "gpt-4o-mini", "input": "x", "stream": True})
    events = [line[7:] for line in resp.text.splitlines() if line.startswith("event: ")]
    assert events[-1] == "error" and "response.completed" not in events
    statuses = [r["status"] for r in ledger(served) if r["api"] in ("chat", "responses")]
    assert statuses == ["interrupted", "interrupted"]
