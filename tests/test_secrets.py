"""Plant a key, drive every failure path with debug logging on, find the key nowhere."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest

import unyo
from unyo.testing import FaultServer

from .conftest import FAKE_KEY, fast_settings, run_cli

ACTIONS = [
    "401",
    "403",
    "404",
    "400",
    "408",
    "409",
    "422",
    "429",
    "quota",
    "context",
    "500",
    "503",
    "reset",
    "malformed",
    "hang",
]


def test_key_never_leaks_from_the_library(
    fault: FaultServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], clean_env: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)
    client = unyo.OpenAI(settings=fast_settings(fault, max_attempts=2, read_timeout_s=0.2, deadline_s=1))
    seen: list[str] = []
    for action in ACTIONS:
        fault.reset()
        fault.script(action, action)
        try:
            client.responses.create(input=f"please echo {FAKE_KEY}")  # a key pasted into a prompt
        except unyo.UnyoError as exc:
            seen += [str(exc), repr(exc), exc.hint(), "".join(traceback.format_exception(exc))]
    fault.reset()
    fault.script({"action": "cut", "after": 1})
    try:
        list(client.chat.completions.create(messages=[{"role": "user", "content": "x"}], stream=True))
    except unyo.StreamInterrupted as exc:
        seen += [str(exc), repr(exc), exc.partial_text, "".join(traceback.format_exception(exc))]
    out = capsys.readouterr()
    seen += [out.out, out.err, caplog.text, repr(client), repr(client.settings)]
    seen += [rec.getMessage() for rec in caplog.records]
    assert any("Incorrect API key" in s for s in seen)  # the 401 body was seen, redacted
    assert any("HTTP Request" in s or "Request options" in s or "Sending HTTP" in s for s in seen)  # debug logs were on
    for text in seen:
        assert FAKE_KEY not in text
    home = Path(clean_env.parent / "unyo-home")
    for path in home.rglob("*") if home.exists() else []:
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes()


def test_key_never_leaks_from_the_cli(fault: FaultServer, clean_env: Path) -> None:
    env = {
        "OPENAI_API_KEY": FAKE_KEY,
        "OPENAI_BASE_URL": fault.url,
        "UNYO_BACKOFF_BASE_S": "0.01",
        "UNYO_MAX_ATTEMPTS": "2",
        "UNYO_READ_TIMEOUT_S": "0.3",
        "UNYO_DEADLINE_S": "2",
        "UNYO_MODEL": "gpt-4o-mini",
        "OPENAI_LOG": "debug",
    }
    outputs = []
    for action in ["401", "quota", "500", "reset", "hang"]:
        fault.reset()
        fault.script(action, action)
        result = run_cli("ask", "--no-stream", "hello", env=env)
        assert result.returncode != 0
        outputs += [result.stdout, result.stderr]
    fault.reset()
    fault.script("401")
    outputs += [run_cli("ask", "--json", "hello", env=env).stderr, run_cli("doctor", env=env).stdout]
    assert any("Incorrect API key provided: [REDACTED]" in o for o in outputs)
    for text in outputs:
        assert FAKE_KEY not in text


def test_url_credentials_and_secret_query_values_are_redacted() -> None:
    from unyo._types._redact import redact

    text = "GET https://alice:s3cret-pw@docs.example/p?api_key=abcd1234&page=2&Access_Token=zzzzzzzz#top"
    out = redact(text)
    assert "s3cret-pw" not in out and "abcd1234" not in out and "zzzzzzzz" not in out
    assert "docs.example/p?api_key=" in out and "&page=2" in out and "#top" in out  # the rest stays readable
    plain = "see https://example.com/a?q=rate+limits and git@github.com:org/repo and http://[::1]:80/"
    assert redact(plain) == plain
