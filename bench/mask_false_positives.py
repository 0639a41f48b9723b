"""False positives and speed of the audit masker (`unyo._records._mask`) on real documents.

Masks each file of ../shared/corpus/ja-guides/*.txt (or the files given as arguments, e.g.
../shared/openai-openapi.yaml) and prints, per file and in total, the masks of each kind per
10,000 characters, then every masked span with a little context on each side, so that a human can
judge which are true and which false positives. The documents are read at run time and never
copied anywhere. Last, the speed of `mask()` in characters per second (best of 5 runs per file).

    .venv/bin/python bench/mask_false_positives.py [FILE ...] [--context N] [--no-spans]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from unyo._records._mask import find, mask

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "ja-guides"
KINDS = ["SECRET", "EMAIL", "CARD", "MYNUMBER", "IP", "PHONE", "POSTCODE", "ADDRESS", "ACCOUNT"]


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", "⏎")


def _rates(counts: Counter[str], chars: int) -> str:
    return "  ".join(f"{kind}={counts[kind] * 10_000 / chars:.2f}" for kind in KINDS)


def _speed(text: str) -> float:
    best = min(_timed(text) for _ in range(5))
    return len(text) / best if best else float("inf")


def _timed(text: str) -> float:
    start = time.perf_counter()
    mask(text)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--context", type=int, default=30, help="characters shown on each side of a span")
    parser.add_argument("--no-spans", action="store_true", help="only the rates and the speed")
    args = parser.parse_args()
    files = args.files or sorted(CORPUS.glob("*.txt"))
    if not files:
        sys.exit(f"no documents: {CORPUS} is missing; pass files as arguments")
    total: Counter[str] = Counter()
    chars = 0
    speeds = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        spans = find(text)
        counts = Counter(kind for _, _, kind in spans)
        total += counts
        chars += len(text)
        speeds.append((len(text), _speed(text)))
        print(
            f"\n== {path.name}: {len(text):,} chars, {len(spans)} masks; per 10,000 chars: {_rates(counts, len(text))}"
        )
        if args.no_spans:
            continue
        for start, end, kind in spans:
            before = _one_line(text[max(0, start - args.context) : start])
            after = _one_line(text[end : end + args.context])
            print(f"  [{kind}] {start:>7}  …{before}⟦{_one_line(text[start:end])}⟧{after}…")
    print(f"\n== total: {chars:,} chars in {len(files)} files, {sum(total.values())} masks")
    print("counts:          " + "  ".join(f"{kind}={total[kind]}" for kind in KINDS))
    print("per 10,000 chars: " + _rates(total, chars))
    weighted = sum(n for n, _ in speeds) / sum(n / s for n, s in speeds)
    print(f"speed: {weighted:,.0f} chars/s overall (per file: {', '.join(f'{s:,.0f}' for _, s in speeds)})")


if __name__ == "__main__":
    main()
