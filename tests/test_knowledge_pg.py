"""Knowledge bases in PostgreSQL (UNYO_DB_URL=postgresql://): the same ingest, search, answers and
CLI as SQLite, on the machine's real server with pgvector, each test in a fresh schema (the
`pg_url` fixture). Embeddings are the bundled local model; answers come from the fault server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FAKE_KEY, run_cli
from unyo._knowledge import _index
from unyo._knowledge._chunk import Chunk
from unyo._knowledge._index import Index, shared_index
from unyo._knowledge._ingest import add, remove
from unyo._knowledge._pg_index import PgIndex, dense_query, index_name
from unyo._knowledge._search import search
from unyo.testing import FaultServer

GUIDE = """# 社内AI利用ガイド

## 1. APIキーの管理
APIキーは環境変数に保存します。コードに直接書いてはいけません。漏洩したらすぐに再発行します。

## 2. 料金
料金はトークン数に応じた従量課金です。毎月の上限は経費精算システムで申請します。

- 上限の初期値は月5万円です。
- 超過しそうなときは情報システム部に連絡します。
"""

TRAVEL = """# 出張規程

## 宿泊
宿泊費の上限は一泊一万二千円です。領収書を必ず提出してください。

## 交通
新幹線は普通車指定席を利用します。グリーン車は部長以上に限ります。
"""

NOTES = """# Support handbook

## Opening hours
The support desk is open on weekdays from 9:00 to 17:30 and closed on public holidays.

## Escalation
Security incidents are escalated to the on-call engineer within fifteen minutes.
"""

QUESTIONS = [
    ("APIキーはどこに保存しますか", "環境変数"),
    ("毎月の料金の上限はいくらですか", "月5万円"),
    ("宿泊費の上限は?", "一万二千円"),
    ("グリーン車は誰が使えますか", "部長以上"),
    ("When is the support desk open?", "weekdays"),
    ("How fast are security incidents escalated?", "fifteen minutes"),
]


@pytest.fixture
def docs(clean_env: Path) -> Path:
    folder = clean_env / "docs"
    folder.mkdir()
    (folder / "guide.md").write_text(GUIDE, encoding="utf-8")
    (folder / "travel.txt").write_text(TRAVEL, encoding="utf-8")
    (folder / "notes.md").write_text(NOTES, encoding="utf-8")
    return folder


@pytest.fixture
def pg(pg_url: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """UNYO_DB_URL on a fresh schema: `shared_index()` is then the PostgreSQL one."""
    monkeypatch.setenv("UNYO_DB_URL", pg_url)
    yield pg_url
    with _index._shared_lock:
        for store in list(_index._shared.values()):
            conn = getattr(getattr(store, "_local", None), "conn", None)
            if isinstance(store, PgIndex) and conn is not None:
                conn.close()
        _index._shared.clear()


def _rows(url: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def test_the_factory_picks_postgresql_and_the_same_search_finds_the_same_passages(docs: Path, pg: str) -> None:
    index = shared_index()
    assert isinstance(index, PgIndex) and index.dialect == "postgresql"
    sqlite = Index(docs.parent / "sqlite" / "knowledge.db")
    for store in (index, sqlite):
        report = add([str(docs)], "team", index=store)
        assert sorted(r.status for r in report.results) == ["added"] * 3 and report.chunks >= 6
    assert index.chunk_count("team") == sqlite.chunk_count("team")
    assert not (docs.parent.parent / "unyo-home" / "knowledge.db").exists()  # nothing went to SQLite
    for question, evidence in QUESTIONS:
        on_pg, on_sqlite = search(index, "team", question, 3), search(sqlite, "team", question, 3)
        assert evidence in on_pg[0].text, (question, on_pg[0].text)
        assert (on_pg[0].source, on_pg[0].heading, on_pg[0].text) == (
            on_sqlite[0].source,
            on_sqlite[0].heading,
            on_sqlite[0].text,
        )
        assert on_pg[0].dense == pytest.approx(on_sqlite[0].dense, abs=1e-4)  # the same cosine
        assert on_pg[0].keyword is not None and on_pg[0].keyword > 0
        assert on_pg[0].top_dense == pytest.approx(on_sqlite[0].top_dense, abs=1e-4)  # type: ignore[attr-defined]


def test_incremental_by_hash_a_changed_file_replaces_its_chunks_and_rm_removes(docs: Path, pg: str) -> None:
    index = shared_index()
    add([str(docs)], "ja")
    generation = index.base("ja")[2]
    again = add([str(docs / "*.md"), str(docs / "travel.txt")], "ja")
    assert [r.status for r in again.results] == ["unchanged"] * 3 and again.chunks == 0
    assert index.base("ja")[2] == generation  # nothing written
    (docs / "travel.txt").write_text("# 出張規程\n\n## 日当\n日当は一日三千円です。\n", encoding="utf-8")
    changed = add([str(docs)], "ja")
    assert sorted(r.status for r in changed.results) == ["unchanged", "unchanged", "updated"]
    texts = [h.text for h in search(index, "ja", "宿泊費の上限", 10)]
    assert not any("一万二千円" in t for t in texts) and any("三千円" in t for t in texts)
    travel = str((docs / "travel.txt").resolve())
    rows = _rows(
        pg, f"SELECT COUNT(*) FROM kb_chunks c JOIN kb_documents d ON d.id = c.doc_id WHERE d.source = '{travel}'"
    )
    assert rows == [(1,)]  # the old version's chunks are gone, not orphaned
    assert remove([str(docs / "travel.txt")], "ja") == [travel]
    assert sorted(Path(d.source).name for d in index.documents("ja")) == ["guide.md", "notes.md"]
    assert (
        _rows(pg, "SELECT COUNT(*) FROM kb_chunks")[0][0]
        == index.chunk_count("ja")
        == sum(d.chunks for d in index.documents("ja"))
    )
    assert index.drop_base("ja") and index.bases() == [] and _rows(pg, "SELECT COUNT(*) FROM kb_chunks") == [(0,)]
    assert not _rows(pg, "SELECT 1 FROM pg_indexes WHERE indexname LIKE 'kb_chunks_hnsw_%'")  # its index went too


def test_a_failure_while_writing_rolls_the_document_back(docs: Path, pg: str, monkeypatch: pytest.MonkeyPatch) -> None:
    add([str(docs)], "ja")
    index = shared_index()
    before = (index.chunk_count("ja"), [d.sha256 for d in index.documents("ja")])
    (docs / "guide.md").write_text(GUIDE + "\n## 3. 追記\n新しい段落です。\n", encoding="utf-8")
    import unyo._knowledge._pg_index as module

    real, calls = module.index_terms, []

    def failing(text: str) -> str:
        calls.append(text)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(text)

    monkeypatch.setattr(module, "index_terms", failing)
    with pytest.raises(OSError):
        add([str(docs / "guide.md")], "ja")
    monkeypatch.setattr(module, "index_terms", real)
    assert (index.chunk_count("ja"), [d.sha256 for d in index.documents("ja")]) == before
    assert "追記" not in " ".join(h.heading for h in search(index, "ja", "追記 新しい段落", 10))


WRITER = """
import sys
import numpy as np
from unyo._knowledge._chunk import Chunk
from unyo._knowledge._pg_index import PgIndex

