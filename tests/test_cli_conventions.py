"""The CLI behaves as users of llm, gh and httpie expect (issue 18): one table of command, stdin,
exit code and output fragments, then the behaviours a table cannot show (what reached the server,
files written, a conversation continued). Every case runs `unyo` as a separate process."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from unyo.testing import FaultServer

from .conftest import FAKE_KEY, run_cli


def env_for(fault: FaultServer, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url, "UNYO_BACKOFF_BASE_S": "0.01", **extra}


# command, stdin, exit code, fragments that must be in stdout, fragments that must be in stderr
TABLE: list[tuple[list[str], str | None, int, list[str], list[str]]] = [
    # usage mistakes: exit 2, the usage line, a did-you-mean where it fits
    (["run", "triag", "x"], None, 2, [], ["usage: unyo run", "did you mean 'triage'?"]),
    (["ask", ""], None, 2, [], ["usage: unyo ask", "the prompt is empty"]),
    (["ask", "-"], "   ", 2, [], ["the prompt is empty"]),
    (["logs", "--since", "sometime"], None, 2, [], ["usage: unyo logs", "yesterday", "ISO week"]),
    (["run", "triage", "--set", "nosuch=1", "x"], None, 2, [], ["has no option 'nosuch'"]),
    (["run", "triage", "--set", "lables=a,b", "x"], None, 2, [], ["did you mean 'labels'?"]),
    (["run", "extract", "x"], None, 2, [], ["--schema"]),
    (["run", "classify", "x"], None, 2, [], ["needs labels", "--labels FILE", "--set labels="]),
    (["run", "extract", "--schema", "missing.json", "x"], None, 2, [], ["missing.json"]),
    (["conversations", "show", "c1"], None, 2, [], ["--user"]),
    (["ask", "--temperature", "5", "x"], None, 2, [], ["between 0 and 2"]),
    (["ask", "--max-output-tokens", "0", "x"], None, 2, [], ["at least 1"]),
    (["ask", "--max-tokens", "-3", "x"], None, 2, [], ["at least 1"]),
    (["ask", "hi", "@no-such-file.txt"], None, 2, [], ["no such file", "@@"]),
    (["templates", "show", "nope"], None, 2, [], ["no template named 'nope'"]),
    (["aliases", "rm", "nope"], None, 2, [], ["no alias named 'nope'"]),
    (["nonsense"], None, 2, [], ["invalid choice"]),
    # accepted forms
    (["logs", "--since", "yesterday"], None, 0, [], ["no calls logged"]),
    (["logs", "--since", "2026-W48"], None, 0, [], ["no calls logged"]),
    (["logs", "--since", "2w"], None, 0, [], ["no calls logged"]),
    (["logs", "--user", "nobody"], None, 0, [], ["match these filters"]),
    (["--version"], None, 0, ["unyo "], []),
    (["completion", "bash"], None, 0, ["complete -o default -F _unyo unyo", " ask)"], []),
    (["completion", "zsh"], None, 0, ["#compdef unyo", "'ask:"], []),
    (["completion", "fish"], None, 0, ["complete -c unyo -n __fish_use_subcommand -a ask"], []),
    # --json: a JSON record on stdout on failure too, with the exit code unchanged
    (["run", "triag", "x", "--json"], None, 2, ['{"error": {"type": "UsageError"'], []),
    # destructive commands ask first; without a terminal they need --yes
    (["conversations", "rm", "c1", "--user", "alice"], None, 2, [], ["--yes"]),
    (["logs", "prune", "--days", "1"], None, 2, [], ["--yes"]),
]


@pytest.mark.parametrize(("args", "stdin", "code", "out", "err"), TABLE, ids=[" ".join(t[0]) for t in TABLE])
def test_cli_table(
    fault: FaultServer, args: list[str], stdin: str | None, code: int, out: list[str], err: list[str]
) -> None:
    result = run_cli(*args, input=stdin, env=env_for(fault))
    assert result.returncode == code, (result.stdout, result.stderr)
    for fragment in out:
        assert fragment in result.stdout, (fragment, result.stdout)
    for fragment in err:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "Traceback" not in result.stderr


def _inputs(fault: FaultServer) -> list[str]:
    """The user text of each generation request the server saw."""
    texts = []
    for r in fault.requests:
        body = r["body"]
        turns = body.get("input") if "input" in body else body.get("messages")
        if isinstance(turns, str):
            texts.append(turns)
        elif isinstance(turns, list):
            last = turns[-1]
            content = last.get("content") if isinstance(last, dict) else last
            texts.append(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False))
    return texts


def test_stdin_files_and_at_words_join_the_instruction(fault: FaultServer, clean_env: Path) -> None:
    (clean_env / "minutes.txt").write_text("予算は100万円で承認。", encoding="utf-8")
    (clean_env / "b.md").write_text("second file", encoding="utf-8")
    piped = run_cli("ask", "--no-stream", "この議事録を要約して", input="会議の記録です。", env=env_for(fault))
    assert piped.returncode == 0, piped.stderr
    at = run_cli("ask", "--no-stream", "要約して", "@minutes.txt", env=env_for(fault))
    both = run_cli("ask", "--no-stream", "比べて", "--file", "minutes.txt", "@b.md", "@@home", env=env_for(fault))
    assert at.returncode == both.returncode == 0, (at.stderr, both.stderr)
    first, second, third = _inputs(fault)
    assert first == "会議の記録です。\n\nこの議事録を要約して"  # material first, instruction last
    assert second == "予算は100万円で承認。\n\n要約して"
    assert "--- b.md ---\nsecond file" in third and "--- minutes.txt ---" in third and third.endswith("比べて @home")
    binary = clean_env / "photo.bin"
    binary.write_bytes(b"\x89PNG\x00\x00binary")
    refused = run_cli("ask", "describe", f"@{binary}", env=env_for(fault))
    assert refused.returncode == 2 and "binary data" in refused.stderr and len(fault.requests) == 3


def test_continue_the_last_conversation(fault: FaultServer) -> None:
    env = env_for(fault)
    assert run_cli("ask", "-c", "--user", "alice", "私の名前はアリスです", env=env).returncode == 0
    second = run_cli("ask", "-c", "--user", "alice", "--json", "私の名前は?", env=env)
    assert second.returncode == 0, second.stderr
    record = json.loads(second.stdout)
    assert record["conversation"]["user"] == "alice"
    sent = fault.requests[-1]["body"]
    turns = sent.get("input") or sent.get("messages")
    assert [t["content"] for t in turns if t.get("role") == "user"] == ["私の名前はアリスです", "私の名前は?"]
    other = run_cli("ask", "-c", "--user", "bob", "--json", "私の名前は?", env=env)  # bob's own, new conversation
    assert json.loads(other.stdout)["conversation"]["id"] != record["conversation"]["id"]
    named = run_cli("ask", "--conversation", record["conversation"]["id"], "--user", "bob", "hi", env=env)
    assert named.returncode == 3 and "ConversationDenied" in named.stderr  # alice's id is not bob's


def test_templates_and_aliases(fault: FaultServer, clean_env: Path) -> None:
    env = env_for(fault)
    saved = run_cli(
        "templates", "save", "summary", "--system", "箇条書きで要約する", "--prompt", "要約: $input", "-m", "fast",
        "--max-tokens", "77", env=env,
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    assert run_cli("aliases", "set", "fast", "gpt-4o-mini", env=env).returncode == 0
    listed = run_cli("templates", "list", env=env)
    assert listed.stdout.splitlines()[0] == "name\tsummary" and "summary\t箇条書きで要約する" in listed.stdout
    assert json.loads(run_cli("aliases", "list", "--format", "json", env=env).stdout) == [
        {"alias": "fast", "model": "gpt-4o-mini"}
    ]
    used = run_cli("ask", "--no-stream", "-t", "summary", input="長い報告書", env=env)
    assert used.returncode == 0, used.stderr
    body = fault.requests[-1]["body"]
    assert body["model"] == "gpt-4o-mini" and body["max_output_tokens"] == 77  # the alias resolved
    assert body["instructions"] == "箇条書きで要約する" and _inputs(fault)[-1] == "要約: 長い報告書"
    bad = run_cli("templates", "save", "x", "--prompt", "uses $other", env=env)
    assert bad.returncode == 2 and "$input" in bad.stderr
    hostile = run_cli("templates", "save", "../escape", "--system", "x", env=env)
    assert hostile.returncode == 2 and not (clean_env.parent / "escape.toml").exists()


def test_one_default_model_for_every_command(fault: FaultServer) -> None:
    env = env_for(fault, UNYO_MODEL="gpt-4o")
    assert run_cli("ask", "--no-stream", "hi", env=env).returncode == 0
    assert run_cli("run", "triage", "ログインできません", env=env).returncode == 0
    assert {r["body"]["model"] for r in fault.requests} == {"gpt-4o"}
    estimate = run_cli("estimate", "--requests-per-day", "10", "--input-tokens", "100", "--output-tokens", "50",
                       "--json", env=env)  # fmt: skip
    assert json.loads(estimate.stdout)["model"] == "gpt-4o"
    shown = run_cli("config", "show", env=env)
    assert "default model\tgpt-4o\tmodel = 'gpt-4o' from env UNYO_MODEL" in shown.stdout
    assert "role main\tgpt-5-mini\tprofile openai (built-in)" in shown.stdout


def test_listings_are_plain_when_piped_and_take_every_format(fault: FaultServer) -> None:
    env = env_for(fault)
    tsv = run_cli("tasks", "list", env=env)
    assert tsv.returncode == 0 and tsv.stdout.splitlines()[0].split("\t")[0] == "task" and "│" not in tsv.stdout
    table = run_cli("tasks", "list", "--format", "table", env=env)
    assert "triage" in table.stdout and "─" in table.stdout
    as_csv = run_cli("tasks", "list", "--format", "csv", env=env).stdout.splitlines()
    assert as_csv[0].startswith("task,") and any(line.startswith("triage,") for line in as_csv)
    as_json = json.loads(run_cli("tasks", "list", "--format", "json", env=env).stdout)
    assert {"triage", "summarize"} <= {row["task"] for row in as_json}
    lines = run_cli("models", "--format", "jsonl", env=env).stdout.splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)


def test_colour_follows_no_color_force_color_and_the_flag(fault: FaultServer) -> None:
    env = env_for(fault)
    assert "\x1b[" not in run_cli("doctor", "--offline", env=env).stdout  # piped: plain
    forced = run_cli("doctor", "--offline", env={**env, "FORCE_COLOR": "1"}).stdout
    assert "\x1b[32mok" in forced
    assert "\x1b[" not in run_cli("doctor", "--offline", env={**env, "FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
    assert "\x1b[" not in run_cli("doctor", "--offline", "--color", "never", env={**env, "FORCE_COLOR": "1"}).stdout
    assert "\x1b[32mok" in run_cli("doctor", "--offline", "--color", "always", env=env).stdout


def test_json_errors_carry_the_api_facts(fault: FaultServer) -> None:
    fault.script("401")
    result = run_cli("ask", "--json", "hi", env=env_for(fault, UNYO_MAX_ATTEMPTS="1"))
    assert result.returncode == 3
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "AuthenticationError" and error["status"] == 401 and error["hint"]
    assert FAKE_KEY not in result.stdout + result.stderr  # the 401 body echoes the key: never repeated


def test_messages_follow_unyo_lang(fault: FaultServer) -> None:
    result = run_cli("run", "triag", "x", env={**env_for(fault), "UNYO_LANG": "ja"})
    assert result.returncode == 2 and "エラー: UsageError" in result.stderr and "ヒント:" in result.stderr
    empty = run_cli("logs", env={**env_for(fault), "UNYO_LANG": "ja"})
    assert "まだ呼び出しの記録はありません" in empty.stderr


def test_every_command_has_examples_in_its_help() -> None:
    from unyo._cli import build_parser
    from unyo._cli._completion import _commands

    commands = _commands(build_parser())
    missing = [name for name, p in commands.items() if "unyo " not in (p.epilog or "").partition("examples:\n")[2]]
    assert not missing, f"commands without examples in --help: {missing}"
    shown = run_cli("run", "--help")
    assert "examples:" in shown.stdout and "unyo run triage --input" in shown.stdout


def test_summarize_map_step_shows_progress(fault: FaultServer, clean_env: Path) -> None:
    long = "\n\n".join(f"## 第{i}章\n" + "この章では請求の手順と確認事項を詳しく説明します。" * 8 for i in range(1, 5))
    (clean_env / "long.md").write_text(long, encoding="utf-8")
    result = run_cli("run", "summarize", "--file", "long.md", "--set", "part_tokens=120", env=env_for(fault))
    assert result.returncode == 0, result.stderr
    calls = len(fault.requests)
    assert calls > 2 and f"summarize: call 1/{calls}" in result.stderr and f"call {calls}/{calls}" in result.stderr


def test_xlsx_output_keeps_sheet_dates_and_formulas(fault: FaultServer, clean_env: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "問い合わせ一覧"
    sheet.append(["text", "received", "count", "double"])
    sheet.append(["ログインできません", datetime(2026, 11, 30, 9, 15), 2, "=C2*2"])
    sheet.append(["請求書が二重です", datetime(2026, 12, 1, 14, 0), 5, "=C3*2"])
    book.save(clean_env / "in.xlsx")
    if not shutil.which("soffice"):
        # openpyxl stores no computed values: add them as Excel would (the <v> of each formula cell)
        _add_cached_values(clean_env / "in.xlsx", {"D2": "4", "D3": "10"})
    result = run_cli("run", "triage", "--input", "in.xlsx", "--output", "out.xlsx", env=env_for(fault))
    assert result.returncode == 0, result.stderr
    out = openpyxl.load_workbook(clean_env / "out.xlsx")
    assert out.sheetnames == ["問い合わせ一覧"]
    rows = list(out.active.iter_rows(values_only=True))
    assert rows[1][1] == datetime(2026, 11, 30, 9, 15) and rows[2][3] == "=C3*2"  # a date, and the formula itself
    as_csv = run_cli("run", "triage", "--input", "in.xlsx", "--output", "out.csv", env=env_for(fault))
    assert as_csv.returncode == 0 and ",10," in (clean_env / "out.csv").read_text(encoding="utf-8-sig")


def test_a_formula_without_a_computed_value_is_reported(fault: FaultServer, clean_env: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.append(["text", "n"])
    book.active.append(["hello", "=1+1"])  # openpyxl writes no computed value
    book.save(clean_env / "in.xlsx")
    result = run_cli("run", "triage", "--input", "in.xlsx", env=env_for(fault))
    assert result.returncode == 2 and "B2" in result.stderr and "no computed value" in result.stderr
    assert fault.requests == []


def _add_cached_values(path: Path, values: dict[str, str]) -> None:
    """Write a computed value into formula cells of sheet1 (what Excel does on save)."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    for ref, value in values.items():
        xml = re.sub(rf'(<c r="{ref}"[^>]*>\s*<f>[^<]*</f>)(\s*<v>\s*</v>|\s*<v/>)?', rf"\1<v>{value}</v>", xml)
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_completion_scripts_load_in_their_shells(tmp_path: Path) -> None:
    script = tmp_path / "unyo.bash"
    script.write_text(run_cli("completion", "bash").stdout, encoding="utf-8")
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    words = subprocess.run(
        ["bash", "-c", f"source {script}; COMP_WORDS=(unyo ru); COMP_CWORD=1; _unyo; echo ${{COMPREPLY[@]}}"],
        capture_output=True,
        text=True,
    )
    assert words.stdout.split() == ["run"]


