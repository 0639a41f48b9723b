"""Knowledge as tasks: `unyo run answer --kb` over a file of questions (citations, refusals,
resume), the model's rerank, `unyo run summarize --url` (the guarded fetcher, the URL kept as the
citation), and the retrieval eval set through `unyo eval`. Embeddings are the bundled local e5
model (real, offline); answers come from the fault server; the CLI runs as a subprocess."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import unyo
from tests._pages import serve_pages
from tests.conftest import FAKE_KEY, fast_settings, run_cli
from unyo._knowledge._ingest import add
from unyo._knowledge._rerank import picked, reorder
from unyo.testing import FaultServer

ROOT = Path(__file__).resolve().parents[1]

GUIDE = """# 社内AI利用ガイド

## 1. APIキーの管理
APIキーは環境変数に保存します。コードに直接書いてはいけません。漏洩したらすぐに再発行します。

## 2. 料金
料金はトークン数に応じた従量課金です。毎月の上限は経費精算システムで申請します。
"""

TRAVEL = """# 出張規程

## 宿泊
宿泊費の上限は一泊一万二千円です。領収書を必ず提出してください。
"""


@pytest.fixture
def docs(clean_env: Path) -> Path:
    folder = clean_env / "docs"
    folder.mkdir()
    (folder / "guide.md").write_text(GUIDE, encoding="utf-8")
    (folder / "travel.txt").write_text(TRAVEL, encoding="utf-8")
    return folder


def env_for(fault: FaultServer, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url, "UNYO_MODEL": "gpt-4o-mini", **extra}


def write_questions(path: Path, questions: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "question"])
        writer.writerows([str(i), q] for i, q in enumerate(questions, 1))


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


# -- unyo run answer -------------------------------------------------------------------------------


def test_run_answer_over_a_csv_cites_refuses_and_resumes(docs: Path, fault: FaultServer, clean_env: Path) -> None:
    assert run_cli("kb", "add", str(docs), "--kb", "team").returncode == 0
    questions, out = clean_env / "questions.csv", clean_env / "answers.csv"
    write_questions(questions, ["APIキーはどこに保存しますか?", "What is the capital of Australia?"])
    fault.script({"action": "ok", "text": "APIキーは環境変数に保存します[1]。漏洩したら再発行します[9]。"})
    args = ["run", "answer", "--kb", "team", "--input", str(questions), "--output", str(out), "--id-column", "id"]
    first = run_cli(*args, "--concurrency", "1", env=env_for(fault), timeout=300)
    assert first.returncode == 0, first.stderr
    rows = read_rows(out)
    assert [r["unyo_status"] for r in rows] == ["ok", "ok"]
    answered, refused = rows
    assert answered["answer"].startswith("APIキーは環境変数に保存します") and answered["refused"] == "false"
    citations = json.loads(answered["citations"])  # JSON text in a CSV cell
    assert [c["n"] for c in citations] == [1]  # [9] was not a passage: dropped
    assert citations[0]["source"].endswith("guide.md") and citations[0]["heading"].endswith("APIキーの管理")
    assert "環境変数" in citations[0]["snippet"] and "page" in citations[0]
    assert refused["refused"] == "true" and refused["refusal_reason"] == "retrieval"
    assert refused["answer"] == "The documents don't say" and json.loads(refused["citations"]) == []
    assert len(fault.requests) == 1  # the off-corpus question was refused before any call
    sent = fault.requests[0]["body"]
    assert "[1] (guide.md" in sent["input"] and sent["model"] == "gpt-4o-mini"
    logged = [json.loads(line) for line in run_cli("logs", "--json").stdout.splitlines()]
    assert [r.get("tag") for r in logged] == ["task:answer"]  # priced and audited under the task's tag

    again = run_cli(*args, env=env_for(fault), timeout=300)  # resumes: every row is done
    assert again.returncode == 0 and "nothing to do: 2 rows already done" in again.stderr
    assert len(fault.requests) == 1
    write_questions(questions, ["APIキーはどこに保存しますか?", "What is the capital of Australia?", "宿泊費の上限は?"])
    fault.script({"action": "ok", "text": "宿泊費の上限は一泊一万二千円です [1]"})
    third = run_cli(*args, env=env_for(fault), timeout=300)
    assert third.returncode == 0, third.stderr
    assert len(fault.requests) == 2  # only the new row ran
    rows = read_rows(out)
    assert json.loads(rows[2]["citations"])[0]["source"].endswith("travel.txt")
    assert rows[0]["answer"] == answered["answer"]  # the journal's answers are kept


def test_run_answer_reads_jsonl_and_xlsx_and_dry_run_counts_the_passages(
    docs: Path, fault: FaultServer, clean_env: Path
) -> None:
    import openpyxl

    add([str(docs)], "team")
    jsonl = clean_env / "q.jsonl"
    jsonl.write_text(json.dumps({"question": "宿泊費の上限はいくらですか?"}, ensure_ascii=False) + "\n", "utf-8")
    fault.script({"action": "ok", "text": "一泊一万二千円です [1]"})
    out = clean_env / "q.out.jsonl"
    done = run_cli("run", "answer", "--kb", "team", "--input", str(jsonl), env=env_for(fault), timeout=300)
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert record["refused"] is False and record["citations"][0]["source"].endswith("travel.txt")  # a list in JSONL

    book = openpyxl.Workbook()
    book.active.append(["question"])
    book.active.append(["APIキーはどこに保存しますか?"])
    xlsx = clean_env / "q.xlsx"
    book.save(xlsx)
    dry = run_cli("run", "answer", "--kb", "team", "--input", str(xlsx), "--dry-run", "--json", env=env_for(fault))
    assert dry.returncode == 0, dry.stderr
    estimate = json.loads(dry.stdout)
    only_question = run_cli("run", "extract", "--schema", str(_schema(clean_env)), "--input", str(xlsx),
                            "--column", "question", "--output", str(clean_env / "x.xlsx"), "--dry-run", "--json",
                            env=env_for(fault))  # fmt: skip
    assert estimate["rows_total"] == 1 and len(fault.requests) == 1  # a dry run sends nothing
    # the passages retrieved for the question are in the count, not the question alone
    assert only_question.returncode == 0, only_question.stderr
    assert estimate["input_tokens"] > json.loads(only_question.stdout)["input_tokens"] + 40


def _schema(folder: Path) -> Path:
    path = folder / "schema.json"
    path.write_text('{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}', "utf-8")
    return path


def test_run_answer_needs_a_known_kb_and_kb_goes_with_answer_only(docs: Path, fault: FaultServer) -> None:
    unknown = run_cli("run", "answer", "--kb", "nope", "Where are API keys kept?", env=env_for(fault))
    assert unknown.returncode == 3 and "no knowledge base named 'nope'" in unknown.stderr
    wrong = run_cli("run", "summarize", "--kb", "team", "text", env=env_for(fault))
    assert wrong.returncode == 2 and "--kb and --rerank go with a task that answers" in wrong.stderr
    assert fault.requests == []


# -- rerank ----------------------------------------------------------------------------------------


def test_rerank_reads_the_models_picks_and_keeps_the_order_when_it_names_none() -> None:
    from unyo._knowledge._index import Hit

    hits = [Hit(i, f"s{i}", "", None, None, f"text {i}") for i in range(1, 9)]
    assert picked("3, 1", 8) == [3, 1] and picked("[5][2] and 12", 8) == [5, 2]
    assert [h.id for h in reorder(hits, "Passages 7 and 2 help.", 4)] == [7, 2]
    assert [h.id for h in reorder(hits, "none of them", 3)] == [1, 2, 3]
    assert [h.id for h in reorder(hits, "0", 3)] == [1, 2, 3]


def test_answer_with_rerank_asks_the_model_to_pick_then_answers_from_its_picks(docs: Path, fault: FaultServer) -> None:
    add([str(docs)], "team")
    client = unyo.OpenAI(settings=fast_settings(fault))
    from unyo._knowledge._index import Index
    from unyo._knowledge._search import search

    top = search(Index(), "team", "宿泊費の上限はいくらですか?", 8)
    travel = next(n for n, h in enumerate(top, 1) if h.source.endswith("travel.txt"))
    fault.script({"action": "ok", "text": f"{travel}"}, {"action": "ok", "text": "一泊一万二千円です [1]"})
    result = unyo.answer("宿泊費の上限はいくらですか?", kb="team", client=client, threshold=0.0, rerank=True, k=2)
    assert len(result.calls) == 2 and len(fault.requests) == 2
    rerank_prompt = fault.requests[0]["body"]["input"]
    assert all(f"[{n}]" in rerank_prompt for n in range(1, len(top) + 1))  # the whole pool is offered
    assert [p.source for p in result.passages] == [top[travel - 1].source]  # only the model's pick is given
    assert result.citations[0].source.endswith("travel.txt") and "[1] (travel.txt" in fault.requests[1]["body"]["input"]


def test_cli_ask_kb_rerank_makes_the_extra_call(docs: Path, fault: FaultServer) -> None:
    add([str(docs)], "team")
    fault.script({"action": "ok", "text": "1"}, {"action": "ok", "text": "環境変数に保存します [1]"})
    done = run_cli("ask", "--kb", "team", "--rerank", "--json", "APIキーはどこに保存しますか?", env=env_for(fault))
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["refused"] is False and len(fault.requests) == 2
    assert "Helpful passages" in fault.requests[0]["body"]["input"]
    alone = run_cli("ask", "--rerank", "APIキーはどこに保存しますか?", env=env_for(fault))
    assert alone.returncode == 2 and "--rerank goes with --kb NAME" in alone.stderr and len(fault.requests) == 2


# -- unyo run summarize --url ----------------------------------------------------------------------

ARTICLE = (
    "<html><head><title>お知らせ</title></head><body><nav>ホーム | 会社概要 | 採用情報</nav>"
    "<article><h1>窓口の営業時間の変更</h1><p>四月一日から、窓口の営業時間は平日の十時から十七時までになります。"
    "土日祝日はお休みです。お問い合わせはメールでも受け付けています。</p>"
    "<p>変更の理由は、オンライン手続きの利用が増えたためです。ご理解をお願いいたします。</p></article>"
    "<footer>Copyright 2026</footer></body></html>"
)


@pytest.fixture
def site() -> Iterator[str]:
    with serve_pages(lambda path: ARTICLE) as url:
        yield url


def test_run_summarize_url_summarises_the_main_text_and_keeps_the_url(site: str, fault: FaultServer) -> None:
    fault.script({"action": "ok", "text": '{"summary": "4月から窓口は平日10時から17時。", "parts_used": [1]}'})
    url = f"{site}/notice"
    done = run_cli("run", "summarize", "--url", url, "--allow-private", "--json", env=env_for(fault))
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["output"]["source_url"] == url and record["output"]["summary"].startswith("4月から")
    sent = json.dumps(fault.requests[0]["body"], ensure_ascii=False)
    assert "平日の十時から十七時" in sent and "窓口の営業時間の変更" in sent  # the article's text and heading
    assert "採用情報" not in sent and "Copyright" not in sent  # navigation and footer dropped (trafilatura)
    plain = run_cli("run", "summarize", "--url", url, env={**env_for(fault), "UNYO_KB_ALLOW_PRIVATE": "1"})
    assert plain.returncode == 0 and json.loads(plain.stdout)["source_url"] == url


def test_run_summarize_url_refuses_private_addresses_other_schemes_and_times_out(site: str, fault: FaultServer) -> None:
    refused = run_cli("run", "summarize", "--url", f"{site}/notice", env=env_for(fault))
    assert refused.returncode == 2 and "private, loopback or reserved address (127.0.0.1)" in refused.stderr
    scheme = run_cli("run", "summarize", "--url", "file:///etc/passwd", "--allow-private", env=env_for(fault))
    assert scheme.returncode == 2 and "only http and https" in scheme.stderr
    slow = run_cli(
        "run", "summarize", "--url", f"{site}/slow", "--allow-private", "--fetch-timeout", "0.5", env=env_for(fault)
    )
    assert slow.returncode == 2 and "no answer within 0.5s (timeout)" in slow.stderr
    both = run_cli("run", "summarize", "some text", "--url", f"{site}/notice", env=env_for(fault))
    assert both.returncode == 2 and "give the input once" in both.stderr
    assert fault.requests == []  # nothing was sent to the model


# -- the eval set through unyo eval -----------------------------------------------------------------

SHARED = next((b / "shared" for b in (ROOT.parent, ROOT.parent.parent) if (b / "shared" / "corpus").is_dir()), None)


@pytest.mark.skipif(SHARED is None, reason="../shared/corpus is not next to the repository")
@pytest.mark.timeout(600)
def test_the_rag_eval_suite_runs_through_unyo_eval_on_a_subset(fault: FaultServer, clean_env: Path) -> None:
    """bench/rag_ja.yaml, as shipped (its prompts and checks), on the questions about one guide and two
    unanswerable ones: every case is judged (pass or fail, never an error)."""
    import yaml

    assert SHARED is not None
    guide = SHARED / "corpus" / "ja-guides" / "openai-api-basics.txt"
    assert run_cli("kb", "add", str(guide), "--kb", "rag-ja", timeout=500).returncode == 0
    questions = [json.loads(line) for line in (ROOT / "bench" / "rag_questions.jsonl").read_text("utf-8").splitlines()]
    subset = [q for q in questions if q.get("source") == guide.name] + [q for q in questions if not q["answerable"]][:2]
    (clean_env / "subset.jsonl").write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in subset), "utf-8")
    suite = yaml.safe_load((ROOT / "bench" / "rag_ja.yaml").read_text(encoding="utf-8"))
    suite["tests"] = [{"file": "subset.jsonl"}]
    (clean_env / "suite.yaml").write_text(yaml.safe_dump(suite, allow_unicode=True), encoding="utf-8")
    fault.default_action = {"action": "ok", "text": "資料の通りです [1]"}
    done = run_cli("eval", "suite.yaml", "-m", "gpt-4o-mini", "--json", env=env_for(fault), cwd=clean_env, timeout=500)
    assert done.returncode in (0, 10), done.stderr
    report = json.loads(done.stdout)
    statuses = {c["key"]: [r["status"] for r in c["results"].values()] for c in report["cases"]}
    assert len(statuses) == len(subset) and all(s in (["pass"], ["fail"]) for s in statuses.values()), statuses
    answerable = [c for c in report["cases"] if c["vars"]["answerable"]]
    assert answerable and all(r["status"] == "pass" for c in answerable for r in c["results"].values())


# -- fusion and the citation rubric ----------------------------------------------------------------


def test_weighted_rrf_uses_the_shipped_fusion_and_weights_keywords_by_the_questions_script() -> None:
    from unyo._knowledge._search import Fusion, fuse, fusion

    shipped = fusion()
    assert shipped.k > 0 and shipped.keyword_weight("料金は?") == shipped.keyword_ja
    assert shipped.keyword_weight("How is it priced?") == shipped.keyword_en
    dense, keyword = [(1, 0.9), (2, 0.8)], [(2, 5.0), (3, 4.0)]
    even = fuse(dense, keyword, 60, 1.0)
    assert max(even, key=even.get) == 2  # in both lists
    leaning = fuse(dense, keyword, 1, 4.0)
    assert sorted(leaning, key=lambda c: -leaning[c]) == [2, 3, 1]  # the keyword list dominates
    assert Fusion(60, 1, 1).keyword_weight("x") == 1


def test_hybrid_search_ranks_by_the_fusion_it_is_given(docs: Path) -> None:
    from unyo._knowledge._index import Index
    from unyo._knowledge._search import Fusion, search

    add([str(docs)], "team")
    question = "宿泊費の上限"
    dense_led = search(Index(), "team", question, 3, fusion_=Fusion(60, 0.0, 0.0))
    dense_only = search(Index(), "team", question, 3, mode="dense")
    assert [h.id for h in dense_led] == [h.id for h in dense_only]  # keyword weight 0: the dense order
    keyword_led = search(Index(), "team", question, 3, fusion_=Fusion(1, 1000.0, 1000.0))
    keyword_only = search(Index(), "team", question, 3, mode="keyword")
    assert [h.id for h in keyword_led][: len(keyword_only)] == [h.id for h in keyword_only]


def test_the_citation_rubric_counts_cited_sentences_their_passages_support() -> None:
    from unyo._knowledge._cite import citation_precision, cited_sentences

    passages = ["APIキーは環境変数に保存します。コードに直接書いてはいけません。", "宿泊費の上限は一泊一万二千円です。"]
    answer = "APIキーは環境変数に保存します[1]。宿泊費の上限は一泊一万二千円です[1]。\n[2]\n料金は無料です。"
    assert cited_sentences(answer) == [
        ("APIキーは環境変数に保存します。", [1]),
        ("宿泊費の上限は一泊一万二千円です。", [1, 2]),  # the marker on the next line is this sentence's
    ]
    assert citation_precision(answer, passages) == (2, 2)  # [2] supports the second sentence
    assert citation_precision("宿泊費の上限は一泊一万二千円です [1]。", passages) == (0, 1)  # the wrong passage
    assert citation_precision("料金は無料です。", passages) == (0, 0)  # nothing cited: nothing judged


def test_a_kanji_alone_between_hiragana_is_a_term_so_a_stem_matches_across_forms() -> None:
    from unyo._knowledge._terms import index_terms, query_terms

    assert "近" in query_terms("0に近づけるとどうなりますか") and "近" in index_terms("0に近いほど安定").split()
    assert "料" not in index_terms("料金は").split()  # inside a kanji compound: bigrams only
