"""unyo's own messages follow UNYO_LANG: the catalogue (`_types/_messages`) is complete in both
languages, the CLI speaks Japanese for every usage error, refusal and confirmation of issue 18
(argparse's own messages included), `--json` keeps the English text in `message_en`, and a
converted module cannot grow a new English-only error again."""

from __future__ import annotations

import ast
import csv
import json
import re
import string
from pathlib import Path

import pytest

import unyo
from unyo._types._errors import UsageError
from unyo._types._messages import CATALOGUE, Message, msg
from unyo.testing import FaultServer

from .conftest import FAKE_KEY, run_cli

SRC = Path(__file__).resolve().parents[1] / "src" / "unyo"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


# --- (a) the catalogue ------------------------------------------------------------------------------------------------


def _fields(template: str, printf: bool) -> list[tuple[str, ...]]:
    if printf:
        return sorted((m,) for m in re.findall(r"%(?:\(\w+\))?[sr]", template))
    return sorted((name, conv or "", spec or "") for _, name, spec, conv in string.Formatter().parse(template) if name)


def _english_words(template: str) -> list[str]:
    """Words of prose left once placeholders, `code`, options and quoted names are taken out."""
    text = re.sub(r"\{[^}]*\}|%\(\w+\)[sr]|%[sr]|`[^`]*`|--[\w-]+|'[^']*'|\"[^\"]*\"|\[[^\]]*\]", " ", template)
    return re.findall(r"[A-Za-z]{3,}", text)


def test_every_message_has_english_and_japanese_with_the_same_placeholders() -> None:
    assert len(CATALOGUE) > 100
    for message_id, template in CATALOGUE.items():
        if message_id == "empty":
            continue
        assert template.en and template.ja, message_id
        printf = message_id.startswith("argparse.")
        assert _fields(template.en, printf) == _fields(template.ja, printf), message_id
        # Japanese text, or a frame with nothing to translate ("{path}: {reason}", " ({period})")
        assert JAPANESE.search(template.ja) or not _english_words(template.ja), message_id
        if template.ja == template.en:
            assert not _english_words(template.en), message_id


def test_every_id_the_code_names_is_in_the_catalogue() -> None:
    used: dict[str, Path] = {}
    pattern = re.compile(r"""\b(?:Message|msg)\(\s*["']([\w.]+)["']""")
    for path in SRC.rglob("*.py"):
        for message_id in pattern.findall(path.read_text(encoding="utf-8")):
            used[message_id] = path
    missing = {i: str(p.relative_to(SRC)) for i, p in used.items() if i not in CATALOGUE}
    assert not missing
    assert len(used) > 100  # the scan sees the code's ids


def test_the_argparse_ids_are_argparse_s_own_msgids() -> None:
    import argparse

    tree = ast.parse(Path(argparse.__file__).read_text(encoding="utf-8"))
    msgids = {
        arg.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "ngettext")
        for arg in node.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    }
    ours = {t.en for i, t in CATALOGUE.items() if i.startswith("argparse.")}
    assert ours <= msgids, ours - msgids  # a newer Python that rewords one shows up here, not as English in ja


def test_an_error_follows_the_language_and_keeps_its_english(monkeypatch: pytest.MonkeyPatch) -> None:
    err = UsageError(Message("task.unknown", name="triag", suggestion=Message("did_you_mean", word="triage")))
    monkeypatch.setenv("UNYO_LANG", "ja")
    assert str(err) == "タスク 'triag' はありません (もしかして 'triage'?)。`unyo tasks list` で一覧を表示できます"
    assert err.message_en == "no task named 'triag' (did you mean 'triage'?); `unyo tasks list` shows them"
    assert err.message_id == "task.unknown" and err.params["name"] == "triag"
    monkeypatch.setenv("UNYO_LANG", "en")
    assert str(err) == err.message_en and err.exit_code == 2
    plain = unyo.BudgetExceeded("upstream text stays as sent")
    assert plain.message_id is None and plain.message_en == str(plain) == "upstream text stays as sent"
    with pytest.raises(KeyError):
        Message("no.such.id")


def test_an_api_error_with_a_message_is_still_the_sdk_s_and_keeps_its_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    import openai

    from unyo._types._errors import ContextTooLong, ErrorContext, adopt_sdk_bases

    adopt_sdk_bases()
    text = Message("context.too_long", input=9000, cap=1024, needed=10024, model="m", window=8192)
    err = ContextTooLong(text, ErrorContext(model="m", status=None))
    monkeypatch.setenv("UNYO_LANG", "ja")
    assert str(err).startswith("入力 9000 トークン + 出力上限 1024 = 10024 トークンが m のコンテキスト長")
    assert str(err).endswith("(送信していません) [model=m]") and err.message_id == "context.too_long"
    assert err.text("en").startswith("9000 input tokens + 1024 output cap") and err.text("en").endswith("[model=m]")
    with pytest.raises(openai.BadRequestError):
        raise err
    assert type(err).__module__ == "unyo" and err.exit_code == 7


