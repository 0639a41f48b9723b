"""Every command example in README.md runs, so the README cannot rot (issue 18).

The examples are read from the README itself: lines of ```sh/```bash blocks and indented blocks
that start with `unyo` (or `.venv/bin/unyo`, or `echo ... | unyo`). Each runs as a user would, as
its own process, in a fresh directory holding the files the examples name, against the fault server
as the provider. What is not run is said here, with the reason: a usage synopsis (`[--opt]`, `a|b`,
`ID`, `…`) is not a command, and `unyo serve` does not return (the gateway tests run it for real).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from unyo.testing import FaultServer

from .conftest import ENV_PREFIXES, FAKE_KEY

REPO = Path(__file__).resolve().parents[1]
ADMIN = "sk-admin-README0123456789abcdef"
SYNOPSIS = re.compile(r"\[-|\[[A-Z]|\w\|\w|…|\bID\b|\.\.\.(?!\")|ftjob-|uk-\.\.\.")


def readme_commands() -> list[tuple[int, str, int]]:
    """(line number, command, block number): the commands of one block run as one session."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").split("\n")
    found, fence, lang, block = [], False, "", 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            fence, lang = (False, "") if fence else (True, line[3:].strip())
            block += 1
            i += 1
            continue
        if not fence and not line.startswith("    ") and line.strip():
            block += 1
        text = None
        if fence and lang in ("sh", "bash", "console"):
            text = line.strip()
        elif not fence and line.startswith("    "):
            text = line.strip()
        number = i + 1
        while text is not None and text.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text.rstrip()[:-1] + " " + lines[i].strip()
        if text and re.match(r"^(\S+=\S+ )*(\.venv/bin/)?unyo |^(echo|cat) [^|]*\| *(\.venv/bin/)?unyo ", text):
            found.append((number, text, block))
        i += 1
    return found


def _runnable(text: str) -> str | None:
    """Why the example is not run, or None."""
    command = text.split(" #", 1)[0]
    if SYNOPSIS.search(command.replace('"このお問い合わせを3行で要約して: ..."', "")):
        return "a usage synopsis"
    if re.search(r"\bunyo serve\b", command):
        return "starts a server that does not return (tests/test_gateway*.py run it)"
    return None


EXAMPLES = readme_commands()


def test_the_readme_has_examples_and_most_of_them_run() -> None:
    runnable = [t for _, t, _ in EXAMPLES if _runnable(t) is None]
    assert len(EXAMPLES) >= 30 and len(runnable) >= 0.7 * len(EXAMPLES), [t for _, t, _ in EXAMPLES if _runnable(t)]


def _workdir(tmp_path: Path) -> Path:
    """A directory with the files the README's examples name."""
    work = tmp_path / "readme"
    work.mkdir()
    shutil.copytree(REPO / "samples", work / "samples")
    (work / "out").mkdir()
    (work / "mail.txt").write_text("件名: 注文\n本文: りんごを3箱、12月10日までに届けてください。", encoding="utf-8")
    (work / "order.json").write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {"item": {"type": "string"}, "quantity": {"type": "integer"}},
                "required": ["item", "quantity"],
                "additionalProperties": False,
            }
        ),
        encoding="utf-8",
    )
    (work / "labels.toml").write_text(
        "\n".join(
            f'[[labels]]\nname = "{name}"\ndescription = "{text}"\nexamples = ["{example}"]\n'
            for name, text, example in [
                ("refund", "the customer asks for money back", "返金をお願いします"),
                ("bug", "something in the product does not work", "アプリが落ちます"),
                ("other", "anything else", "営業時間を教えてください"),
            ]
        ),
        encoding="utf-8",
    )
    (work / "rows.csv").write_text("text\n返金してほしい\n画面が固まる\n", encoding="utf-8")
    questions = "question\nAPIキーはどこに保存しますか?\n京都のおすすめ観光地は?\n"
    (work / "questions.csv").write_text(questions, encoding="utf-8")
    examples = [
        {"messages": [{"role": "user", "content": f"質問{i}"}, {"role": "assistant", "content": f"回答{i}です。"}]}
        for i in range(12)
    ]
    (work / "train.jsonl").write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in examples), encoding="utf-8")
    (work / "suite.yaml").write_text(
        "prompts:\n  - 'Answer briefly: {{q}}'\nproviders: [main]\ntests:\n"
        "  - vars: {q: hello}\n    assert: [{type: is-json, weight: 0}, {type: cost, value: 1}]\n",
        encoding="utf-8",
    )
    corpus = tmp_path / "shared" / "corpus"  # `../shared/corpus` from the work directory: two small guides
    corpus.mkdir(parents=True)
    (corpus / "keys.md").write_text(
        "# APIキーの管理\n\nAPIキーはプログラムに直接書かず、環境変数に設定して安全に保存します。\n", encoding="utf-8"
    )
    (corpus / "limits.md").write_text(
        "# レート制限\n\n429 が返ったら Retry-After の秒数だけ待ってから再試行します。\n", encoding="utf-8"
    )
    return work


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("line", "text", "block"), EXAMPLES, ids=[f"README:{n}" for n, _, _ in EXAMPLES])
def test_readme_example_runs(fault: FaultServer, tmp_path: Path, line: int, text: str, block: int) -> None:
    reason = _runnable(text)
    if reason:
        pytest.skip(f"README line {line} is {reason}")
    work = _workdir(tmp_path)
    fault.org.admin_key = ADMIN
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(
        UNYO_HOME=os.environ["UNYO_HOME"],
        XDG_CONFIG_HOME=os.environ["XDG_CONFIG_HOME"],
        UNYO_LANG="en",
        OPENAI_API_KEY=FAKE_KEY,
        OPENAI_BASE_URL=fault.url,
        OPENAI_ADMIN_KEY=ADMIN,
        UNYO_GATEWAY_SECRET="readme-test-secret-0123456789abcdef",
        UNYO_BACKOFF_BASE_S="0.01",
        PYTHONPATH=str(REPO / "src"),
    )
    import subprocess

    unyo = f"{shlex.quote(sys.executable)} -m unyo"

    def run(example: str) -> subprocess.CompletedProcess[str]:
        command = re.sub(r"(^|\| *|\s)(\.venv/bin/)?unyo ", lambda m: f"{m.group(1)}{unyo} ", example, count=1)
        return subprocess.run(
            ["bash", "-c", command],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=540,
            stdin=subprocess.DEVNULL,
        )

    setup = []
    for earlier, before, same in EXAMPLES:  # the block's earlier commands first, as a reader runs them
        if same == block and earlier < line and _runnable(before) is None:
            done = run(before)
            setup.append(f"(ran README line {earlier} first: exit {done.returncode}) {done.stderr[-300:]}")
    result = run(text)
    assert result.returncode == 0, (
        f"README line {line}: {text}\n{result.stdout[-1500:]}\n{result.stderr[-3000:]}\n" + "\n".join(setup)
    )
    assert "Traceback" not in result.stderr
