"""Offline classification quality: embeddings vs the local LLM vs an LLM through the fault server.

    python bench/offline_quality.py [--data CSV] [--labels FILE] [--llm-sample N]

The data is a labelled CSV (columns `text`, `category`; default bench/data/inquiries_heldout.csv:
100 inquiries, 20 per triage category, half Japanese, half English, none of them among the labels
file's examples; bench/data/inquiries_long.csv is a second set of 25 longer ones). The labels
are the triage task's labels file (descriptions + 10 examples per label, both languages).
Printed: per-class precision and recall, accuracy and rows/s for

    embeddings      the bundled multilingual-e5-small, nearest label (what triage uses offline);
                    rows/s for the classification part, in batches and one row at a time
    local LLM       SmolLM2-135M through `classify(via="llm")`: slow, so a balanced sample only
    fault server    an LLM call per row through the guarded client to unyo.testing.FaultServer: the
                    pipeline's cost per row; its answers are a schema instance, not a judgement,
                    so its accuracy is that of a constant answer (the baseline to beat)

then accuracy against the number of examples per label (0, 3, 10), the calibration of the
confidence (mean confidence vs accuracy; accuracy above the 0.6 threshold), and the goals.
Against real providers, the same comparison runs through `unyo eval compare`.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / "data" / "inquiries_heldout.csv"


def read(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["text"], r["category"]) for r in csv.DictReader(f)]


def report(name: str, names: list[str], truth: list[str], predicted: list[str | None], seconds: float) -> float:
    rows = len(truth)
    accuracy = sum(t == p for t, p in zip(truth, predicted, strict=True)) / rows
    print(f"\n## {name}: {rows} rows, accuracy {accuracy:.3f}, {rows / seconds:.1f} rows/s ({seconds:.2f} s)")
    print(f"{'label':<16} {'precision':>9} {'recall':>7} {'support':>8}")
    for label in names:
        chosen = sum(p == label for p in predicted)
        right = sum(p == label == t for t, p in zip(truth, predicted, strict=True))
        support = truth.count(label)
        precision = f"{right / chosen:.2f}" if chosen else "-"
        recall = f"{right / support:.2f}" if support else "-"
        print(f"{label:<16} {precision:>9} {recall:>7} {support:>8}")
    return accuracy


def embeddings(data: list[tuple[str, str]], labels: object) -> tuple[list[object], float, float, float, float]:
    """(classifications, batch seconds, batch CPU seconds, one-at-a-time rows/s and rows per CPU
    second), the label set fitted beforehand. CPU time counts every thread of the process."""
    import unyo
    from unyo._quality import _vectors
    from unyo._quality._embed_classify import classify_vectors, fitted_flow
    from unyo._quality._flow import run

    client = unyo.OpenAI(profile="local")
    classifier, _ = run(fitted_flow(client, labels, None), client)  # type: ignore[arg-type]
    texts = [t for t, _ in data]
    _vectors.clear_cache()
    started, cpu = time.perf_counter(), time.process_time()
    results = classify_vectors(classifier, _vectors.local_vectors(texts))
    batch_s, batch_cpu = time.perf_counter() - started, time.process_time() - cpu
    _vectors.clear_cache()
    sample = texts[:30]
    started, cpu = time.perf_counter(), time.process_time()
    for text in sample:
        classify_vectors(classifier, _vectors.local_vectors([text]))
    single, single_cpu = len(sample) / (time.perf_counter() - started), len(sample) / (time.process_time() - cpu)
    return results, batch_s, batch_cpu, single, single_cpu


def by_examples(data: list[tuple[str, str]], labels: object) -> list[tuple[int, float, float]]:
    """(examples per label, accuracy, mean confidence) for 0, 3 and 10 examples."""
    import unyo
    from unyo._quality import _vectors
    from unyo._quality._embed_classify import classify_vectors, fitted_flow
    from unyo._quality._flow import run

    client = unyo.OpenAI(profile="local")
    vectors = _vectors.local_vectors([t for t, _ in data])
    out = []
    for k in (0, 3, 10):
        subset = labels.limited(k)  # type: ignore[attr-defined]
        classifier, _ = run(fitted_flow(client, subset, None), client)
        results = classify_vectors(classifier, vectors)
        accuracy = sum(r.label == c for r, (_, c) in zip(results, data, strict=True)) / len(data)
        out.append((k, accuracy, sum(r.confidence or 0 for r in results) / len(results)))
    return out


def balanced(data: list[tuple[str, str]], n: int) -> list[tuple[str, str]]:
    per: dict[str, list[tuple[str, str]]] = {}
    for row in data:
        per.setdefault(row[1], []).append(row)
    out: list[tuple[str, str]] = []
    while len(out) < n and any(per.values()):
        for rows in per.values():
            if rows and len(out) < n:
                out.append(rows.pop(0))
    return out


def local_llm(sample: list[tuple[str, str]], labels: object) -> tuple[list[str | None], float]:
    import unyo

    client = unyo.OpenAI(profile="local")
    started = time.perf_counter()
    found = [unyo.classify(t, labels, via="llm", client=client).label for t, _ in sample]
    return found, time.perf_counter() - started


def fault_llm(data: list[tuple[str, str]], labels: object) -> tuple[list[str | None], float]:
    import unyo
    from unyo.testing import FaultServer

    with FaultServer() as server:
        settings = unyo.load_settings(
            profile="openai", api_key="sk-bench-000000000000000000", base_url=server.url, model="gpt-4o-mini"
        )
        client = unyo.OpenAI(settings=settings)
        started = time.perf_counter()
        found = [unyo.classify(t, labels, via="llm", client=client).label for t, _ in data]
        seconds = time.perf_counter() - started
    return found, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled CSV: text, category")
    parser.add_argument("--labels", type=Path, default=None, help="labels file (default: the triage task's)")
    parser.add_argument("--llm-sample", type=int, default=10, help="rows for the local LLM (slow; 0 skips it)")
    args = parser.parse_args()
    os.environ.setdefault("UNYO_HOME", tempfile.mkdtemp(prefix="unyo-bench-quality-"))
    os.environ.pop("OPENAI_API_KEY", None)

    from unyo._jobs._tasks._spec import builtin_dir
    from unyo._quality._labels import load_labels

    labels = load_labels(args.labels or builtin_dir() / "triage" / "labels.toml")
    data = read(args.data)
    unknown = sorted({c for _, c in data} - set(labels.names))
    if unknown:
        print(f"{args.data}: categories not in the labels file: {unknown}", file=sys.stderr)
        return 2
    names = labels.names
    truth = [c for _, c in data]
    counts = Counter(truth)
    langs = Counter("en" if t.isascii() else "ja" for t, _ in data)
    print(f"# offline classification quality · {args.data.name}: {len(data)} rows {dict(counts)} {dict(langs)}")
    print(f"labels: {labels.source} ({labels.examples_per_label} examples) · load average {os.getloadavg()[0]:.1f}")

    results, batch_s, batch_cpu, single, single_cpu = embeddings(data, labels)
    predicted = [r.label for r in results]  # type: ignore[attr-defined]
    accuracy = report("embeddings (multilingual-e5-small, nearest label)", names, truth, predicted, batch_s)
    batch_rate = len(data) / batch_s
    cores = os.cpu_count() or 1
    print(f"CPU time: {len(data) / batch_cpu:.1f} rows per CPU-second (x {cores} cores on an idle machine: "
          f"about {len(data) / batch_cpu * cores:.0f} rows/s)")  # fmt: skip
    print(f"one row at a time (as a batch run calls it): {single:.1f} rows/s, {single_cpu:.1f} rows per CPU-second")
    confidences = [r.confidence or 0 for r in results]  # type: ignore[attr-defined]
    sure = [p == t for p, t, c in zip(predicted, truth, confidences, strict=True) if c >= 0.6]
    print(
        f"calibration: mean confidence {sum(confidences) / len(confidences):.3f} vs accuracy {accuracy:.3f}; "
        f"{len(sure)} rows at >= 0.6 are {sum(sure) / max(len(sure), 1):.3f} right, "
        f"{len(data) - len(sure)} go to a human"
    )

    rows: list[tuple[str, str, str, str]] = [("embeddings", f"{accuracy:.3f}", f"{batch_rate:.1f}", str(len(data)))]
    if args.llm_sample > 0:
        sample = balanced(data, args.llm_sample)
        found, seconds = local_llm(sample, labels)
        acc = report(f"local LLM (SmolLM2-135M), a balanced sample of {len(sample)}", names,
                     [c for _, c in sample], found, seconds)  # fmt: skip
        rows.append(("local LLM (sample)", f"{acc:.3f}", f"{len(sample) / seconds:.2f}", str(len(sample))))
    found, seconds = fault_llm(data, labels)
    acc = report("LLM through the fault server (canned answers: pipeline cost only)", names, truth, found, seconds)
    rows.append(("fault-server LLM", f"{acc:.3f}", f"{len(data) / seconds:.1f}", str(len(data))))

    print("\n## accuracy against examples per label (embeddings)")
    print(f"{'examples/label':>14} {'accuracy':>9} {'mean confidence':>16}")
    for k, acc_k, conf in by_examples(data, labels):
        print(f"{k:>14} {acc_k:>9.3f} {conf:>16.3f}{'  (uncalibrated: no examples)' if k == 0 else ''}")

    print("\n## summary")
    print(f"{'method':<20} {'accuracy':>9} {'rows/s':>8} {'rows':>5}")
    for method, acc_s, rate, n in rows:
        print(f"{method:<20} {acc_s:>9} {rate:>8} {n:>5}")
    embed_vs_llm = batch_rate / float(rows[1][2]) if len(rows) > 2 else None
    if embed_vs_llm:
        print(f"embeddings are {embed_vs_llm:.0f}x the local LLM's rows/s")
    ok_acc, ok_rate = accuracy >= 0.85, batch_rate >= 20
    print(f"goal accuracy >= 0.85: {'met' if ok_acc else 'NOT met'} ({accuracy:.3f})")
    print(
        f"goal >= 20 rows/s for the classification part: {'met' if ok_rate else 'NOT met'} ({batch_rate:.1f} "
        f"wall-clock at load average {os.getloadavg()[0]:.1f} on {cores} cores)"
    )
    return 0 if ok_acc and ok_rate else 1


if __name__ == "__main__":
    sys.exit(main())
