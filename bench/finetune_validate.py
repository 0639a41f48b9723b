"""How long `unyo finetune validate` takes on a realistic dataset, against the least any check
must do: parse each line and count its tokens (the baseline).

    .venv/bin/python bench/finetune_validate.py [EXAMPLES]

Prints seconds, examples per second and the ratio to the baseline, per stage of the validator
(structure checks, duplicates, the PII masker), so the cost of each check is visible.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from unyo._jobs._finetune import _dataset
from unyo._jobs._finetune._dataset import flat_messages, validate
from unyo._providers._tokens import bpe_counter


def dataset(examples: int) -> Path:
    path = Path(tempfile.mkdtemp(prefix="unyo-ft-bench-")) / "train.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for i in range(examples):
            row = {
                "messages": [
                    {"role": "system", "content": "あなたは通販サイトのサポート担当です。丁寧に答えてください。"},
                    {"role": "user", "content": f"注文番号 {100000 + i} の商品がまだ届きません。いつ頃届きますか?"},
                    {"role": "assistant", "content": f"ご不便をおかけしています。注文 {100000 + i} は本日発送済みで、"
                     "明後日までにお届けの予定です。追跡番号はメールでお送りしました。"},
                ]
            }  # fmt: skip
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def baseline(path: Path) -> float:
    counter, started = bpe_counter("o200k_base"), time.perf_counter()
    for line in path.read_bytes().splitlines():
        counter.count_messages(flat_messages(json.loads(line)))
    return time.perf_counter() - started


def timed(path: Path) -> float:
    _dataset._pii_kinds.cache_clear()  # each run starts cold, as a process does
    started = time.perf_counter()
    report = validate(path, "gpt-4.1-mini", 3)
    assert report.ok, report.findings[:3]
    return time.perf_counter() - started


def main() -> None:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    path = dataset(examples)
    bpe_counter("o200k_base").count_text("warm up")  # the table loads once per process: not part of either
    base = min(baseline(path) for _ in range(3))
    full = min(timed(path) for _ in range(3))
    check_pii = _dataset._check_pii
    _dataset._check_pii = lambda *a: None  # type: ignore[assignment]
    no_pii = min(timed(path) for _ in range(3))
    _dataset._check_pii = check_pii
    print(f"{examples} examples, {path.stat().st_size / 1e6:.1f} MB")
    print(f"{'stage':<34}{'seconds':>9}{'examples/s':>12}{'x baseline':>12}")
    for name, seconds in (("baseline: parse + count tokens", base), ("validate without the PII masker", no_pii),
                          ("validate (every check)", full)):  # fmt: skip
        print(f"{name:<34}{seconds:>9.2f}{examples / seconds:>12,.0f}{seconds / base:>12.2f}")


if __name__ == "__main__":
    main()
