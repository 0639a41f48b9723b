"""The knowledge base: reading, chunking, incremental ingest, hybrid search, answers with checked
citations, refusals, and bad input that changes nothing. Embeddings are the bundled local model
(real, offline); answers come from the fault server (scripted text) or the local model (CLI)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import unyo
from tests._pages import serve_pages
from tests.conftest import fast_settings, run_cli
from unyo._knowledge import _cite
from unyo._knowledge._answer import REFUSAL_EN, REFUSAL_JA, min_similarity
from unyo._knowledge._chunk import LIMIT_CHARS, chunk
from unyo._knowledge._index import Index
from unyo._knowledge._ingest import add, remove
from unyo._knowledge._read import text_blocks
from unyo._knowledge._search import search
from unyo._knowledge._terms import index_terms, query_terms
from unyo.testing import FaultServer

ROOT = Path(__file__).resolve().parents[1]
SHARED = next((b / "shared" for b in (ROOT.parent, ROOT.parent.parent) if (b / "shared" / "corpus").is_dir()), None)
needs_corpus = pytest.mark.skipif(SHARED is None, reason="../shared/corpus is not next to the repository")

GUIDE = """# 社内AI利用ガイド

## 1. APIキーの管理
APIキーは環境変数に保存します。コードに直接書いてはいけません。漏洩したらすぐに再発行します。

## 2. 料金
料金はトークン数に応じた従量課金です。毎月の上限は経費精算システムで申請します。

- 上限の初期値は月5万円です。
- 超過しそうなときは情報システム部に連絡します。
"""

FAQ = """# 出張規程