def test_python_results_read_as_people_expect(fault: FaultServer) -> None:
    import unyo

    fault.script("500", "ok")
    client = unyo.OpenAI(settings=unyo.load_settings(profile="openai", api_key=FAKE_KEY, base_url=fault.url,
                                                     backoff_base_s=0.01, backoff_max_s=0.02))  # fmt: skip
    answer = unyo.ask("hello", client=client, max_output_tokens=20)
    assert str(answer) == answer.text and answer.text
    info = answer.call
    assert info.attempts == 2 and [a.outcome for a in info.attempt_log] == ["ServerError", "ok"]
    assert info.counted_input_tokens is not None and info.reported_input_tokens == info.usage.input_tokens
    record = answer.to_dict()
    assert record["attempts"] == 2 and len(record["attempt_log"]) == 2
    assert "E" not in (record["cost_usd"] or "") and len(record["cost_usd"].split(".")[1]) == 10  # fixed scale


def test_html_chart_labels_show_whole_model_names() -> None:
    from unyo._cli._report_html import _bars

    rows = [
        {"key": key, "cost_usd": "0.001", "calls": 1}
        for key in ("gpt-4o-mini-2024-07-18", "gpt-4.1-mini", "text-embedding-3-small", "o4-mini")
    ]
    svg = _bars(rows)
    assert ">gpt-4o-mini-2024-07-18</tspan>" in svg and ">gpt-4.1-mini</tspan>" in svg  # whole, not "07-18"
    crowded = _bars(rows * 3)  # 12 bars: a long name wraps at a '-' instead of losing its start
    assert ">gpt-4o-mini-</tspan>" in crowded and ">2024-07-18</tspan>" in crowded
    days = _bars([{"key": "2026-12-03", "cost_usd": "1", "calls": 2}])
    assert ">12-03</tspan>" in days


def test_input_formulas_that_reach_outside_the_workbook_are_not_written_back() -> None:
    from unyo._jobs._batch._files import Formula, _xlsx_cell

    assert _xlsx_cell(Formula("=C3*2", 10)) == "=C3*2"  # the user's own arithmetic: kept
    assert _xlsx_cell(Formula("=cmd|' /C calc'!A0", 0)) == 0  # DDE: its value, never the formula
    assert _xlsx_cell(Formula('=HYPERLINK("http://evil.example","x")', "x")) == "x"
    assert _xlsx_cell(Formula("=WEBSERVICE(A1)", None)) == "'=WEBSERVICE(A1)"
