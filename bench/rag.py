"""Retrieval and refusal over real documents: hybrid vs pure-BM25 vs pure-dense, and query
latency at 10 000 chunks.

    python bench/rag.py                 # the table (indexes are kept in --home, so re-runs are fast)
    python bench/rag.py --calibrate     # also write the refusal threshold to src/unyo/data/knowledge.toml
    python bench/rag.py --backend both  # retrieval and latency on SQLite and on PostgreSQL + pgvector

Corpora (read in place, never copied into the repository):
    ja   ../shared/corpus/ja-guides/*.txt           questions: bench/rag_questions.jsonl
    en   ../shared/openai-openapi.yaml, one section per operation (summary + description),
         written to a temporary Markdown file        questions: bench/rag_questions_en.jsonl

A retrieved passage is relevant when its heading path + text contains one of the question's
`evidence` strings (and it comes from `source`, when one is named), so the labels survive a
change of chunking. Unanswerable questions have no evidence: they must be refused.

Refusal: the best cosine of the question to any passage (`similarity`) below a threshold. The
threshold is calibrated on these questions (midpoint of the best-separating gap); the table
also shows leave-one-out figures (each question judged by a threshold fitted without it), which
is what an unseen question set should expect.

Latency: a 10 000-chunk knowledge base built from the real chunks (text and vectors) repeated
with small perturbations (embedding 10 000 passages with the local model would take an hour on
this machine); each query includes embedding the question with the local model.

Backends: SQLite (UNYO_HOME/knowledge.db, NumPy scan) is always where the corpora are ingested;
`--backend postgresql|both` copies those bases (chunks and vectors, no re-embedding) into
PostgreSQL (`--pg-url`, in a schema of its own that is dropped at the end) and measures there too:
pgvector HNSW for the dense list, full text (GIN, ts_rank) for the keyword list.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"recall@5": 0.9, "refusal": 0.9, "false_refusals": 0.1, "p50_ms": 50, "p95_ms": 50}


def shared_dir() -> Path:
    """../shared from the repository root (or from its parent: a worktree one level deeper)."""
    for base in (ROOT.parent, ROOT.parent.parent):
        if (base / "shared" / "corpus").is_dir():
            return base / "shared"
    sys.exit("../shared/corpus not found next to the repository")


def load_questions(name: str) -> list[dict]:
    return [json.loads(line) for line in (ROOT / "bench" / name).read_text(encoding="utf-8").splitlines() if line]


def spec_markdown(spec_path: Path, out: Path) -> Path:
    import yaml

    spec = yaml.load(spec_path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    lines = ["# OpenAI API operations", ""]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and op.get("summary"):
                lines += [f"## {method.upper()} {path}", "", op["summary"].strip(), ""]
                if op.get("description"):
                    lines += [op["description"].strip(), ""]
    out.write_text("\n".join(lines), encoding="utf-8")
    return out


def relevant(hit, q: dict) -> bool:
    body = f"{hit.heading}\n{hit.text}"
    return any(e in body for e in q["evidence"]) and (not q.get("source") or hit.source.endswith(q["source"]))


def retrieval(index, kb: str, questions: list[dict], mode: str) -> dict:
    from unyo._knowledge._search import search

    recalls, rrs = [], []
    for q in questions:
        if not q["answerable"]:
            continue
        hits = search(index, kb, q["question"], 10, mode=mode)
        ranks = [i for i, h in enumerate(hits, 1) if relevant(h, q)]
        recalls.append(1.0 if ranks and ranks[0] <= 5 else 0.0)
        rrs.append(1.0 / ranks[0] if ranks else 0.0)
    return {"recall@5": statistics.mean(recalls), "mrr": statistics.mean(rrs), "n": len(recalls)}


def similarities(index, kb: str, questions: list[dict]) -> list[tuple[float, bool, str]]:
    from unyo._knowledge._search import search

    out = []
    for q in questions:
        hits = search(index, kb, q["question"], 1)
        out.append((getattr(hits[0], "top_dense", 0.0) if hits else 0.0, q["answerable"], q["id"]))
    return out


def fit_threshold(points: list[tuple[float, bool, str]]) -> float:
    """The cut with the fewest mistakes (ties: the widest gap), at the midpoint between scores."""
    scores = sorted({s for s, _, _ in points})
    cuts = [(a + b) / 2 for a, b in zip(scores, scores[1:])] or [scores[0]]

    def mistakes(t: float) -> int:
        return sum((s < t) == answerable for s, answerable, _ in points)

    best = min(mistakes(t) for t in cuts)
    candidates = [t for t in cuts if mistakes(t) == best]

    def gap(t: float) -> float:
        return min(abs(s - t) for s, _, _ in points)

    return max(candidates, key=gap)


def refusal_rates(points, threshold_for) -> tuple[float, float]:
    unanswerable = [(s, i) for s, a, i in points if not a]
    answerable = [(s, i) for s, a, i in points if a]
    refused = sum(s < threshold_for(i) for s, i in unanswerable) / len(unanswerable)
    false = sum(s < threshold_for(i) for s, i in answerable) / len(answerable)
    return refused, false


def base_rows(index, kb: str) -> list[tuple]:
    """(source, sha256, chars, [(Chunk, vector)]) of every document of a SQLite base."""
    import numpy as np

    from unyo._knowledge._chunk import Chunk

    conn = index._conn()
    out = []
    for doc_id, source, sha, chars in conn.execute(
        "SELECT id, source, sha256, chars FROM kb_documents WHERE kb=? ORDER BY id", (kb,)
    ).fetchall():
        rows = conn.execute(
            "SELECT heading, page, place, text, vector FROM kb_chunks WHERE doc_id=? ORDER BY ord", (doc_id,)
        ).fetchall()
        chunks = [(Chunk(r[3], r[0], r[1], r[2]), np.frombuffer(r[4], dtype=np.float32)) for r in rows]
        out.append((source, sha, chars, chunks))
    return out


def copy_base(source, target, kb: str) -> None:
    """The SQLite base `kb` written into another store, as ingest would have (same vectors)."""
    import numpy as np

    model, dims, _ = source.base(kb)
    target.drop_base(kb)
    target.ensure_base(kb, model, dims)
    for name, sha, chars, rows in base_rows(source, kb):
        target.put_document(kb, name, sha, chars, [c for c, _ in rows], np.vstack([v for _, v in rows]))


def build_large(source, target, source_kbs: list[str], n: int) -> tuple[str, float]:
    """A knowledge base of `n` chunks in `target` from the real ones of `source` (SQLite), each
    copy's vector nudged and renormalised (the same seed, so both backends get the same base)."""
    import numpy as np

    from unyo._knowledge._chunk import Chunk
    from unyo._knowledge._embed import LOCAL

    rng = np.random.default_rng(7)
    rows = [pair for kb in source_kbs for doc in base_rows(source, kb) for pair in doc[3]]
    kb = f"bench-{n}"
    target.drop_base(kb)
    target.ensure_base(kb, LOCAL, 384)
    started = time.perf_counter()
    per_doc = 500
    for d in range(0, n, per_doc):
        chunks, vectors = [], []
        for j in range(d, min(n, d + per_doc)):
            chunk, vector = rows[j % len(rows)]
            noisy = vector + rng.normal(0, 0.02, vector.shape).astype(np.float32)
            chunks.append(Chunk(f"{chunk.text} (copy {j})", chunk.heading, chunk.page))
            vectors.append(noisy / np.linalg.norm(noisy))
        target.put_document(kb, f"synthetic-{d}", str(d), 0, chunks, np.vstack(vectors))
    return kb, time.perf_counter() - started


