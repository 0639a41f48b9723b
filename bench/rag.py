"""Retrieval, refusal and citations over real documents: hybrid vs pure-BM25 vs pure-dense, the
model's rerank, citation precision, query latency at 10 000 chunks, and the issue's goals table.

    python bench/rag.py                 # the table (indexes are kept in --home, so re-runs are fast)
    python bench/rag.py --tune          # fit the fusion (RRF k, keyword weights) on DEV; write data/knowledge.toml
    python bench/rag.py --calibrate     # also write the refusal threshold to src/unyo/data/knowledge.toml
    python bench/rag.py --backend both  # retrieval and latency on SQLite and on PostgreSQL + pgvector
    python bench/rag.py --answers 6 --rerank 8   # citation precision / rerank on the bundled local model

The knowledge bases are rag-ja and rag-en in --home, so `UNYO_HOME=HOME unyo eval bench/rag_ja.yaml`
runs the same questions as an eval suite (the answer task).

DEV / TEST: the questions of each set alternate in file order (1st, 3rd, ... DEV; 2nd, 4th, ... TEST).
`--tune` looks at DEV only; the table shows DEV, TEST and all, so the held-out figure is visible.

Citation precision: the bundled model answers the first --answers answerable questions of each set;
each cited sentence is supported when a passage it cites holds at least half of its content terms
(unyo._knowledge._cite.citation_precision: deterministic, no model as judge).

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
    for q in questions:  # warm up: the matrix loaded, the index's pages in memory (not measured)
        search(index, kb, q["question"], 5, mode=mode, vector=vectors.get(q["id"]))
    times = []
    for _ in range(3):  # every question three times: a shared machine's hiccups weigh less on p95
        for q in questions:
            started = time.perf_counter()
            search(index, kb, q["question"], 5, mode=mode, vector=vectors.get(q["id"]))
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def write_knowledge_toml(refusal: tuple[str, float, int] | None, retrieval: dict | None) -> None:
    """data/knowledge.toml with a new [refusal] threshold and/or [retrieval] fusion (the other kept)."""
    import tomllib

    path = ROOT / "src" / "unyo" / "data" / "knowledge.toml"
    text = path.read_text(encoding="utf-8")
    head = [ln for ln in text.splitlines() if ln.startswith("#")]
    old = tomllib.loads(text)
    lines = [*head, "", "[refusal]"]
    if refusal is not None:
        model, threshold, points = refusal
        lines.append(
            f'"{model}" = {{ min_similarity = {threshold:.4f} }}  # fitted on {points} questions by bench/rag.py'
        )
    else:
        lines += [
            f'"{m}" = {{ min_similarity = {v["min_similarity"]:.4f} }}  # fitted by bench/rag.py --calibrate'
            for m, v in old.get("refusal", {}).items()
        ]
    fusion = retrieval if retrieval is not None else old.get("retrieval")
    if fusion:
        lines += [
            "",
            "[retrieval]  # weighted RRF (unyo/_knowledge/_search.py), fitted on the DEV half by bench/rag.py --tune",
        ]
        lines += [f"{key} = {float(fusion[key]):g}" for key in ("rrf_k", "keyword_weight_ja", "keyword_weight_en")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=os.path.join(tempfile.gettempdir(), "unyo-bench-rag"))
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--calibrate", action="store_true", help="write the fitted threshold to data/knowledge.toml")
    parser.add_argument("--tune", action="store_true", help="fit the fusion on DEV and write it to data/knowledge.toml")
    parser.add_argument(
        "--answers", type=int, default=6, metavar="N",
        help="citation precision over the answers of the local model to the first N answerable questions per set "
        "(0: skip; about 30 s an answer on 2 cores)",
    )  # fmt: skip
    parser.add_argument(
        "--rerank", type=int, default=0, metavar="N",
        help="also measure the local model's rerank on the first N answerable questions per set (0: skip)",
    )  # fmt: skip
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


def refresh_terms(index, kb: str) -> int:
    """Rewrite a kept SQLite base's keyword terms when `_terms` cuts text differently now (the
    content hash makes a re-add skip unchanged files); the number of chunks rewritten."""
    from unyo._knowledge._index import index_terms

    conn = index._conn()
    rows = conn.execute(
        "SELECT c.id, c.heading, c.text, t.terms FROM kb_chunks c JOIN kb_terms t ON t.rowid = c.id WHERE c.kb=?", (kb,)
    ).fetchall()
    stale = [(index_terms(f"{h}\n{x}"), cid) for cid, h, x, terms in rows if terms != index_terms(f"{h}\n{x}")]
    with index.tx() as db:
        db.executemany("UPDATE kb_terms SET terms=? WHERE rowid=?", stale)
    return len(stale)


def ingest_rate(index, guide: Path) -> tuple[int, float]:
    """(chunks, seconds) of ingesting one guide into a fresh throwaway base (embedding included)."""
    from unyo._knowledge._ingest import add

    index.drop_base("bench-ingest")
    report = add([str(guide)], "bench-ingest", index=index)
    index.drop_base("bench-ingest")
    return report.chunks, report.seconds


def run(args: argparse.Namespace, pg_url: str | None) -> None:
    import _rag_eval as ev
    from unyo._knowledge import _search
    from unyo._knowledge._embed import LOCAL, Embedder
    from unyo._knowledge._index import Index
    from unyo._knowledge._ingest import add

    shared = shared_dir()
    index = Index(Path(args.home) / "knowledge.db")
    spec_md = spec_markdown(shared / "openai-openapi.yaml", Path(args.home) / "openai-operations.md")
    for kb, items in (
        ("rag-ja", [str(p) for p in sorted((shared / "corpus" / "ja-guides").glob("*.txt"))]),
        ("rag-en", [str(spec_md)]),
    ):
        report = add(items, kb, index=index)
        if report.failed:
            sys.exit(f"ingest failed: {report.failed}")
        if refresh_terms(index, kb):
            print(f"({kb}: keyword terms rewritten for the current unyo/_knowledge/_terms.py)\n")
    sets = {"rag-ja": load_questions("rag_questions.jsonl"), "rag-en": load_questions("rag_questions_en.jsonl")}
    script = {"rag-ja": "ja", "rag-en": "en"}
    stores = {"sqlite": index} if args.backend != "postgresql" else {}
    if pg_url:
        from unyo._knowledge._pg_index import PgIndex

        pg = PgIndex(pg_url)
        for kb in sets:
            copy_base(index, pg, kb)
        stores["postgresql"] = pg
    first = next(iter(stores.values()))
    embedder = Embedder()
    vectors = {q["id"]: embedder.query(q["question"]) for qs in sets.values() for q in qs}
    found = {(b, kb): ev.cases(st, kb, qs, vectors, relevant) for b, st in stores.items() for kb, qs in sets.items()}

    shipped = _search.fusion()
    first_name = next(iter(stores))
    dev = {kb: [c for c in found[(first_name, kb)] if c.id in {q["id"] for q in ev.split(qs, "dev")}]
           for kb, qs in sets.items()}  # fmt: skip
    if args.tune:
        k, weights = ev.tune(dev, script)
        shipped = _search.Fusion(k, weights["ja"], weights["en"])
        write_knowledge_toml(None, {"rrf_k": k, "keyword_weight_ja": weights["ja"], "keyword_weight_en": weights["en"]})
        _search.fusion.cache_clear()
    for backend, store in stores.items():  # the bench scores the lists the way search() ranks them
        for kb, qs in sets.items():
            q = next(q for q in qs if q["answerable"])
            case = next(c for c in found[(backend, kb)] if c.id == q["id"])
            hits = _search.search(store, kb, q["question"], 10, fusion_=shipped, vector=vectors[q["id"]])
            assert [h.id for h in hits] == ev.ranking(case, (shipped.k, shipped.keyword_weight(q["question"]))), kb

    print("## Retrieval (recall@5, MRR@10; DEV = odd-numbered questions, TEST = even, held out from --tune)\n")
    print(
        f"shipped fusion: RRF k = {shipped.k:g}, keyword weight {shipped.keyword_ja:g} (Japanese questions), "
        f"{shipped.keyword_en:g} (others)\n"
    )
    print(
        "| backend | set | ranking | DEV recall@5 | DEV MRR | TEST recall@5 | TEST MRR | all recall@5 | all MRR | n |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    results = {}
    for (backend, kb), cs in found.items():
        ids = {part: {q["id"] for q in ev.split(sets[kb], part)} for part in ("dev", "test", "all")}
        keyword = "BM25 only" if backend == "sqlite" else "ts_rank only"
        w = shipped.keyword_ja if script[kb] == "ja" else shipped.keyword_en
        for name, label, how in (
            ("keyword", keyword, "keyword"),
            ("dense", "dense only", "dense"),
            ("rrf", "hybrid, plain RRF (k 60, w 1)", (60.0, 1.0)),
            ("hybrid", f"hybrid, shipped (k {shipped.k:g}, w {w:g})", (shipped.k, w)),
        ):
            row = results[(backend, kb, name)] = {
                part: ev.scores([c for c in cs if c.id in ids[part]], how) for part in ids
            }
            cells = " | ".join(f"{row[p]['recall@5']:.3f} | {row[p]['mrr']:.3f}" for p in ("dev", "test", "all"))
            print(f"| {backend} | {kb} | {label} | {cells} | {row['all']['n']} |")
    hybrid = {(b, kb): results[(b, kb, "hybrid")]["all"] for b in stores for kb in sets}

    rerank = {}
    if args.rerank:
        from unyo._client._openai import OpenAI

        local = OpenAI(profile="local")
        print("\n## Rerank by the bundled local model (picks out of the hybrid top 8)\n")
        print("| set | questions | hybrid recall@5 | rerank recall@5 | hybrid MRR | rerank MRR | s per question |")
        print("|---|---|---|---|---|---|---|")
        for kb, qs in sets.items():
            r = rerank[kb] = ev.rerank_recall(
                first, kb, [q for q in qs if q["answerable"]][: args.rerank], local, relevant
            )
            print(f"| {kb} | {r['n']} | {r['hybrid'][0]:.3f} | {r['rerank'][0]:.3f} | {r['hybrid'][1]:.3f} "
                  f"| {r['rerank'][1]:.3f} | {r['seconds']:.1f} |")  # fmt: skip

    points = [p for kb, qs in sets.items() for p in similarities(first, kb, qs)]
    threshold = fit_threshold(points)
    in_refused, in_false = refusal_rates(points, lambda _: threshold)
    loo = {i: fit_threshold([p for p in points if p[2] != i]) for _, _, i in points}
    loo_refused, loo_false = refusal_rates(points, lambda i: loo[i])
    answerable = [s for s, a, _ in points if a]
    unanswerable = [s for s, a, _ in points if not a]
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

    cites = {}
    if args.answers:
        from unyo._client._openai import OpenAI

        local = OpenAI(profile="local")
        print("\n## Citation precision (the bundled local model's answers; rubric: unyo/_knowledge/_cite.py)\n")
        print("| set | answers | refused | extractive | cited sentences | supported share | s per answer |")
        print("|---|---|---|---|---|---|---|")
        for kb, qs in sets.items():
            c = cites[kb] = ev.answers(first, kb, [q for q in qs if q["answerable"]][: args.answers], local, 120)
            share = "-" if c["precision"] is None else f"{c['precision']:.3f}"
            print(f"| {kb} | {c['answers']} | {c['refused']} | {c['extractive']} | {c['sentences']} | {share} "
                  f"| {c['seconds']:.1f} |")  # fmt: skip

    print("\n## Ingest and latency\n")
    guide = shared / "corpus" / "ja-guides" / "openai-api-basics.txt"
    chunks, seconds = ingest_rate(index, guide)
    print(
        f"ingest: {guide.name} into a fresh base: {chunks} chunks in {seconds:.1f}s = {chunks / seconds:.2f} chunks/s"
    )
    all_questions = sets["rag-ja"] + sets["rag-en"]
    lat = {}
    rows_out = []
    for backend, store in stores.items():
        large, build_s = build_large(index, store, list(sets), args.chunks)
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

    print("\n## Goals (issue 15)\n")
    rows: list[tuple[str, str, str, str]] = []
    for backend in stores:
        for kb in sets:
            r = hybrid[(backend, kb)]
            met = "met" if r["recall@5"] >= GOALS["recall@5"] else "not met"
            rows.append((f"retrieval recall@5 ({backend}, {kb}, hybrid)", ">= 0.9", f"{r['recall@5']:.3f}", met))
            rows.append((f"MRR@10 ({backend}, {kb}, hybrid)", "reported", f"{r['mrr']:.3f}", "-"))
    for kb, c in cites.items():
        share = "-" if c["precision"] is None else f"{c['precision']:.3f}"
        rows.append(
            (f"citation precision ({kb}, local model, {c['sentences']} cited sentences)", "reported", share, "-")
        )
    if not cites:
        rows.append(("citation precision", "reported", "not run (--answers 0)", "-"))
    rows += [
        ("refusal rate on unanswerable (leave-one-out)", ">= 0.9", f"{loo_refused:.3f}",
         "met" if loo_refused >= GOALS["refusal"] else "not met"),
        ("false refusals (leave-one-out)", "<= 0.1", f"{loo_false:.3f}",
         "met" if loo_false <= GOALS["false_refusals"] else "not met"),
    ]  # fmt: skip
    for backend in stores:
        p50, p95 = lat[(backend, "hybrid", True)]
        for name, value in (("p50", p50), ("p95", p95)):
            met = "met" if value < GOALS[f"{name}_ms"] else "not met"
            rows.append(
                (f"query {name} at {args.chunks} chunks ({backend}, hybrid, index)", "< 50 ms", f"{value:.1f} ms", met)
            )
        with_embedding = lat[(backend, "hybrid", False)]
        rows.append((f"query p50 / p95 ({backend}, hybrid, with the e5 query embedding)", "reported",
                     f"{with_embedding[0]:.1f} / {with_embedding[1]:.1f} ms", "-"))  # fmt: skip
    rows.append(("ingest rate (local e5 embedding, one guide)", "reported", f"{chunks / seconds:.2f} chunks/s", "-"))
    print("| metric | goal | value | met |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    for backend in stores:
        for kb in sets:
            best_single = max(
                results[(backend, kb, "keyword")]["all"]["mrr"], results[(backend, kb, "dense")]["all"]["mrr"]
            )
            print(
                f"hybrid MRR / best single-list MRR ({backend}, {kb}): "
                f"{hybrid[(backend, kb)]['mrr'] / max(best_single, 1e-9):.2f}x"
            )
    if args.calibrate:
        write_knowledge_toml((LOCAL, threshold, len(points)), None)
        print(f"\nwrote min_similarity = {threshold:.4f} for {LOCAL} to src/unyo/data/knowledge.toml")
    if args.tune:
        print(
            f"\nwrote [retrieval] rrf_k = {shipped.k:g}, keyword weights {shipped.keyword_ja:g} (ja) / "
            f"{shipped.keyword_en:g} (en)"
        )


if __name__ == "__main__":
    main()