def test_a_message_with_a_key_in_it_is_redacted_in_both_languages(monkeypatch: pytest.MonkeyPatch) -> None:
    err = unyo.ConfigError(Message("config.wrong_type", origin="env X", kind="int", got=FAKE_KEY))
    monkeypatch.setenv("UNYO_LANG", "ja")
    assert FAKE_KEY not in str(err) and FAKE_KEY not in err.message_en and FAKE_KEY not in repr(err)


# --- (b) the CLI in Japanese and in English ---------------------------------------------------------------------------


def env_for(fault: FaultServer, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url, "UNYO_BACKOFF_BASE_S": "0.01", **extra}


def _files(work: Path) -> None:
    (work / "one.toml").write_text('[[labels]]\nname = "only"\ndescription = "one"\n', encoding="utf-8")
    (work / "bad-schema.json").write_text("{not json", encoding="utf-8")
    (work / "bad.jsonl").write_text('{"text": "a"}\nnot json\n', encoding="utf-8")
    (work / "western.csv").write_bytes("id,text\n1,caf\xe9 cr\xe8me br\xfbl\xe9e na\xefve\n".encode("cp1252"))
    with open(work / "three.csv", "w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([["id", "text"], ["1", "a"], ["2", "b"], ["3", "c"]])


# command, extra env, exit code, a Japanese fragment (UNYO_LANG=ja), the English fragment (UNYO_LANG=en)
# fmt: off
TABLE: list[tuple[list[str], dict[str, str], int, str, str]] = [
    # usage errors (issue 18's table)
    (["run", "triag", "x"], {}, 2, "タスク 'triag' はありません (もしかして 'triage'?)", "no task named 'triag'"),
    (["ask", ""], {}, 2, "プロンプトが空です", "the prompt is empty"),
    (["logs", "--since", "sometime"], {}, 2, "ISO 週 (2026-W48) のいずれかを指定", "or an ISO week (2026-W48)"),
    (["run", "triage", "--set", "nosuch=1", "x"], {}, 2, "オプション 'nosuch' はありません", "has no option 'nosuch'"),
    (["run", "triage", "--set", "lables=a", "x"], {}, 2, "(もしかして 'labels'?)", "(did you mean 'labels'?)"),
    (["run", "extract", "x"], {}, 2, "出力スキーマが必要です", "needs an output schema"),
    (["run", "extract", "--schema", "missing.json", "x"], {}, 2,
     "ファイルまたはディレクトリがありません", "No such file"),
    (["run", "extract", "--schema", "bad-schema.json", "x"], {}, 2, "正しい JSON ではありません", "not valid JSON"),
    (["conversations", "show", "c1"], {}, 2, "会話 ID と --user が必要です", "needs an id and --user"),
    (["ask", "--temperature", "5", "x"], {}, 2, "0 から 2 の範囲にしてください", "must be between 0 and 2"),
    (["ask", "--max-output-tokens", "0", "x"], {}, 2, "1 以上にしてください", "must be at least 1"),
    (["run", "classify", "x"], {}, 2, "ラベルが必要です", "needs labels"),
    # argparse's own messages
    (["nonsense"], {}, 2, "不正な選択肢です: 'nonsense'", "invalid choice: 'nonsense'"),
    (["run", "triage", "--via", "syn", "x"], {}, 2, "(もしかして 'sync'?)", "(did you mean 'sync'?)"),
    (["estimate"], {}, 2, "次の引数を指定してください: --requests-per-day", "the following arguments are required"),
    (["ask", "--max-output-tokens", "x", "y"], {}, 2, "'x' は整数ではありません", "'x' is not a whole number"),
    (["logs", "--bogus"], {}, 2, "認識できない引数です: --bogus", "unrecognized arguments: --bogus"),
    # budgets and prices
    (["ask", "--no-stream", "hi"], {"UNYO_MAX_REQUEST_USD": "0.0000001"}, 4,
     "を超えるため送信しませんでした", "would be exceeded"),
    (["ask", "--no-stream", "-m", "my-own-model", "hi"], {"UNYO_BUDGET_DAILY_USD": "1"}, 3,
     "には価格がなく", "has no price"),
    (["estimate", "-m", "my-own-model", "--requests-per-day", "1", "--input-tokens", "1", "--output-tokens", "1"], {},
     3, "には価格がありません", "has no price"),
    # configuration and keys
    (["ask", "--profile", "openai", "hi"], {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}, 3,
     "API キーが必要です", "needs a key"),
    (["ask", "hi"], {"UNYO_AUDIT_CONTENT": "everything"}, 3,
     "のいずれかにしてください", "must be none, masked or full"),
    (["logs"], {"UNYO_DB_URL": "mysql://db/x"}, 3, "sqlite:/// で始めてください", "must start with postgresql://"),
    (["keys", "create", "--name", "t", "--expires", "soon"], {"UNYO_GATEWAY_SECRET": "s" * 20}, 2,
     "のような期間を指定してください", "expected a duration like 90d"),
    (["keys", "show", "nobody"], {"UNYO_GATEWAY_SECRET": "s" * 20}, 3,
     "仮想キー 'nobody' はありません", "no virtual key 'nobody'"),
    (["keys", "list"], {"UNYO_GATEWAY_SECRET": ""}, 3,
     "16 文字以上のサーバーシークレットが必要です", "at least 16 characters"),
    # input files
    (["ask", "hi", "@no-such-file.txt"], {}, 2, "そのようなファイルはありません", "no such file"),
    (["run", "triage", "--input", "bad.jsonl"], {}, 2,
     "bad.jsonl:2: 正しい JSON ではありません", "bad.jsonl:2: not valid JSON"),
    (["run", "triage", "--input", "western.csv"], {}, 2, "UTF-8 ではなく", "not UTF-8"),
    (["run", "triage", "--input", "three.csv", "--max-rows", "2"], {}, 2, "2 行を超えています", "more than 2 rows"),
    (["run", "triage", "--input", "notes.txt"], {}, 2, "対応していないファイル形式です", "unsupported file type"),
    (["run", "triage", "--input", "three.csv", "--max-cost", "lots"], {}, 2,
     "'lots' は USD の金額ではありません", "is not an amount in USD"),
    (["run", "triage", "--set", "labels", "x"], {}, 2, "KEY=VALUE の形で指定してください", "use KEY=VALUE"),
    # knowledge bases, templates, aliases
    (["kb", "show", "nope"], {}, 2, "ナレッジベース 'nope' はありません", "no knowledge base named 'nope'"),
    (["kb", "search", "x", "--kb", "nope"], {}, 3, "で文書を追加してください", "add documents with"),
    (["kb", "add"], {}, 2, "ファイル・フォルダ・glob・URL を指定してください", "kb add needs files"),
    (["kb", "add", "missing.txt", "--kb", "t"], {}, 2,
     "1 件中 1 件を追加できませんでした: missing.txt: そのようなファイルはありません", "1 of 1 sources not added"),
    (["templates", "show", "nope"], {}, 2, "テンプレート 'nope' はありません", "no template named 'nope'"),
    (["aliases", "rm", "nope"], {}, 2, "エイリアス 'nope' はありません", "no alias named 'nope'"),
    (["templates", "save", "a/b", "--system", "x"], {}, 2, "テンプレートの名前に使えるのは", "template names are"),
    # other commands
    (["chat", "--conversation", "c1"], {}, 2, "--conversation には --user が必要です", "--conversation needs --user"),
    (["ask", "--conversation", "c1", "--user", "bob", "--schema", "s.json", "hi"], {}, 2,
     "--schema は -c/--conversation と一緒に使えません", "--schema cannot be combined"),
    (["eval"], {}, 2, "スイートのファイル", "give a suite file"),
    (["eval", "--task", "triage", "--fail-under", "7"], {}, 2, "0 から 1 の合格率です", "a pass rate between 0 and 1"),
    (["finetune", "create"], {}, 2, "データセットを指定してください", "give the dataset"),
    (["review", "approve"], {}, 2, "には項目の ID が必要です", "needs an item id"),
    (["tasks", "show"], {}, 2, "tasks show にはタスク名が必要です", "tasks show needs a task name"),
    (["config", "trust"], {}, 2, "エンドポイントを指定してください", "name the endpoint"),
    (["ask", "--image", "nope.png", "hi"], {}, 2, "そのような画像ファイルはありません", "no such image file"),
    (["run", "classify", "--labels", "one.toml", "x"], {}, 3, "ラベルが 2 つ以上必要です", "at least two labels"),
    # confirmations without a terminal
    (["logs", "prune", "--days", "1"], {}, 2, "何も削除していません。実行するには --yes", "nothing was deleted"),
    (["conversations", "rm", "c1", "--user", "alice"], {}, 2,
     "ユーザー alice の会話 c1 とそのターンを削除します", "delete conversation c1 of user alice"),
]
# fmt: on


COMMANDS = "ask|image|chat|conversations|run|kb|tasks|models|config|eval|finetune|review|keys|templates|aliases"


def _english_sentence(line: str) -> str | None:
    """Three English words in a row, once quoted names, `code`, options, paths, URLs and commands
    (`unyo config trust URL`) are taken out."""
    text = re.sub(rf"\bunyo (?:{COMMANDS})(?: [\w./|-]+)*", " ", line)
    text = re.sub(r"`[^`]*`|'[^']*'|\"[^\"]*\"|\[[^\]]*\]|--[\w-]+|\S*[/\\.]\S*|\{[^}]*\}", " ", text)
    found = re.search(r"\b[A-Za-z]{2,}(?:[ ,]+[A-Za-z]{2,}){2,}\b", text)
    return found.group(0) if found else None


def _leftover_english(stderr: str) -> list[str]:
    lines, in_usage = [], False
    for line in stderr.splitlines():
        in_usage = line.startswith("usage:") or (in_usage and line.startswith(" "))
        if not in_usage and (sentence := _english_sentence(line)):
            lines.append(f"{sentence!r} in {line!r}")
    return lines


@pytest.mark.parametrize(("args", "extra", "code", "ja", "en"), TABLE, ids=[" ".join(t[0])[:60] for t in TABLE])
def test_cli_messages_in_japanese_and_english(
    fault: FaultServer, clean_env: Path, args: list[str], extra: dict[str, str], code: int, ja: str, en: str
) -> None:
    _files(clean_env)
    (clean_env / "notes.txt").write_text("x", encoding="utf-8")
    env = {**env_for(fault), **extra}
    japanese = run_cli(*args, env={**env, "UNYO_LANG": "ja"})
    assert japanese.returncode == code, japanese.stderr
    assert ja in japanese.stderr, japanese.stderr
    assert en not in japanese.stderr and not _leftover_english(japanese.stderr), _leftover_english(japanese.stderr)
    assert "Traceback" not in japanese.stderr
    english = run_cli(*args, env={**env, "UNYO_LANG": "en"})
    assert english.returncode == code and en in english.stderr and ja not in english.stderr, english.stderr
    assert not JAPANESE.search(re.sub(r"'[^']*'", "", english.stderr)), english.stderr  # quoted input aside
    assert not fault.requests  # each of these stops before anything is sent


def test_the_untrusted_base_url_refusal_in_japanese(fault: FaultServer, clean_env: Path) -> None:
    (clean_env / "unyo.toml").write_text(f'[profiles.openai]\nbase_url = "{fault.url}"\n')
    result = run_cli("ask", "hi", "--no-stream", env={"OPENAI_API_KEY": FAKE_KEY, "UNYO_LANG": "ja"}, cwd=clean_env)
    assert result.returncode == 3 and "信頼していないホスト" in result.stderr and "unyo config trust" in result.stderr
    assert not _leftover_english(result.stderr) and not fault.requests


def test_a_re_run_with_nothing_left_says_so_in_japanese(fault: FaultServer, clean_env: Path) -> None:
    _files(clean_env)
    env = env_for(fault, UNYO_MODEL="gpt-4o-mini")
    assert run_cli("run", "triage", "--input", "three.csv", env=env).returncode == 0
    again = run_cli("run", "triage", "--input", "three.csv", env={**env, "UNYO_LANG": "ja"})
    assert again.returncode == 0 and "実行する行はありません: 3 行は完了済み" in again.stderr, again.stderr
    assert not _leftover_english(again.stderr)


def test_a_budget_warning_is_japanese(fault: FaultServer) -> None:
    env = env_for(fault, UNYO_BUDGET_DAILY_USD="0.00005", UNYO_LANG="ja")
    result = run_cli("ask", "--no-stream", "--max-output-tokens", "20", "hi", env=env)
    assert result.returncode == 0, result.stderr
    assert "警告: unyo: 日次上限 $0.00005" in result.stderr and "を使いました" in result.stderr, result.stderr


# --- (c) --json keeps the English -------------------------------------------------------------------------------------


def test_json_error_has_the_message_in_japanese_and_in_english(fault: FaultServer) -> None:
    result = run_cli("run", "triag", "x", "--json", env=env_for(fault, UNYO_LANG="ja"))
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert set(error) >= {"type", "message", "message_en", "hint", "status", "request_id", "exit_code"}
    assert error["message"].startswith("タスク 'triag' はありません") and JAPANESE.search(error["hint"])
    assert error["message_en"] == "no task named 'triag' (did you mean 'triage'?); `unyo tasks list` shows them"
    from unyo._types._messages import CATALOGUE

    assert error["message_id"] in CATALOGUE  # the catalogue id, for scripts
    refused = run_cli("ask", "--json", "hi", env=env_for(fault, UNYO_LANG="ja", UNYO_MAX_REQUEST_USD="0.0000001"))
    record = json.loads(refused.stdout)["error"]
    assert refused.returncode == 4 and record["type"] == "BudgetExceeded"
    assert "送信しませんでした" in record["message"] and "would be exceeded" in record["message_en"]


def test_json_error_from_the_provider_stays_as_sent(fault: FaultServer) -> None:
    fault.script("401")
    result = run_cli("ask", "--json", "hi", env=env_for(fault, UNYO_MAX_ATTEMPTS="1", UNYO_LANG="ja"))
    error = json.loads(result.stdout)["error"]
    assert result.returncode == 3 and error["message"] == error["message_en"] and error["status"] == 401
    assert JAPANESE.search(error["hint"]) and not JAPANESE.search(error["message"])


# --- (d) no new English-only error in a converted module --------------------------------------------------------------

CONVERTED = [
    "_cli/__init__.py",
    "_cli/_shared.py",
    "_cli/_input.py",
    "_cli/_logs.py",
    "_cli/_conversations.py",
    "_cli/_estimate.py",
    "_core/_config.py",
    "_core/_config_files.py",
    "_core/_limits.py",
    "_core/_images.py",
    "_money/_budget.py",
    "_jobs/_tasks/_spec.py",
    "_jobs/_tasks/_run.py",
    "_jobs/_tasks/_embed_fields.py",
    "_jobs/_batch/_files.py",
    "_jobs/_batch/_runner.py",
    "_quality/_structured.py",
    "_providers/_profiles.py",
    "_cli/_run.py",
    "_cli/_kb.py",
    "_knowledge/_hosted.py",
    "_knowledge/_hosted_answer.py",
    "_cli/_templates.py",
    "_knowledge/_read.py",
    "_knowledge/_fetch.py",
    "_knowledge/_ingest.py",
    "_knowledge/_search.py",
    "_knowledge/_index.py",
    "_knowledge/_pg_index.py",
    "_cli/_ask.py",
    "_cli/_chat.py",
    "_cli/_config.py",
    "_cli/_serve.py",
    "_cli/_tasks.py",
    "_cli/_keys.py",
    "_cli/_review.py",
    "_cli/_eval.py",
    "_cli/_finetune.py",
    "_quality/_conversations.py",
    "_quality/_labels.py",
    "_money/_fine_tuning.py",
    "_providers/_image_files.py",
    "_records/_store/__init__.py",
    "_records/_store/_postgres.py",
    "_records/_store/_sqlite.py",
    "_core/_steps.py",
    "_core/_stream.py",
    "_jobs/_finetune/_jobs.py",
    "_gateway/_keys.py",
]
ERRORS = {name for name in dir(unyo._types._errors) if name[:1].isupper()} | {"ArgumentTypeError"}


def _literal_text(node: ast.expr) -> str | None:
    """The text of a str literal or f-string (placeholders left out), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


def english_raises(path: Path) -> list[str]:
    """`raise SomeUnyoError("an English sentence")` (or an f-string) in `path`: each as file:line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        call = node.exc if isinstance(node, ast.Raise) else None
        if not isinstance(call, ast.Call) or not call.args:
            continue
        name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
        text = _literal_text(call.args[0])
        if name in ERRORS and text is not None and re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", text):
            where = path.relative_to(SRC) if path.is_relative_to(SRC) else path.name
            found.append(f"{where}:{node.lineno}")
    return found


def test_converted_modules_raise_no_english_only_messages() -> None:
    found = [hit for module in CONVERTED for hit in english_raises(SRC / module)]
    assert not found, f"use a catalogue Message (src/unyo/_types/_messages.py): {found}"


def test_the_scan_sees_an_english_raise(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        'def f(x):\n    raise UsageError(f"the value {x} is wrong")\n\n\n'
        'def g(x):\n    raise UsageError(Message("prompt.empty"))\n',
        encoding="utf-8",
    )
    assert english_raises(planted) == ["planted.py:2"]


def test_msg_renders_in_the_current_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNYO_LANG", "ja")
    assert msg("prompt.empty") == "プロンプトが空です"
    monkeypatch.setenv("UNYO_LANG", "en")
    assert msg("prompt.empty") == "the prompt is empty" and f"{Message('prompt.empty')}" == "the prompt is empty"