## 宿泊
宿泊費の上限は一泊一万二千円です。領収書を必ず提出してください。
"""


@pytest.fixture
def docs(clean_env: Path) -> Path:
    folder = clean_env / "docs"
    folder.mkdir()
    (folder / "guide.md").write_text(GUIDE, encoding="utf-8")
    (folder / "travel.txt").write_text(FAQ, encoding="utf-8")
    return folder


def settings_client(fault: FaultServer) -> unyo.OpenAI:
    return unyo.OpenAI(settings=fast_settings(fault))


# -- reading and chunking ------------------------------------------------------------------------


def test_chunks_follow_headings_and_carry_the_heading_path() -> None:
    chunks = chunk(text_blocks(GUIDE))
    assert [c.heading for c in chunks] == ["社内AI利用ガイド > 1. APIキーの管理", "社内AI利用ガイド > 2. 料金"]
    assert "月5万円" in chunks[1].text and "APIキー" not in chunks[1].text  # a chunk never crosses a heading


def test_long_japanese_text_is_cut_at_sentence_ends_never_mid_sentence() -> None:
    sentence = "これは長い日本語の文章で、文の終わりでだけ切られるべきです。"
    chunks = chunk(text_blocks("# 見出し\n" + sentence * 60))
    assert len(chunks) > 2
    for c in chunks:
        assert len(c.text) <= LIMIT_CHARS
        assert c.text.endswith("。") and c.text.startswith("これは")
    assert "".join(c.text for c in chunks) == sentence * 60  # nothing lost, nothing doubled


def test_a_run_on_sentence_is_cut_at_the_limit_and_code_comments_are_not_headings() -> None:
    chunks = chunk(text_blocks("あ" * (LIMIT_CHARS * 2 + 10)))
    assert [len(c.text) for c in chunks] == [LIMIT_CHARS, LIMIT_CHARS, 10]
    blocks = text_blocks("```\n# client = OpenAI(api_key=...)\n```\n# client = OpenAI()\n")
    assert all(b.kind != "heading" for b in blocks)


def test_keyword_terms_are_bigrams_for_japanese_and_words_for_latin() -> None:
    assert index_terms("料金はAPI-Key") == "料金 金は api-key"
    assert query_terms("料金はいくらですか") == ["料金", "金は"]  # hiragana-only bigrams dropped from queries


# -- citations -----------------------------------------------------------------------------------


def test_citations_in_many_forms_are_checked_against_the_passages_given() -> None:
    found = _cite.find("キーは環境変数に[1][3]。料金は【2】、詳細は[1, 9]。", ["a", "b", "c"])
    assert found.numbers == [1, 3, 2] and found.invalid == [9] and not found.matched
    found = _cite.find("See passage 2.", ["a", "b"])
    assert found.numbers == [2]


def test_an_uncited_answer_is_traced_by_its_wording_and_nonsense_cites_nothing() -> None:
    passages = ["宿泊費の上限は一泊一万二千円です。", "APIキーは環境変数に保存します。"]
    found = _cite.find("APIキーは環境変数に保存します", passages)
    assert found.numbers == [2] and found.matched
    assert _cite.find("猫がかわいい", passages).numbers == []
    assert (
        _cite.snippet("前置き。APIキーは環境変数に保存します。後書き。", "環境変数に保存")
        == "APIキーは環境変数に保存します。"
    )


# -- ingest, incremental, search -----------------------------------------------------------------


def test_add_is_incremental_by_content_hash_and_a_changed_file_replaces_its_chunks(docs: Path) -> None:
    first = add([str(docs)], "ja")
    assert sorted(r.status for r in first.results) == ["added", "added"] and first.chunks >= 3
    again = add([str(docs / "*.md"), str(docs / "travel.txt")], "ja")
    assert [r.status for r in again.results] == ["unchanged", "unchanged"] and again.chunks == 0
    (docs / "travel.txt").write_text("# 出張規程\n\n## 日当\n日当は一日三千円です。\n", encoding="utf-8")
    changed = add([str(docs)], "ja")
    assert sorted(r.status for r in changed.results) == ["unchanged", "updated"]
    index = Index()
    texts = [h.text for h in search(index, "ja", "宿泊費の上限", 10)]
    assert not any("一万二千円" in t for t in texts)  # the old version's chunks are gone
    assert any("三千円" in t for t in texts)
    assert remove([str(docs / "travel.txt")], "ja") == [str((docs / "travel.txt").resolve())]
    assert [Path(d.source).name for d in index.documents("ja")] == ["guide.md"]


def test_hybrid_search_finds_the_passage_with_source_heading_and_scores(docs: Path) -> None:
    add([str(docs)], "ja")
    hits = search(Index(), "ja", "APIキーはどこに保存しますか", 3)
    assert "環境変数" in hits[0].text and hits[0].heading.endswith("1. APIキーの管理")
    assert hits[0].source.endswith("guide.md") and hits[0].dense is not None and hits[0].keyword is not None
    assert hits[0].score >= hits[-1].score
    keyword_only = search(Index(), "ja", "宿泊費", 3, mode="keyword")
    assert keyword_only and "宿泊費" in keyword_only[0].text and keyword_only[0].dense is None


def test_every_format_is_read_row_wise_or_by_structure(clean_env: Path) -> None:
    import docx
    import openpyxl
    from pypdf import PdfWriter

    folder = clean_env / "formats"
    folder.mkdir()
    (folder / "page.html").write_text(
        "<html><body><nav><ul><li><a href='/'>ホーム</a></li><li><a href='/menu'>メニュー</a></li></ul></nav>"
        "<main><article><h1>返品</h1><p>返品は購入から三十日以内に受け付けます。レシートをお持ちください。"
        "返品の際は店頭のカウンターへお越しください。</p><h2>交換</h2><p>交換は在庫がある場合に限り、同じ商品と"
        "のみ行います。サイズ違いの交換も受け付けています。</p></article></main>"
        "<footer><p>Copyright 2026 Example Shop</p></footer></body></html>",
        encoding="utf-8",
    )
    (folder / "prices.csv").write_text("品目,価格\nりんご,120円\nみかん,80円\n", encoding="utf-8")
    book = openpyxl.Workbook()
    book.active.title = "在庫"
    book.active.append(["品目", "在庫数"])
    book.active.append(["ぶどう", 7])
    book.save(folder / "stock.xlsx")
    document = docx.Document()
    document.add_heading("保守契約", level=1)
    document.add_paragraph("保守の受付時間は平日九時から十八時です。")
    document.save(folder / "contract.docx")
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.write(folder / "blank.pdf")  # a PDF with no text layer: reported, not indexed

    report = add([str(folder)], "formats")
    status = {Path(r.source).name: r for r in report.results}
    assert {n: r.status for n, r in status.items()} == {
        "blank.pdf": "failed",
        "contract.docx": "added",
        "page.html": "added",
        "prices.csv": "added",
        "stock.xlsx": "added",
    }
    assert "no text" in (status["blank.pdf"].error or "")
    index = Index()
    row = search(index, "formats", "みかんの価格", 1)[0]
    assert row.text == "品目: みかん; 価格: 80円" and row.place == "row 3"
    assert search(index, "formats", "ぶどうの在庫", 1)[0].place == "在庫 row 2"
    assert search(index, "formats", "保守の受付時間", 1)[0].heading == "保守契約"
    html_hit = search(index, "formats", "返品の期限", 1)[0]
    assert "三十日" in html_hit.text and "メニュー" not in html_hit.text and html_hit.heading == "返品"
    assert search(index, "formats", "サイズ違いの交換", 1)[0].heading == "返品 > 交換"


def test_pdf_pages_are_kept_for_citations(clean_env: Path) -> None:
    pdf = _text_pdf(["First page talks about refunds within thirty days.", "Second page: support hours are 9 to 6."])
    (clean_env / "policy.pdf").write_bytes(pdf)
    add([str(clean_env / "policy.pdf")], "pdf")
    hit = search(Index(), "pdf", "What are the support hours?", 1)[0]
    assert hit.page == 2 and "support hours" in hit.text


# -- bad input: clear errors, and the index unchanged --------------------------------------------


def test_bad_files_are_reported_and_leave_the_index_as_it_was(docs: Path, clean_env: Path) -> None:
    from pypdf import PdfWriter

    add([str(docs)], "ja")
    index = Index()
    before = (index.chunk_count("ja"), [d.sha256 for d in index.documents("ja")])
    bad = clean_env / "bad"
    bad.mkdir()
    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    writer.encrypt("secret")
    writer.write(bad / "locked.pdf")
    (bad / "broken.pdf").write_bytes(b"%PDF-1.7\n this is not really a pdf")
    (bad / "empty.txt").write_text("   \n\n", encoding="utf-8")
    with open(bad / "huge.txt", "wb") as f:  # 200 MB, sparse: refused by its size before it is read
        f.truncate(200_000_000)
    report = add([str(bad / "*")], "ja")
    errors = {Path(r.source).name: r.error for r in report.results}
    assert all(r.status == "failed" for r in report.results)
    assert "encrypted" in errors["locked.pdf"]
    assert "not a readable PDF" in errors["broken.pdf"]
    assert "no text" in errors["empty.txt"]
    assert "200 MB is over the 50 MB limit" in errors["huge.txt"]
    assert (index.chunk_count("ja"), [d.sha256 for d in index.documents("ja")]) == before


def test_a_failure_while_writing_rolls_the_document_back(docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add([str(docs)], "ja")
    index = Index()
    before = index.chunk_count("ja")
    (docs / "guide.md").write_text(GUIDE + "\n## 3. 追記\n新しい段落です。\n", encoding="utf-8")
    import unyo._knowledge._index as module

    real = module.index_terms
    calls = []

    def failing(text: str) -> str:
        calls.append(text)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(text)

    monkeypatch.setattr(module, "index_terms", failing)
    with pytest.raises(OSError):
        add([str(docs / "guide.md")], "ja", index=index)
    monkeypatch.setattr(module, "index_terms", real)
    assert index.chunk_count("ja") == before
    assert "追記" not in " ".join(h.heading for h in search(index, "ja", "追記 新しい段落", 10))


def _page(path: str) -> str:
    if path == "/redirect":
        return "->file:///etc/passwd"
    if path == "/big":
        return "<p>" + "大" * 300_000 + "</p>"
    return (
        "<html><body><article><h1>営業時間</h1><p>窓口の営業時間は平日の十時から十七時までです。"
        "土日祝日はお休みをいただいております。ご了承ください。</p></article></body></html>"
    )


@pytest.fixture
def pages() -> Iterator[str]:
    with serve_pages(_page) as url:
        yield url


def test_urls_http_only_private_refused_unless_allowed_with_timeout_and_cap(
    pages: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unyo._knowledge._fetch import fetch

    refused = add([f"{pages}/hours"], "web").results[0]
    assert refused.status == "failed" and "private, loopback or reserved" in (refused.error or "")
    assert "only http and https" in (add(["file:///etc/passwd"], "web").results[0].error or "")
    monkeypatch.setenv("UNYO_KB_ALLOW_PRIVATE", "1")  # the tests allow 127.0.0.1 explicitly
    added = add([f"{pages}/hours"], "web").results[0]
    assert added.status == "added" and added.source == f"{pages}/hours"
    hit = search(Index(), "web", "窓口は何時まで開いていますか", 1)[0]
    assert hit.source == f"{pages}/hours" and "十七時" in hit.text
    with pytest.raises(unyo.BadInput, match="timeout"):
        fetch(f"{pages}/slow", timeout=0.5)
    with pytest.raises(unyo.BadInput, match="cap"):
        fetch(f"{pages}/big", max_bytes=100_000)
    with pytest.raises(unyo.BadInput, match="only http and https"):
        fetch(f"{pages}/redirect")  # every redirect hop is checked too
    assert Index().chunk_count("web") == added.chunks


# -- answers -------------------------------------------------------------------------------------


def test_answer_cites_checked_passages_and_drops_made_up_numbers(docs: Path, fault: FaultServer) -> None:
    add([str(docs)], "ja")
    fault.script({"action": "ok", "text": "APIキーは環境変数に保存します[1]。漏洩したら再発行します[1][7]。"})
    result = unyo.answer("APIキーはどこに保存しますか?", kb="ja", client=settings_client(fault), threshold=0.0)
    assert not result.refused and result.invalid_citations == [7]
    assert [c.n for c in result.citations] == [1]
    citation = result.citations[0]
    assert citation.source.endswith("guide.md") and citation.heading.endswith("APIキーの管理")
    assert "環境変数" in citation.snippet and not citation.matched
    prompt = fault.requests[0]["body"]
    assert "[1] (guide.md" in prompt["input"] and "[2]" in prompt["input"]  # numbered passages
    assert REFUSAL_JA in prompt["instructions"]
    record = result.to_dict()
    assert record["refused"] is False and record["citations"][0]["n"] == 1 and record["model"] == "gpt-4o-mini"


def test_prose_unrelated_to_the_passages_becomes_a_quoted_cited_answer(docs: Path, fault: FaultServer) -> None:
    add([str(docs)], "ja")
    fault.script({"action": "ok", "text": "True. The above answer is based on the above answer."})
    result = unyo.answer("APIキーはどこに保存しますか?", kb="ja", client=settings_client(fault), threshold=0.0)
    assert not result.refused and result.model_text == "True. The above answer is based on the above answer."
    assert "APIキーは環境変数に保存します。 [1]" in result.text and result.citations[0].n == 1
    assert result.to_dict()["extractive"] is True


def test_the_model_saying_the_passages_do_not_answer_is_a_refusal(docs: Path, fault: FaultServer) -> None:
    add([str(docs)], "ja")
    fault.script({"action": "ok", "text": "資料には記載がありません。"})
    result = unyo.answer("有給休暇は何日ですか?", kb="ja", client=settings_client(fault), threshold=0.0)
    assert result.refused and result.reason == "model" and result.text == REFUSAL_JA and result.citations == []


def test_an_out_of_corpus_question_is_refused_before_any_call(docs: Path, fault: FaultServer) -> None:
    add([str(docs)], "ja")
    threshold = min_similarity("multilingual-e5-small")
    assert threshold is not None  # calibrated by bench/rag.py --calibrate, never by hand
    result = unyo.answer("What is the capital of Australia?", kb="ja", client=settings_client(fault))
    assert result.refused and result.reason == "retrieval" and result.text == REFUSAL_EN
    assert result.similarity is not None and result.similarity < threshold and fault.requests == []


def test_aanswer_is_the_async_twin(docs: Path, fault: FaultServer) -> None:
    add([str(docs)], "ja")
    fault.script({"action": "ok", "text": "宿泊費の上限は一泊一万二千円です [1]"})

    async def main() -> unyo.KnowledgeAnswer:
        client = unyo.AsyncOpenAI(settings=fast_settings(fault))
        return await unyo.aanswer("宿泊費の上限はいくらですか?", kb="ja", client=client, threshold=0.0)

    result = asyncio.run(main())
    assert not result.refused and result.citations[0].source.endswith("travel.txt")


def test_provider_embeddings_go_through_the_guarded_client(docs: Path, fault: FaultServer) -> None:
    client = settings_client(fault)
    report = add([str(docs / "guide.md")], "hosted-embed", embed_model="text-embedding-3-small", client=client)
    assert report.results[0].status == "added"
    calls = [r for r in fault.requests if r["path"].endswith("/embeddings")]
    assert calls and calls[0]["body"]["model"] == "text-embedding-3-small"
    logged = [json.loads(line) for line in run_cli("logs", "--json").stdout.splitlines()]
    assert any(r["model"] == "text-embedding-3-small" for r in logged)  # audited like every priced call
    with pytest.raises(unyo.ConfigError, match="built with the embedding model text-embedding-3-small"):
        add([str(docs / "travel.txt")], "hosted-embed", embed_model="multilingual-e5-small")  # no mixing
    fault.script("ok", {"action": "ok", "text": "環境変数に保存します [1]"})  # the question's embedding, the answer
    result = unyo.answer("APIキーの保存先は?", kb="hosted-embed", client=client)
    assert result.citations and [r["body"]["model"] for r in fault.requests[-2:]] == [
        "text-embedding-3-small",  # the question, embedded with the base's model through the same client
        "gpt-4o-mini",
    ]


# -- the CLI, as a user runs it ------------------------------------------------------------------


def test_cli_kb_add_ls_search_show_rm(docs: Path) -> None:
    added = run_cli("kb", "add", str(docs), "--kb", "team", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["chunks_written"] >= 3
    listed = json.loads(run_cli("kb", "ls", "--json").stdout)
    assert [(b["name"], b["documents"]) for b in listed] == [("team", 2)]
    found = run_cli("kb", "search", "宿泊費の上限", "--kb", "team", "-k", "2", "--json")
    passages = json.loads(found.stdout)
    assert len(passages) == 2 and "一万二千円" in passages[0]["text"] and passages[0]["source"].endswith("travel.txt")
    shown = json.loads(run_cli("kb", "show", "team", "--json").stdout)
    assert sorted(Path(d["source"]).name for d in shown) == ["guide.md", "travel.txt"]
    bad = run_cli("kb", "add", str(docs / "missing.pdf"), "--kb", "team")
    assert bad.returncode == 2 and "missing.pdf: no such file" in bad.stderr
    assert run_cli("kb", "rm", str(docs / "travel.txt"), "--kb", "team").returncode == 0
    assert run_cli("kb", "rm", "--kb", "team").returncode == 0
    assert json.loads(run_cli("kb", "ls", "--json").stdout) == []
    unknown = run_cli("kb", "search", "x", "--kb", "nope")
    assert unknown.returncode == 3 and "no knowledge base named 'nope'" in unknown.stderr


@needs_corpus
@pytest.mark.local_model
@pytest.mark.timeout(900)  # embedding a real guide and generating on a shared 2-core machine
def test_cli_ask_kb_on_the_local_model_answers_with_citations_and_refuses_off_corpus() -> None:
    assert SHARED is not None
    guide = SHARED / "corpus" / "ja-guides" / "openai-api-basics.txt"
    assert run_cli("kb", "add", str(guide), "--kb", "guides", timeout=600).returncode == 0
    answered = run_cli(
        "ask",
        "--kb",
        "guides",
        "--json",
        "--max-output-tokens",
        "60",
        "APIキーはどこに設定するのが安全ですか?",
        timeout=600,
    )
    assert answered.returncode == 0, answered.stderr
    record = json.loads(answered.stdout)
    assert record["provider"] == "local" and record["refused"] is False
    assert record["citations"] and all(c["source"].endswith("openai-api-basics.txt") for c in record["citations"])
    refused = run_cli("ask", "--kb", "guides", "--json", "京都でおすすめの観光地はどこですか?", timeout=600)
    record = json.loads(refused.stdout)
    assert record["refused"] is True and record["text"] == REFUSAL_JA and record["citations"] == []


def _text_pdf(pages: list[str]) -> bytes:
    """A minimal real PDF with one line of text per page (Helvetica), built by hand."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 10 100 Td ({text}) Tj ET"
        page_no = len(objects) + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 200] /Contents {page_no + 1} 0 R "
            f"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        kids.append(f"{page_no} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()