@contextmanager
def pg_schema(url: str) -> Iterator[str]:
    """`url` on a fresh schema (pgvector stays where it is installed), dropped afterwards."""
    import psycopg

    schema = f"unyo_bench_rag_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def latency(index, kb: str, questions: list[dict], mode: str, given_vector: bool) -> tuple[float, float]:
    """p50, p95 ms of a search; `given_vector`: the question's embedding computed beforehand (index cost only)."""
    from unyo._knowledge._embed import Embedder
    from unyo._knowledge._search import search

    embedder = Embedder()
    vectors = {q["id"]: embedder.query(q["question"]) for q in questions} if given_vector else {}
    search(index, kb, questions[0]["question"], 5, mode=mode)  # load the matrix once
    times = []
    for q in questions:
        started = time.perf_counter()
        search(index, kb, q["question"], 5, mode=mode, vector=vectors.get(q["id"]))
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def write_threshold(model: str, threshold: float, points: int) -> None:
    path = ROOT / "src" / "unyo" / "data" / "knowledge.toml"
    head = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("#")]
    body = [
        "",
        "[refusal]",
        f'"{model}" = {{ min_similarity = {threshold:.4f} }}  # fitted on {points} questions by bench/rag.py',
    ]
    path.write_text("\n".join(head + body) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=os.path.join(tempfile.gettempdir(), "unyo-bench-rag"))
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--calibrate", action="store_true", help="write the fitted threshold to data/knowledge.toml")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("UNYO_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test"),
        help="the PostgreSQL server (with pgvector) for --backend postgresql|both; a temporary schema is used",
    )
    args = parser.parse_args()
    os.environ["UNYO_HOME"] = args.home
    with pg_schema(args.pg_url) if args.backend != "sqlite" else nullcontext(None) as pg_url:
        run(args, pg_url)


