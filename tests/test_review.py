"""The review queue: `unyo run --review` holds outputs out of the result file until a person
approves them; `unyo review list|show|approve|edit|reject|export`, every action audited; on SQLite
and the real PostgreSQL."""

from __future__ import annotations

import csv
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from unyo._records._review import ReviewError, ReviewQueue

from .conftest import run_cli
from .test_batch import env_for, read_csv, write_csv


def test_batch_review_flagged_holds_only_flagged_rows_until_approved(fault: Any, clean_env: Path) -> None:
    write_csv(
        clean_env / "in.csv", ["請求書が二重です", "弁護士に相談しています", "弁護士から連絡します", "弁護士です"]
    )
    env = env_for(fault)
    command = ("run", "triage", "--input", "in.csv", "--output", "out.csv", "--review", "flagged")
    result = run_cli(*command, env=env)
    assert result.returncode == 0, result.stderr
    rows = read_csv(clean_env / "out.csv")
    assert [r["unyo_status"] for r in rows] == ["ok", "in_review", "in_review", "in_review"]
    assert rows[1]["category"] == "" and rows[1]["summary"] == ""  # nothing flagged leaves
    listed = run_cli("review", "list", "--json", env=env)
    items = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [i["row_key"] for i in items] == ["2", "3", "4"] and "弁護士" in items[0]["reason"]
    # resuming does not queue them twice, and they stay out of the file
    again = run_cli(*command, env=env)
    assert again.returncode == 0, again.stderr
    assert len(run_cli("review", "list", "--json", env=env).stdout.splitlines()) == 3
    approved = run_cli("review", "approve", items[0]["id"], "--as", "sato", "--note", "ok", env=env)
    assert approved.returncode == 0, approved.stderr
    fixed = '{"category": "legal", "urgency": 3, "summary": "法務へ"}'
    edited = run_cli("review", "edit", items[1]["id"], "--output", fixed, "--as", "sato", env=env)
    assert edited.returncode == 0, edited.stderr
    assert run_cli("review", "reject", items[2]["id"], "--note", "spam", env=env).returncode == 0
    run_cli(*command, env=env)
    rows = read_csv(clean_env / "out.csv")
    assert [r["unyo_status"] for r in rows] == ["ok", "ok", "ok", "rejected"] and rows[1]["category"]
    assert rows[3]["summary"] == ""  # a rejected output never leaves
    assert rows[2]["summary"] == "法務へ"  # the reviewer's edit is what leaves
    shown = json.loads(run_cli("review", "show", items[0]["id"], "--json", env=env).stdout)
    assert [(h["actor"], h["action"]) for h in shown["history"]] == [("unyo", "queued"), ("sato", "approve")]
    assert shown["decided_by"] == "sato" and shown["decided_at"]


def test_run_review_all_holds_a_single_output_and_edit_then_export(fault: Any, clean_env: Path) -> None:
    env = env_for(fault)
    result = run_cli("run", "triage", "請求書が二重です", "--review", env=env)
    assert result.returncode == 0, result.stderr
    held = json.loads(result.stdout)
    assert held["status"] == "pending" and "summary" not in result.stdout
    edit = run_cli("review", "edit", held["review_id"], "--output", '{"category": "billing", "summary": "直した"}',
                   "--as", "tanaka", env=env)  # fmt: skip
    assert edit.returncode == 0, edit.stderr
    bad = run_cli("review", "reject", held["review_id"], env=env)
    assert bad.returncode != 0 and "already approved" in bad.stderr
    out = clean_env / "approved.jsonl"
    assert run_cli("review", "export", "--out", str(out), env=env).returncode == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert records[0]["summary"] == "直した" and records[0]["edited"] and records[0]["approved_by"] == "tanaka"
    assert out.stat().st_mode & 0o777 == 0o600
    again = clean_env / "again.csv"
    run_cli("review", "export", "--out", str(again), env=env)
    assert len(list(csv.DictReader(again.open(encoding="utf-8")))) == 0  # exported once


def test_cli_review_bad_input_is_a_clear_error(clean_env: Path) -> None:
    missing = run_cli("review", "approve", "nope")
    assert missing.returncode != 0 and "no review item 'nope'" in missing.stderr
    bad = run_cli("review", "export")
    assert bad.returncode != 0 and "--out" in bad.stderr


class _Hook(BaseHTTPRequestHandler):
    got: list[Any] = []

    def do_POST(self) -> None:  # noqa: N802
        _Hook.got.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_queue_only_approved_leave_and_owner_isolation(db_url: str) -> None:
    from unyo._records._store import open_store

    q = ReviewQueue(open_store(db_url))
    a = q.add("s", "1", "draft", "facts", {"body": "絶対儲かる", "needs_human": True}, "flagged", "alice")
    b = q.add("s", "2", "draft", "facts", {"body": "ok"}, "review all", "bob")
    assert q.add("s", "1", "draft", "facts", {}, "flagged", "alice") == a  # idempotent
    assert [i.id for i in q.list(owner="alice")] == [a]
    with pytest.raises(ReviewError, match="no review item"):
        q.get(b, owner="alice")  # another user's item is the same 'no item' as a wrong id
    with pytest.raises(ReviewError, match="no review item"):
        q.decide(b, "approve", "alice", owner="alice")
    q.decide(a, "reject", "carol")
    q.decide(b, "approve", "carol")
    assert [i.id for i in q.export()] == [b]
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        from unyo._cli._review import post_webhook
        from unyo._records._review import export_record

        _Hook.got.clear()
        post_webhook(f"http://127.0.0.1:{server.server_port}/hook", [export_record(i) for i in q.export()])
    finally:
        server.shutdown()
    assert [r["review_id"] for r in _Hook.got[0]["items"]] == [b]
