"""Hostile data through the CLI, run as a user runs it: user ids, tags, tool arguments and stored
conversation turns that look like rich markup or terminal escape sequences; a closed pipe; files
at a planted symlink; `logs prune --days 0` against the current budgets."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from unyo.testing import FaultServer

from .conftest import ENV_PREFIXES, FAKE_KEY, run_cli

MARKUP_USER = "[/]"
MARKUP_TAG = "[link=http://evil]x[/link]"
OSC_LINK = "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\"
CLEAR = "\x1b[2J"
TITLE = "\x1b]0;pwned\x07"


def env_for(fault: FaultServer, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url, "UNYO_MODEL": "gpt-4o-mini", **extra}


def ask(fault: FaultServer, *args: str, **env: str) -> None:
    result = run_cli(
        "ask", "--json", "--no-stream", "--max-output-tokens", "30", *args, "hello", env=env_for(fault, **env)
    )
    assert result.returncode == 0, result.stderr


def db() -> sqlite3.Connection:
    return sqlite3.connect(Path(os.environ["UNYO_HOME"]) / "unyo.db")


def assert_safe(result: subprocess.CompletedProcess[str], *literals: str) -> None:
    assert result.returncode == 0, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert "\x1b" not in result.stdout and "\x1b" not in result.stderr
    assert "\x9b" not in result.stdout and "\x07" not in result.stdout
    for literal in literals:
        assert literal in result.stdout, (literal, result.stdout)


# --- 1. markup and escape sequences ---------------------------------------------------------------


def test_markup_user_and_tag_are_shown_as_text_by_logs_usage_and_budget(fault: FaultServer) -> None:
    budgets = {"UNYO_BUDGET_DAILY_USD": "1", "UNYO_BUDGET_USER_DAILY_USD": "1"}
    ask(fault, "--user", MARKUP_USER, "--tag", MARKUP_TAG, **budgets)
    ask(fault, "--user", f"{CLEAR}eve{TITLE}", "--tag", f"t{OSC_LINK}", **budgets)
    assert_safe(run_cli("logs", env=env_for(fault)), MARKUP_USER, MARKUP_TAG, "eve", "tclick")
    assert_safe(run_cli("usage", env=env_for(fault, **budgets)), MARKUP_USER, MARKUP_TAG, "eve", "tclick")
    assert_safe(
        run_cli("usage", "--by", "user", env=env_for(fault, **budgets)), f"user:{MARKUP_USER}"
    )  # the plain budget lines
    assert_safe(run_cli("budget", env=env_for(fault, **budgets)), f"user:{MARKUP_USER}", "user:eve")
    # machine output keeps the stored value exactly
    users = {json.loads(line)["user_id"] for line in run_cli("logs", "--json", env=env_for(fault)).stdout.splitlines()}
    assert users == {MARKUP_USER, f"{CLEAR}eve{TITLE}"}


def test_logs_tools_shows_model_written_arguments_as_text(fault: FaultServer) -> None:
    from unyo._records._audit import record_tool_calls
    from unyo._records._store import open_store

    ask(fault)  # creates the database
    store = open_store(f"sqlite:///{Path(os.environ['UNYO_HOME']) / 'unyo.db'}")
    record_tool_calls(
        store,
        [
            {
                "id": "t1",
                "call_id": "c1",
                "ts": time.time(),
                "user_id": MARKUP_USER,
                "tag": None,
                "name": "[bold]lookup",
                "arguments": f'{{"q": "{MARKUP_TAG} {OSC_LINK}{CLEAR}"}}',
                "outcome": "ok",
                "error": None,
                "duration_s": 0.01,
                "result_chars": 3,
            }
        ],
        "full",
    )
    assert_safe(run_cli("logs", "--tools", env=env_for(fault)), MARKUP_USER, "[bold]lookup", MARKUP_TAG, "click")


def test_stored_conversation_turns_never_print_escape_sequences(fault: FaultServer) -> None:
    fault.script({"action": "ok", "text": f"see {OSC_LINK} now {CLEAR} done {TITLE}"})
    chat = run_cli(
        "chat", "--user", MARKUP_USER, "--conversation", "[red]c1", input=f"hi {CLEAR}there\nexit\n", env=env_for(fault)
    )
    assert_safe(chat, "see click now")  # the live reply
    turns = json.loads(
        run_cli("conversations", "show", "[red]c1", "--user", MARKUP_USER, "--json", env=env_for(fault)).stdout
    )["turns"]
    assert OSC_LINK in turns[1]["content"]  # stored as received: the attack is in the database
    assert_safe(
        run_cli("conversations", "show", "[red]c1", "--user", MARKUP_USER, env=env_for(fault)),
        "hi there",
        "see click now",
        MARKUP_USER,
    )
    assert_safe(run_cli("conversations", "list", env=env_for(fault)), "[red]c1", MARKUP_USER)


# --- 2. a closed pipe ------------------------------------------------------------------------------


def _many_records(n: int) -> None:
    with db() as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(unyo_calls)")]
        row = dict(zip(columns, conn.execute("SELECT * FROM unyo_calls").fetchone(), strict=True))
        for i in range(n):
            row["id"] = f"copy-{i}"
            conn.execute(
                f"INSERT INTO unyo_calls ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                [row[c] for c in columns],
            )


def _head(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """`unyo ARGS | head -1`: read one line, close the pipe, let unyo notice."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    full_env.update({"UNYO_HOME": os.environ["UNYO_HOME"], "UNYO_LANG": "en", **env})
    proc = subprocess.Popen(
        [sys.executable, "-m", "unyo", *args], env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    return proc.wait(timeout=60), stderr


def test_logs_into_a_closed_pipe_exits_quietly(fault: FaultServer) -> None:
    ask(fault)
    _many_records(1500)  # far more than a pipe buffer holds, so unyo is still writing when the reader leaves
    code, stderr = _head("logs", "--json", "-n", "5000", env=env_for(fault))
    assert "internal error" not in stderr and "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert code == 141, (code, stderr)  # 128 + SIGPIPE, what the shell shows for a tool the signal stopped
    # the table is one large write, which the kernel may take whole before the reader leaves: quiet either way
    code, stderr = _head("logs", "-n", "5000", env=env_for(fault))
    assert "internal error" not in stderr and "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert code in (0, 141), (code, stderr)


# --- 3. files written 0600, atomically, never through a symlink -------------------------------------


def test_usage_html_and_logs_export_are_private_and_replace_a_planted_symlink(
    fault: FaultServer, tmp_path: Path
) -> None:
    ask(fault, "--user", "alice")
    for command in (("usage", "--html"), ("logs", "export")):
        existing = tmp_path / f"{command[0]}-existing"
        existing.write_text("old")
        existing.chmod(0o644)
        result = run_cli(*command, str(existing), env=env_for(fault))
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(existing.stat().st_mode) == 0o600 and "alice" in existing.read_text()

        victim = tmp_path / f"{command[0]}-victim"
        victim.write_text("precious")
        victim.chmod(0o644)
        link = tmp_path / f"{command[0]}-link"
        link.symlink_to(victim)
        result = run_cli(*command, str(link), env=env_for(fault))
        assert result.returncode == 0, result.stderr
        assert not link.is_symlink() and stat.S_IMODE(link.lstat().st_mode) == 0o600 and "alice" in link.read_text()
        assert victim.read_text() == "precious" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []  # no temporary file left behind


# --- 4. logs prune against the current budgets ------------------------------------------------------


def _old_records() -> list[str]:
    """Two audit rows from before this month (40 and 100 days before it began)."""
    month_start = datetime.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    ids = []
    with db() as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(unyo_calls)")]
        row = dict(zip(columns, conn.execute("SELECT * FROM unyo_calls").fetchone(), strict=True))
        for days in (40, 100):
            ts = month_start - days * 86400
            when = datetime.fromtimestamp(ts)
            row.update(id=f"old-{days}", ts=ts, day=f"{when:%Y-%m-%d}", month=f"{when:%Y-%m}")
            conn.execute(
                f"INSERT INTO unyo_calls ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                [row[c] for c in columns],
            )
            ids.append(row["id"])
    return ids


def _ids() -> set[str]:
    with db() as conn:
        return {r[0] for r in conn.execute("SELECT id FROM unyo_calls")}


def test_prune_days_0_asks_first_and_keeps_what_the_current_budgets_count(fault: FaultServer) -> None:
    budgets = {"UNYO_BUDGET_DAILY_USD": "1", "UNYO_BUDGET_MONTHLY_USD": "20"}
    for user in ("alice", "bob", "carol"):
        ask(fault, "--user", user, **budgets)
    today = _ids()
    old = _old_records()
    assert _ids() == today | set(old)

    refused = run_cli(
        "logs", "prune", "--days", "0", input="", env=env_for(fault, **budgets)
    )  # stdin is a pipe, not a terminal
    assert refused.returncode == 2 and "--yes" in refused.stderr and "nothing was deleted" in refused.stderr
    assert _ids() == today | set(old)

    pruned = run_cli("logs", "prune", "--days", "0", "--yes", env=env_for(fault, **budgets))
    assert pruned.returncode == 0, pruned.stderr
    assert "removed 2 " in pruned.stdout
    assert _ids() == today  # today's (this month's) rows kept, the older ones gone
    kept = [json.loads(line) for line in run_cli("logs", "--json", env=env_for(fault)).stdout.splitlines()]
    assert len(kept) == 3 and all(
        r["prompt"] is None and r["output"] is None for r in kept
    )  # retention still clears their text

    usage = json.loads(run_cli("usage", "--json", env=env_for(fault, **budgets)).stdout)
    budget = json.loads(run_cli("budget", "--json", env=env_for(fault, **budgets)).stdout)
    spent = {b["period"]: Decimal(b["spent"]) for b in budget["limits"] if b["period"] != "request"}
    day_key, month_key = datetime.now().strftime("%Y-%m-%d"), datetime.now().strftime("%Y-%m")
    assert spent[day_key] > 0 and spent[month_key] == spent[day_key]
    days = {r["key"]: Decimal(r["cost_usd"]) for r in usage["groups"]["day"]}
    assert days == {day_key: spent[day_key]}
    assert Decimal(usage["total"]["cost_usd"]) == spent[month_key] and usage["total"]["calls"] == 3


def test_prune_on_a_terminal_asks_and_a_no_deletes_nothing(fault: FaultServer) -> None:
    import pty

    ask(fault)
    old = _old_records()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    full_env.update({"UNYO_HOME": os.environ["UNYO_HOME"], "UNYO_LANG": "en", **env_for(fault)})
    for answer, left in (("n\n", 3), ("y\n", 1)):
        master, slave = pty.openpty()
        try:
            os.write(master, answer.encode())
            result = subprocess.run(
                [sys.executable, "-m", "unyo", "logs", "prune", "--days", "0"],
                stdin=slave,
                capture_output=True,
                text=True,
                env=full_env,
                timeout=60,
            )
        finally:
            os.close(slave)
            os.close(master)
        assert result.returncode == 0, result.stderr
        assert "Proceed? [y/N]" in result.stdout and "Delete 2 audit records" in result.stdout
        assert len(_ids()) == left
    assert not set(old) & _ids()


def test_a_model_reply_cannot_drive_the_terminal(fault: FaultServer) -> None:
    import pexpect

    reply = f"hi {TITLE}{OSC_LINK}{CLEAR}there"
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(env_for(fault), UNYO_HOME=os.environ["UNYO_HOME"], UNYO_LANG="en")
    fault.script({"action": "ok", "text": reply})
    child = pexpect.spawn(
        sys.executable, ["-m", "unyo", "ask", "--no-stream", "hello"], env=env, encoding="utf-8", timeout=60
    )
    child.expect(pexpect.EOF)
    shown = child.before
    assert (
        "hi" in shown and "there" in shown and "\x1b]" not in shown and "\x1b[2J" not in shown and "\x07" not in shown
    )
    fault.script({"action": "ok", "text": reply})
    piped = run_cli("ask", "--no-stream", "hello", env=env_for(fault))  # redirected output keeps the exact text
    assert piped.stdout.rstrip("\n") == reply
    fault.script({"action": "ok", "text": reply})
    models = run_cli("models", env=env_for(fault))
    assert models.returncode == 0 and "\x1b" not in models.stdout


def test_json_output_escapes_c1_controls_and_bidi_overrides(fault: FaultServer) -> None:
    user = "u\x9b2J\u202eevil"
    ask(fault, "--user", user)
    out = run_cli("logs", "--json", env=env_for(fault)).stdout
    assert "\x9b" not in out and "\u202e" not in out and "\\u009b" in out
    assert json.loads(out.splitlines()[0])["user_id"] == user  # the same value, escaped