def run(args: argparse.Namespace, pg_url: str | None) -> None:
    from unyo._knowledge._embed import LOCAL
    from unyo._knowledge._index import Index
    from unyo._knowledge._ingest import add

    shared = shared_dir()
    index = Index(Path(args.home) / "knowledge.db")
    spec_md = spec_markdown(shared / "openai-openapi.yaml", Path(args.home) / "openai-operations.md")
    ingest = {}
    for kb, items in (
        ("ja", [str(p) for p in sorted((shared / "corpus" / "ja-guides").glob("*.txt"))]),
        ("en", [str(spec_md)]),
    ):
        report = add(items, kb, index=index)
        ingest[kb] = report
        if report.failed:
            sys.exit(f"ingest failed: {report.failed}")
    sets = {"ja": load_questions("rag_questions.jsonl"), "en": load_questions("rag_questions_en.jsonl")}
    stores = {"sqlite": index} if args.backend != "postgresql" else {}
    if pg_url:
        from unyo._knowledge._pg_index import PgIndex

        pg = PgIndex(pg_url)
        for kb in sets:
            copy_base(index, pg, kb)
        stores["postgresql"] = pg
    first = next(iter(stores.values()))

    print("## Retrieval (k = 5)\n")
    print("| backend | set | mode | recall@5 | MRR@10 | questions |")
    print("|---|---|---|---|---|---|")
    results = {}
    for backend, store in stores.items():
        for kb, questions in sets.items():
            for mode in ("hybrid", "keyword", "dense"):
                r = retrieval(store, kb, questions, mode)
                results[(backend, kb, mode)] = r
                keyword = "BM25 only" if backend == "sqlite" else "ts_rank only"
                label = {"keyword": keyword, "dense": "dense only", "hybrid": "hybrid (RRF)"}[mode]
                print(f"| {backend} | {kb} | {label} | {r['recall@5']:.3f} | {r['mrr']:.3f} | {r['n']} |")

    points = [p for kb, qs in sets.items() for p in similarities(first, kb, qs)]
    threshold = fit_threshold(points)
    in_refused, in_false = refusal_rates(points, lambda _: threshold)
    loo = {i: fit_threshold([p for p in points if p[2] != i]) for _, _, i in points}
    loo_refused, loo_false = refusal_rates(points, lambda i: loo[i])
    answerable = [s for s, a, _ in points if a]
    unanswerable = [s for s, a, _ in points if not a]
    from unyo._knowledge import _search

    sweep = []
    for k in (5, 20, 60):
        _search.RRF_K = k
        sweep.append((k, [retrieval(first, kb, qs, "hybrid")["recall@5"] for kb, qs in sets.items()]))
    _search.RRF_K = 60
    print(
        "\nRRF constant (shipped: 60, the usual default; not tuned to these questions): "
        + "; ".join(f"k={k}: recall@5 " + "/".join(f"{r:.3f}" for r in rs) for k, rs in sweep)
    )
    print(f"\n## Refusal (similarity = best cosine of the question to any passage; {LOCAL})\n")
    print(
        f"answerable: min {min(answerable):.4f} median {statistics.median(answerable):.4f}; "
        f"unanswerable: max {max(unanswerable):.4f} median {statistics.median(unanswerable):.4f}"
    )
    print(f"fitted threshold: {threshold:.4f}\n")
    print("| | refusal rate on unanswerable (goal >= 0.9) | false refusals (goal <= 0.1) |")
    print("|---|---|---|")
    print(f"| fitted on all {len(points)} | {in_refused:.3f} | {in_false:.3f} |")
    print(f"| leave-one-out | {loo_refused:.3f} | {loo_false:.3f} |")

    print("\n## Ingest and latency\n")
    for kb, report in ingest.items():
        if report.chunks:
            print(
                f"ingest {kb}: {report.chunks} chunks in {report.seconds:.1f}s = "
                f"{report.chunks / report.seconds:.2f} chunks/s (local e5 embedding dominates)"
            )
        else:
            print(f"ingest {kb}: unchanged since the last run (content hash); delete {args.home} to re-measure")
    all_questions = sets["ja"] + sets["en"]
    lat = {}
    rows_out = []
    for backend, store in stores.items():
        large, build_s = build_large(index, store, ["ja", "en"], args.chunks)
        print(
            f"{backend}: synthetic {args.chunks}-chunk base written in {build_s:.1f}s "
            f"({args.chunks / build_s:.0f} chunks/s without embedding)"
        )
        if backend == "sqlite":
            started = time.perf_counter()
            Index(index.path)._matrix(large)
            cold_ms = (time.perf_counter() - started) * 1000
            print(f"sqlite: cold load of the {args.chunks} x 384 vector matrix: {cold_ms:.1f} ms")
        for mode in ("hybrid", "keyword", "dense"):
            for given in (True, False) if mode != "keyword" else (True,):
                lat[(backend, mode, given)] = p50, p95 = latency(store, large, all_questions, mode, given)
                rows_out.append(
                    f"| {backend} | {mode} | {'yes (index only)' if given else 'no (e5 query embedding included)'} "
                    f"| {p50:.1f} | {p95:.1f} | < 50 |"
                )
        store.drop_base(large)
    print(f"\nmachine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    print("| backend | mode | question embedded beforehand | p50 ms | p95 ms | goal |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows_out))

    print("\n## Goals\n")
    rows = []
    for backend in stores:
        worst = min(results[(backend, kb, "hybrid")]["recall@5"] for kb in sets)
        rows.append((f"retrieval recall@5 ({backend}, hybrid, worst set)", worst, worst >= GOALS["recall@5"]))
    rows += [
        ("refusal rate on unanswerable (leave-one-out)", loo_refused, loo_refused >= GOALS["refusal"]),
        ("false refusals (leave-one-out)", loo_false, loo_false <= GOALS["false_refusals"]),
    ]
    for backend in stores:
        p50, p95 = lat[(backend, "hybrid", True)]
        rows += [
            (f"query p50 ms at {args.chunks} chunks ({backend}, hybrid, index)", p50, p50 < GOALS["p50_ms"]),
            (f"query p95 ms at {args.chunks} chunks ({backend}, hybrid, index)", p95, p95 < GOALS["p95_ms"]),
        ]
        with_embedding = lat[(backend, "hybrid", False)][0]
        rows.append((f"query p50 ms ({backend}, hybrid, with embedding)", with_embedding, with_embedding < 50))
    print("| metric | value | met |")
    print("|---|---|---|")
    for name, value, met in rows:
        print(f"| {name} | {value:.3f} | {'yes' if met else 'NO'} |")
    for backend in stores:
        for kb in sets:
            gain = results[(backend, kb, "hybrid")]["mrr"] / max(
                results[(backend, kb, "keyword")]["mrr"], results[(backend, kb, "dense")]["mrr"], 1e-9
            )
            print(f"hybrid MRR / best single-list MRR ({backend}, {kb}): {gain:.2f}x")
    if args.calibrate:
        write_threshold(LOCAL, threshold, len(points))
        print(f"\nwrote min_similarity = {threshold:.4f} for {LOCAL} to src/unyo/data/knowledge.toml")


if __name__ == "__main__":
    main()
