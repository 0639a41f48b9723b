"""`unyo chat` in a real pseudo-terminal: Ctrl-C stops the reply, keeps the session; Ctrl-C at
the prompt quits."""

from __future__ import annotations

import os
import sys

import pexpect

from unyo.testing import FaultServer

from .conftest import ENV_PREFIXES, FAKE_KEY

LONG = " ".join(f"word{i}" for i in range(300))


def _spawn(fault: FaultServer) -> pexpect.spawn:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(
        {
            "OPENAI_API_KEY": FAKE_KEY,
            "OPENAI_BASE_URL": fault.url,
            "UNYO_MODEL": "gpt-4o-mini",
            "UNYO_HOME": os.environ["UNYO_HOME"],
        }
    )
    return pexpect.spawn(sys.executable, ["-m", "unyo", "chat"], env=env, encoding="utf-8", timeout=20)


def test_ctrl_c_stops_the_reply_and_returns_to_the_prompt(fault: FaultServer) -> None:
    fault.script({"action": "ok", "delay": 0.03, "text": LONG}, "ok")
    child = _spawn(fault)
    child.expect("you> ")
    child.sendline("tell me everything")
    child.expect("word5 ")  # the reply is streaming
    child.sendintr()  # Ctrl-C
    child.expect(r"\[cancelled\]")
    child.expect("cancelled")  # the status line marks the call cancelled
    child.expect("you> ")  # and the session goes on
    child.sendline("again")
    child.expect("Hello from the fault server")
    child.expect("completed")
    child.expect("you> ")
    child.sendintr()  # Ctrl-C at the prompt quits
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    # the second request carried the partial first reply in its history
    history = fault.requests[-1]["body"]["input"]
    assert [m["role"] for m in history] == ["user", "assistant", "user"]
    assert history[1]["content"].startswith("word0 word1") and len(history[1]["content"]) < len(LONG)
    assert fault.disconnects and fault.disconnects[0]["deltas_sent"] < 300  # upstream stopped


def test_exit_quits(fault: FaultServer) -> None:
    child = _spawn(fault)
    child.expect("you> ")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
