"""Run samples/eval-demo.yaml against unyo's fault server: two "models" with scripted answers
(4o-mini gets every ticket right; 4.1-mini mislabels two), an HTML report, JUnit XML and a 70 %
pass-rate gate. No key and no network: the server runs on 127.0.0.1.

    python samples/eval_demo.py            # exit code: unyo eval's (0 passed, 10 a gate failed)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from unyo.testing import FaultServer

HERE = Path(__file__).resolve().parent
ANSWERS = {  # (model, a word of the ticket) -> the model's answer
    ("gpt-4o-mini", "charged twice"): "billing: a duplicate charge on the November invoice.",
    ("gpt-4o-mini", "crashes"): "bug: the PDF export crashes the app.",
    ("gpt-4o-mini", "パスワード"): "account: the user cannot log in after forgetting the password.",
    ("gpt-4o-mini", "refund"): "billing: a refund request for unused months.",
    ("gpt-4o-mini", "error 500"): "bug: the dashboard fails with a server error.",
    ("gpt-4.1-mini", "charged twice"): "billing: the customer was charged twice.",
    ("gpt-4.1-mini", "crashes"): "account: please reinstall the app.",
    ("gpt-4.1-mini", "パスワード"): "account: a password reset is needed.",
    ("gpt-4.1-mini", "refund"): "We guarantee a refund of all unused months.",
    ("gpt-4.1-mini", "error 500"): "bug: the dashboard returns error 500.",
}
GOOD = json.dumps({"pass": True, "score": 0.9, "reason": "names the defect, blames no one"})
BAD = json.dumps({"pass": False, "score": 0.2, "reason": "does not name a defect"})


def respond(body: dict[str, Any]) -> str | None:
    text = json.dumps(body, ensure_ascii=False)
    if "You grade the output" in text:  # the llm-rubric grader
        return GOOD if "bug" in text.split("Output to grade", 1)[-1] else BAD
    for (model, word), answer in ANSWERS.items():
        if body.get("model") == model and word in text:
            return answer
    return None


def main(out: Path = HERE.parent / "out", extra: list[str] | None = None) -> int:
    out.mkdir(exist_ok=True)
    with FaultServer() as server:
        server.responder = respond
        env = {**os.environ, "OPENAI_API_KEY": "sk-demo-not-a-real-key-000000000000", "OPENAI_BASE_URL": server.url}
        command = [sys.executable, "-m", "unyo", "eval", str(HERE / "eval-demo.yaml"), "--profile", "openai",
                   "--html", str(out / "eval-demo.html"), "--junit", str(out / "eval-demo.xml"),
                   "--fail-under", "0.7", *(extra or [])]  # fmt: skip
        return subprocess.run(command, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