url, me = sys.argv[1], int(sys.argv[2])
index = PgIndex(url)
index.ensure_base("race", "m", 8)
rng = np.random.default_rng(me)
for round_ in range(15):
    for source in ("shared-a", "shared-b", f"own-{me}"):
        n = int(rng.integers(1, 6))
        vectors = rng.normal(size=(n, 8)).astype(np.float32)
        chunks = [Chunk(f"writer {me} round {round_} chunk {i}", source) for i in range(n)]
        index.put_document("race", source, f"{me}-{round_}", n, chunks, vectors)
    index.remove_document("race", f"own-{me}") if round_ % 5 == 4 else None
print("ok")
"""


def test_two_processes_writing_one_base_leave_every_document_whole(pg: str) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, pg, str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for n in (1, 2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1].decode()[-2000:] for o in outs]
    docs = _rows(
        pg,
        "SELECT d.source, d.sha256, d.chunks, COUNT(c.id), COUNT(DISTINCT split_part(c.text, ' round', 1))"
        " FROM kb_documents d LEFT JOIN kb_chunks c ON c.doc_id = d.id GROUP BY d.id ORDER BY d.source",
    )
    assert [d[0] for d in docs][:2] == ["shared-a", "shared-b"] and len(docs) >= 2
    for source, sha, declared, stored, writers in docs:
        assert declared == stored and writers == 1, (source, sha, declared, stored)  # one writer's version, whole
    assert _rows(
        pg, "SELECT COUNT(*) FROM kb_chunks c LEFT JOIN kb_documents d ON d.id = c.doc_id WHERE d.id IS NULL"
    ) == [(0,)]


def test_dense_search_uses_each_bases_hnsw_index_and_finds_the_true_neighbours(pg: str) -> None:
    index = shared_index()
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(2000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index.ensure_base("big", "synthetic-384", 384)
    index.ensure_base("small", "synthetic-16", 16)  # another dimension in the same table
    for d in range(0, 2000, 500):
        chunks = [Chunk(f"passage {j}", f"doc {d}") for j in range(d, d + 500)]
        index.put_document("big", f"doc-{d}", str(d), 0, chunks, vectors[d : d + 500])
    index.put_document("small", "s", "s", 0, [Chunk("tiny", "")], rng.normal(size=(1, 16)).astype(np.float32))
    import psycopg

    base_id = index._base_row("big")[0]
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute("ANALYZE kb_chunks")
        conn.execute("SET search_path = " + conn.execute("SHOW search_path").fetchone()[0] + ", public")
        sql = dense_query(base_id, 384, 50).replace("%s", "'" + _vec(vectors[0]) + "'")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql))
    assert f"Index Scan using {index_name(base_id)}" in plan, plan
    recall = []
    for q in range(20):
        query = vectors[q] + rng.normal(0, 0.05, 384).astype(np.float32)
        query /= np.linalg.norm(query)
        exact = set(np.argsort(-(vectors @ query))[:10].tolist())
        found = index.dense("big", query, 50)
        assert len(found) == 50 and found[0][1] >= found[-1][1]
        ids = {int(i) for i, _ in found[:10]}
        texts = {int(h.text.split()[1]) for h in index.hits(list(ids)).values()}
        recall.append(len(texts & exact) / 10)
    assert np.mean(recall) >= 0.9
    assert [h.text for h in index.hits([i for i, _ in index.dense("small", rng.normal(size=16), 5)]).values()] == [
        "tiny"
    ]


def _vec(v: np.ndarray) -> str:
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


def _env(fault: FaultServer, url: str) -> dict[str, str]:
    return {
        "UNYO_DB_URL": url,
        "OPENAI_API_KEY": FAKE_KEY,
        "OPENAI_BASE_URL": fault.url,
        "UNYO_MODEL": "gpt-4o-mini",
        "UNYO_BACKOFF_BASE_S": "0.01",
        "UNYO_BACKOFF_MAX_S": "0.02",
    }


def test_cli_kb_and_ask_kb_on_postgresql(docs: Path, pg: str, fault: FaultServer) -> None:
    env = _env(fault, pg)
    added = run_cli("kb", "add", str(docs), "--kb", "team", "--json", env=env, timeout=300)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["chunks_written"] >= 6
    again = run_cli("kb", "add", str(docs), "--kb", "team", "--json", env=env, timeout=300)
    assert {r["status"] for r in json.loads(again.stdout)["results"]} == {"unchanged"}
    listed = json.loads(run_cli("kb", "ls", "--json", env=env).stdout)
    assert [(b["name"], b["documents"]) for b in listed] == [("team", 3)]
    found = json.loads(run_cli("kb", "search", "宿泊費の上限", "--kb", "team", "-k", "2", "--json", env=env).stdout)
    assert "一万二千円" in found[0]["text"] and found[0]["source"].endswith("travel.txt")
    fault.script({"action": "ok", "text": "宿泊費の上限は一泊一万二千円です[1]。"})
    asked = run_cli("ask", "--kb", "team", "--json", "宿泊費の上限はいくらですか?", env=env, timeout=300)
    assert asked.returncode == 0, asked.stderr
    record = json.loads(asked.stdout)
    assert record["refused"] is False and record["citations"][0]["source"].endswith("travel.txt")
    assert "一万二千円" in fault.requests[-1]["body"]["input"]  # the passage reached the model
    assert _rows(pg, "SELECT name FROM kb_bases") == [("team",)]
    assert not (docs.parent.parent / "unyo-home" / "knowledge.db").exists()
    assert run_cli("kb", "rm", str(docs / "travel.txt"), "--kb", "team", env=env).returncode == 0
    assert [Path(d["source"]).name for d in json.loads(run_cli("kb", "show", "team", "--json", env=env).stdout)] == [
        "guide.md",
        "notes.md",
    ]
    assert run_cli("kb", "rm", "--kb", "team", env=env).returncode == 0
    assert json.loads(run_cli("kb", "ls", "--json", env=env).stdout) == []


def test_an_unreachable_server_is_a_clear_error(clean_env: Path) -> None:
    result = run_cli("kb", "ls", env={"UNYO_DB_URL": "postgresql://postgres@127.0.0.1:1/test"})
    assert result.returncode != 0 and "cannot connect to PostgreSQL at postgresql://127.0.0.1:1/test" in result.stderr
    assert "Traceback" not in result.stderr
