"""The web console (/ui) in real headless Chromium through Playwright, against a real `unyo serve`
whose upstream is the fault server: sign-in, a streamed answer with its cost, Stop mid-answer (the
upstream records the disconnect), the dashboard's charts, approving and editing review items, and
what a hostile user tries (another user's ids, CSRF, XSS through model output and review text).
Each test saves screenshots under its tmp_path."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.gateway_helpers import Served, gateway_env
from unyo.testing import FaultServer

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("UNYO_REQUIRE_CHROMIUM"), reason="chromium is installed by .ci/run"
)
XSS = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'


@pytest.fixture
def served(fault: FaultServer, db_url: str) -> Iterator[Served]:
    """A real `unyo serve` on each store: SQLite, and the real PostgreSQL (a fresh schema)."""
    db = db_url
    tmp_path = Path(os.environ["UNYO_HOME"]).parent
    env = gateway_env(fault.url, db, UNYO_CONSOLE_ADMINS="boss")
    server = Served(env, tmp_path / "serve.log")
    server.db = db  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def sign_in(browser: Any, served: Served, key: str) -> Any:
    page = browser.new_context(locale="en-US").new_page()
    page.on("dialog", lambda d: (_ for _ in ()).throw(AssertionError(f"a script ran: {d.message}")))
    page.goto(f"{served.url}/ui/")
    assert page.url.endswith("/ui/login")
    page.fill("#key", key)
    page.click("#sign-in")
    page.wait_for_url(f"{served.url}/ui/")
    return page


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def test_sign_in_stream_an_answer_with_its_cost_and_stop_mid_answer(
    served: Served, fault: FaultServer, browser: Any, tmp_path: Path
) -> None:
    key = served.new_key(name="alice", models=["main"])
    page = browser.new_context().new_page()
    page.goto(f"{served.url}/ui/login")
    page.fill("#key", "uk-not-a-real-key")
    page.click("#sign-in")
    assert page.locator("#error").is_visible()
    page.screenshot(path=str(tmp_path / "login-refused.png"))
    page = sign_in(browser, served, key)
    cookie = next(c for c in page.context.cookies() if c["name"] == "unyo_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and key not in cookie["value"]
    assert page.locator("#role option").all_inner_texts() == ["main"]  # only what the key allows
    fault.script({"action": "ok", "delay": 0.02, "text": "請求書 は 二重 です " + XSS})
    page.fill("#message", "請求書が二重です")
    page.click("#send")
    expect(page.locator("#meta")).to_contain_text("tokens", timeout=20000)
    answer = page.locator(".turn.assistant").last
    assert "請求書 は 二重 です" in answer.inner_text() and XSS.split(">")[0] in answer.inner_text()
    assert page.evaluate("window.pwned") is None and page.locator("#turns img, #turns script").count() == 0
    assert "$" in page.inner_text("#meta")
    page.screenshot(path=str(tmp_path / "chat-answer.png"))
    # Stop mid-answer: the request is aborted, the gateway cancels upstream, the fault server sees it
    fault.script({"action": "ok", "delay": 0.15, "text": " ".join(f"w{i}" for i in range(80))})
    page.fill("#message", "long answer please")
    page.click("#send")
    expect(page.locator(".turn.assistant").nth(1)).to_contain_text("w3", timeout=20000)
    page.click("#stop")
    deadline = time.monotonic() + 10
    while not fault.disconnects and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fault.disconnects and fault.disconnects[0]["deltas_sent"] < 80
    page.locator("#meta[data-status='cancelled']").wait_for(state="attached", timeout=20000)
    page.screenshot(path=str(tmp_path / "chat-stopped.png"))
    response_id = page.evaluate("window.lastAnswerId")
    # the conversation is kept, and only for its owner
    conversation = page.evaluate("document.getElementById('turns').dataset.conversation")
    page.goto(f"{served.url}/ui/?c={conversation}")
    assert page.locator(".turn").count() == 4
    mallory = sign_in(browser, served, served.new_key(name="mallory"))
    assert mallory.goto(f"{served.url}/ui/?c={conversation}").status == 404
    assert "請求書" not in mallory.content()
    mallory.goto(f"{served.url}/ui/")
    jar = {c["name"]: c["value"] for c in mallory.context.cookies() if c["name"] == "unyo_session"}
    csrf = mallory.locator("meta[name=csrf]").get_attribute("content") or ""
    steal = {"role": "main", "message": "continue", "conversation": conversation}
    hijack = httpx.post(f"{served.url}/ui/chat", json=steal, cookies=jar, headers={"x-csrf-token": csrf})
    assert hijack.status_code == 404  # another user's conversation cannot be continued (or read)
    assert response_id and httpx.get(f"{served.url}/ui/answer/{response_id}", cookies=jar).status_code == 404
    page.goto(f"{served.url}/ui/")
    alice = {c["name"]: c["value"] for c in page.context.cookies() if c["name"] == "unyo_session"}
    token = page.locator("meta[name=csrf]").get_attribute("content") or ""
    wrong_role = httpx.post(f"{served.url}/ui/chat", json={"role": "bulk", "message": "x"}, cookies=alice,
                            headers={"x-csrf-token": token})  # fmt: skip
    assert wrong_role.status_code == 403  # a role outside the key's scope, even when posted by hand


def test_dashboard_charts_render_in_english_and_japanese(
    served: Served, fault: FaultServer, browser: Any, tmp_path: Path
) -> None:
    key = served.new_key(name="bob", budget_monthly="5", budget_daily="0.01")
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(3):
        r = httpx.post(f"{served.url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
    page = sign_in(browser, served, key)
    page.goto(f"{served.url}/ui/usage")
    assert page.inner_text("#calls") == "3"
    assert page.locator("#chart-day line.budget").count() == 1  # spend against the daily budget
    assert float(page.inner_text("#spent").lstrip("$")) > 0
    for name in ("day", "model", "key", "user", "tag"):
        box = page.locator(f"#chart-{name}").bounding_box()
        assert box and box["width"] > 100 and page.locator(f"#chart-{name} rect").count() >= 1
    assert float(page.locator("#chart-day rect").first.get_attribute("height") or 0) > 0
    page.screenshot(path=str(tmp_path / "usage-en.png"), full_page=True)
    page.goto(f"{served.url}/ui/usage?lang=ja")
    assert "日別の費用" in page.content()
    page.screenshot(path=str(tmp_path / "usage-ja.png"), full_page=True)


def test_review_items_are_approved_and_edited_in_the_browser_and_only_by_their_owner(
    served: Served, browser: Any, tmp_path: Path
) -> None:
    from unyo._records._review import ReviewQueue
    from unyo._records._store import open_store

    key = served.new_key(name="carol", user="carol")
    q = ReviewQueue(open_store(served.db))  # type: ignore[attr-defined]
    first = q.add("t", "1", "triage", "弁護士に相談 " + XSS, {"summary": "a", "needs_human": True}, "flagged", "carol")
    second = q.add("t", "2", "draft", "facts", {"body": "絶対儲かる"}, "forbidden claim", "carol")
    other = q.add("t", "3", "draft", "secret facts", {"body": "x"}, "flagged", "dave")
    page = sign_in(browser, served, key)
    page.goto(f"{served.url}/ui/review")
    assert page.locator("#items tr").count() == 3  # header + carol's two, never dave's
    page.screenshot(path=str(tmp_path / "review-list.png"))
    page.goto(f"{served.url}/ui/review/{first}")
    assert page.evaluate("window.pwned") is None and page.locator("#input img").count() == 0
    page.click("#approve")
    page.wait_for_url(f"{served.url}/ui/review/{first}")
    assert page.inner_text("#status") == "approved"
    page.screenshot(path=str(tmp_path / "review-approved.png"))
    page.goto(f"{served.url}/ui/review/{second}")
    page.fill("#output", '{"body": "ご検討ください"}')
    page.click("#edit")
    assert page.inner_text("#status") == "approved"
    assert q.get(second).edited == {"body": "ご検討ください"} and q.get(second).decided_by == "carol (console)"
    assert [h["action"] for h in q.history(second)] == ["queued", "edit"]
    assert "carol (console): edit" in page.inner_text("#history") and " UTC · " in page.inner_text("#history")
    page.screenshot(path=str(tmp_path / "review-edited.png"))
    # another user's item: 404 on the page and on the form, like a wrong id
    csrf = page.locator("meta[name=csrf]").get_attribute("content")
    assert page.goto(f"{served.url}/ui/review/{other}").status == 404
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    jar = {"unyo_session": cookies["unyo_session"]}
    hostile = httpx.post(f"{served.url}/ui/review/{other}", data={"action": "approve", "csrf": csrf}, cookies=jar)
    assert hostile.status_code == 404 and q.get(other).status == "pending"
    # a forged form without the session's CSRF token is refused
    forged = httpx.post(f"{served.url}/ui/review/{other}", data={"action": "approve"}, cookies=jar)
    assert forged.status_code == 403
    chat = httpx.post(f"{served.url}/ui/chat", json={"role": "main", "message": "x"}, cookies=jar)
    assert chat.status_code == 403
    assert page.goto(f"{served.url}/ui/admin").status == 404  # carol is not an admin


def test_admin_sees_every_key_the_masked_audit_and_everyones_queue(
    served: Served, fault: FaultServer, browser: Any, tmp_path: Path
) -> None:
    from unyo._records._review import ReviewQueue
    from unyo._records._store import open_store

    user_key = served.new_key(name="erin")
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "mail me at taro@example.com"}]}
    assert httpx.post(f"{served.url}/v1/chat/completions", json=body,
                      headers={"authorization": f"Bearer {user_key}"}).status_code == 200  # fmt: skip
    ReviewQueue(open_store(served.db)).add("t", "9", "triage", "x", {}, "flagged", "key:erin")  # type: ignore[attr-defined]
    page = sign_in(browser, served, served.new_key(name="boss"))
    page.goto(f"{served.url}/ui/admin")
    keys = page.inner_text("#keys")
    assert "erin" in keys and "boss" in keys and user_key not in page.content()
    assert "taro@example.com" not in page.content() and "mail me at [EMAIL]" in page.inner_text("#audit")
    assert "built-in method" not in page.content() and page.locator("h2").first.inner_text() == "Keys"
    page.screenshot(path=str(tmp_path / "admin.png"), full_page=True)
    page.goto(f"{served.url}/ui/review")
    assert page.locator("#items tr").count() == 2
