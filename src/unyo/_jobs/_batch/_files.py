"""Reading and writing batch files: CSV, XLSX, JSONL.

Input is hostile until read: rows are streamed and bounded (`--max-rows`, `--max-cell-chars`),
an XLSX sheet's empty rows are counted, never materialised, and trailing empty rows are dropped.

CSV encodings: UTF-8 (with or without BOM) is tried strictly, then CP932 (Shift_JIS as Japanese
Excel writes it) — but only when the decoded text looks Japanese (see `japanese_score`), since
almost any Latin-1 byte string also decodes as CP932 (`étés` -> `騁駸`). Anything else needs
`--encoding`.

Output is written 0600 to a temporary file next to the target and renamed over it
(`private_output`), so a crash never leaves a half-written results file and a symlink planted
at the output path is replaced, not followed. Every cell of a CSV or XLSX output goes through
`spreadsheet_safe`: text a spreadsheet would run as a formula gets a leading `'`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unyo._records._private_files import private_output
from unyo._types._errors import BadInput
from unyo._types._messages import Message, json_reason

FORMATS = (".csv", ".xlsx", ".jsonl")
MAX_ROWS = 100_000  # --max-rows
MAX_CELL_CHARS = 1_000_000  # --max-cell-chars
MAX_COLUMNS = 16_384  # Excel's own limit (XFD); a sheet's `dimension` can claim more
JAPANESE_SHARE = 0.8  # CP932 is accepted when at least this share of the non-ASCII characters look Japanese


@dataclass
class Table:
    columns: list[str]
    rows: list[dict[str, Any]]
    encoding: str | None = None
    sheet: str | None = None  # an XLSX input's sheet name, kept for an XLSX output


class Formula(str):
    """An XLSX input cell that holds a formula: its text is the value Excel last computed (what a
    task reads), `.formula` the formula itself (what an XLSX output writes back, unchanged), and
    `.cached` the computed value with its type (what a CSV or JSONL output writes)."""

    formula: str
    cached: Any

    def __new__(cls, formula: str, cached: Any) -> Formula:
        cell = super().__new__(cls, "" if cached is None else str(cached))
        cell.formula, cell.cached = formula, cached
        return cell


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise BadInput(Message("batch.file_type", path=path, suffix=suffix or "(none)", formats=", ".join(FORMATS)))
    return suffix


# --- encodings --------------------------------------------------------------------------------


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_SCORED = 20_000  # non-ASCII characters judged (the first ones): enough to tell, fast on a big file


def _half_width_kana(ch: str) -> bool:
    return "\uff61" <= ch <= "\uff9f"


def _japanese(ch: str, before: str, after: str) -> bool:
    """Is `ch` (decoded from CP932) something Japanese text is made of? Judged by its Shift_JIS
    code: JIS rows 1-8 (punctuation, full-width letters and digits, kana, symbols), NEC row 13
    (①, ㈱, ㎝) or level-1 (common) kanji; half-width katakana only next to another (ｶﾞｲﾄﾞ),
    since a lone one is what a Latin-1 capital or ß decodes to. Level-2 kanji, the IBM/NEC
    extensions and the user-defined area do not count: they are what a Latin-1 accented letter
    and the byte after it decode to (`é` + `t` -> 騁)."""
    try:
        raw = ch.encode("cp932")
    except UnicodeEncodeError:
        return False
    if len(raw) == 1:
        return _half_width_kana(ch) and (_half_width_kana(before) or _half_width_kana(after))
    code = int.from_bytes(raw, "big")
    return 0x8140 <= code <= 0x84BE or 0x8740 <= code <= 0x879C or 0x889F <= code <= 0x9872


def japanese_score(text: str) -> float:
    """The share of the (first `_SCORED`) non-ASCII characters of `text` that look Japanese."""
    good = total = 0
    for match in _NON_ASCII.finditer(text):
        i = match.start()
        total += 1
        good += _japanese(text[i], text[i - 1 : i], text[i + 1 : i + 2])
        if total >= _SCORED:
            break
    return good / total if total else 1.0


def _sample(text: str, width: int = 60) -> str:
    """The line with the first non-ASCII character, cut around it."""
    match = _NON_ASCII.search(text)
    at = match.start() if match else 0
    line_start = text.rfind("\n", 0, at) + 1
    line_end = text.find("\n", at)
    line = text[line_start : line_end if line_end >= 0 else len(text)].rstrip("\r")
    start = max(0, at - line_start - 20)
    return ("…" if start else "") + line[start : start + width] + ("…" if len(line) > start + width else "")


def decode(raw: bytes, encoding: str | None, name: str) -> tuple[str, str]:
    """`raw` as text. With no `encoding`: UTF-8 (strict, BOM or not), else CP932 when the text
    then reads as Japanese (`japanese_score` at least JAPANESE_SHARE); else BadInput asking for
    `--encoding`, with a sample of the text as each guess would read it."""
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise BadInput(Message("batch.bad_encoding", name=name, encoding=encoding, detail=exc)) from None
    try:
        return raw.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("cp932")
    except UnicodeDecodeError as exc:
        text = raw.decode("cp932", errors="replace")
        why = Message("batch.not_cp932", byte=raw[exc.start], offset=exc.start)
    else:
        share = japanese_score(text)
        if share >= JAPANESE_SHARE:
            return text, "cp932"
        why = Message("batch.not_japanese", share=share, needed=JAPANESE_SHARE)
    as_cp1252 = raw.decode("cp1252", errors="replace")
    raise BadInput(
        Message("batch.unknown_encoding", name=name, why=why, cp932=_sample(text), cp1252=_sample(as_cp1252))
    )


# --- reading ----------------------------------------------------------------------------------


def _too_many_rows(path: Path, max_rows: int, detail: Message | None = None) -> BadInput:
    return BadInput(Message("batch.too_many_rows", path=path, max_rows=max_rows, detail=detail or Message("empty")))


def _check_cells(path: Path, where: Message, values: Iterable[tuple[str, Any]], max_cell_chars: int) -> None:
    for column, value in values:
        size = (
            len(value)
            if isinstance(value, str)
            else len(json.dumps(value, ensure_ascii=False, default=str))
            if isinstance(value, (dict, list))
            else 0
        )
        if size > max_cell_chars:
            raise BadInput(
                Message(
                    "batch.cell_too_long",
                    path=path,
                    where=where,
                    column=str(column)[:80],
                    size=size,
                    limit=max_cell_chars,
                )
            )


def read(
    path: Path, encoding: str | None = None, max_rows: int = MAX_ROWS, max_cell_chars: int = MAX_CELL_CHARS
) -> Table:
    """Every row of `path` (header excluded), at most `max_rows` of them, no cell longer than
    `max_cell_chars` characters; BadInput (exit 2) naming the flag to raise a limit."""
    kind = _format(path)
    if not path.exists():
        raise BadInput(Message("batch.no_such_file", path=path))
    if kind == ".xlsx":
        return _read_xlsx(path, max_rows, max_cell_chars)
    text, used = decode(path.read_bytes(), encoding, str(path))
    if kind == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if len(rows) >= max_rows:
                raise _too_many_rows(path, max_rows)
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                reason = json_reason(exc)
                raise BadInput(Message("batch.bad_json_line", path=path, line=number, detail=reason)) from None
            if not isinstance(item, dict):
                raise BadInput(Message("batch.json_not_object", path=path, line=number))
            _check_cells(path, Message("batch.where_line", line=number), item.items(), max_cell_chars)
            rows.append(item)
        columns = list(dict.fromkeys(k for r in rows for k in r))
        return Table(columns, rows, used)
    csv.field_size_limit(1 << 30)  # a huge cell gets the --max-cell-chars message, not a reader error
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    try:
        for row in reader:
            if len(rows) >= max_rows:
                raise _too_many_rows(path, max_rows)
            extra = row.pop(None, None)  # type: ignore[call-overload]
            _check_cells(path, Message("batch.where_line", line=reader.line_num), row.items(), max_cell_chars)
            if extra:
                row["_extra"] = ",".join(extra)
                _check_cells(
                    path, Message("batch.where_line", line=reader.line_num), [("_extra", row["_extra"])], max_cell_chars
                )
            rows.append(row)
        columns = list(reader.fieldnames or [])
    except csv.Error as exc:
        raise BadInput(Message("batch.bad_csv", path=path, detail=exc)) from None
    if not columns:
        raise BadInput(Message("batch.csv_no_header", path=path))
    return Table(columns, rows, used)


ZIP_BOMB_BYTES, ZIP_BOMB_RATIO = 16 << 20, 100  # a part bigger than this that expands more than this is refused


def _refuse_zip_bomb(path: Path) -> None:
    """An .xlsx is a zip: refuse a part that expands from almost nothing to a lot (real sheets
    compress 5-20x), before openpyxl parses it (it scans a sheet with no `dimension` in full,
    keeping every element)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return  # openpyxl reports it
    for part in parts:
        if part.file_size > ZIP_BOMB_BYTES and part.file_size > ZIP_BOMB_RATIO * max(part.compress_size, 1):
            raise BadInput(
                Message(
                    "batch.zip_bomb",
                    path=path,
                    part=part.filename,
                    packed=part.compress_size,
                    size=part.file_size,
                    ratio=part.file_size // max(part.compress_size, 1),
                )
            )


def _read_xlsx(path: Path, max_rows: int, max_cell_chars: int) -> Table:
    """The first sheet, streamed twice in step: once for the values Excel last computed (what
    tasks read), once for the formulas (kept, so an XLSX output writes them back unchanged). Dates
    stay dates. A formula with no computed value (a file saved by a program that does not
    calculate) is refused, naming the cells: it is not an empty cell."""
    import openpyxl

    _refuse_zip_bomb(path)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        formulas = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise BadInput(Message("batch.bad_xlsx", path=path, detail=f"{type(exc).__name__}: {exc}")) from None
    try:
        sheet, formula_sheet = book.worksheets[0], formulas.worksheets[0]
        # its `dimension` is not trusted: too big, openpyxl pads with empty rows; too small, it drops rows
        sheet.reset_dimensions()
        formula_sheet.reset_dimensions()
        header = list(next(sheet.iter_rows(min_row=1, max_row=1, max_col=MAX_COLUMNS, values_only=True), None) or ())
        while header and header[-1] is None:  # padding, not columns
            header.pop()
        if not header:
            raise BadInput(Message("batch.xlsx_no_header", path=path))
        columns = [str(h) if h is not None else f"column{i + 1}" for i, h in enumerate(header)]
        _check_cells(path, Message("batch.where_header"), zip(columns, columns), max_cell_chars)
        values = sheet.iter_rows(min_row=2, max_col=len(columns), values_only=True)
        raw = (
            tuple(c.value if c.data_type == "f" else None for c in row)  # formula cells only, not "=..." text
            for row in formula_sheet.iter_rows(min_row=2, max_col=len(columns))
        )
        uncomputed: list[str] = []
        rows = list(_xlsx_rows(path, _with_formulas(values, raw, uncomputed), columns, max_rows, max_cell_chars))
        if uncomputed:
            more = Message("batch.and_more", count=len(uncomputed) - 10) if len(uncomputed) > 10 else Message("empty")
            cells = ", ".join(uncomputed[:10])
            raise BadInput(Message("batch.uncomputed_formulas", path=path, cells=cells, more=more))
        title = sheet.title
    except (BadInput, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - a broken sheet inside a valid zip
        raise BadInput(Message("batch.bad_xlsx", path=path, detail=f"{type(exc).__name__}: {exc}")) from None
    finally:
        book.close()
        formulas.close()
    return Table(columns, rows, None, title)


def _with_formulas(
    values: Iterator[tuple[Any, ...]], raw: Iterator[tuple[Any, ...]], uncomputed: list[str]
) -> Iterator[tuple[Any, ...]]:
    """Each row of computed values, with formula cells as `Formula` (see above); `raw` holds the
    formula of each formula cell and None elsewhere."""
    from openpyxl.utils import get_column_letter

    for number, (row, source) in enumerate(zip(values, raw), 2):
        if not any(isinstance(v, str) for v in source):
            yield row
            continue
        cells = list(row) + [None] * (len(source) - len(row))
        for i, formula in enumerate(source):
            if isinstance(formula, str):
                if cells[i] is None:
                    uncomputed.append(f"{get_column_letter(i + 1)}{number}")
                cells[i] = Formula(formula, cells[i])
        yield tuple(cells)


def _xlsx_rows(
    path: Path, values: Iterator[tuple[Any, ...]], columns: list[str], max_rows: int, max_cell_chars: int
) -> Iterator[dict[str, Any]]:
    """Data rows, streamed. A run of empty rows is only counted; it becomes rows (each one an
    "empty input" failure, so row positions stay the sheet's) when a row with data follows it,
    and is dropped at the end. At most `max_rows` rows are read, empty ones included, so a sheet
    claiming millions of empty rows stops at the limit instead of being walked to its end."""
    empty_run = 0
    emitted = 0
    for read, row in enumerate(values, 1):
        if read > max_rows:
            detail = Message("batch.empty_rows_so_far", first=emitted + 2, last=read + 1) if empty_run else None
            raise _too_many_rows(path, max_rows, detail)
        if row is None or all(v is None for v in row):
            empty_run += 1
            continue
        for _ in range(empty_run):
            yield {c: "" for c in columns}
        emitted += empty_run + 1
        empty_run = 0
        record = {c: ("" if v is None else v) for c, v in zip(columns, row)}
        _check_cells(path, Message("batch.where_row", row=read + 1), record.items(), max_cell_chars)
        yield record


def row_hash(row: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


# --- writing ----------------------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9][0-9.,]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
# what a spreadsheet may skip before a formula: spaces, no-break and ideographic spaces, zero-width
# characters and a byte-order mark; full-width ＝＋－＠ are read as their ASCII forms (NFKC)
_SKIPPED = " \u00a0\u3000\u200b\u200c\u200d\u2060\ufeff"


def _starts_a_formula(text: str) -> bool:
    import unicodedata

    if text.startswith(_FORMULA_START):
        return True
    rest = text.lstrip(_SKIPPED)
    return bool(rest) and unicodedata.normalize("NFKC", rest[0]).startswith(_FORMULA_START[:4])


def spreadsheet_safe(value: Any) -> Any:
    """A cell a spreadsheet will show, never run (OWASP, CSV injection): text beginning with
    = + - @ tab or CR gets a leading `'`, unless it is a plain number (`-12`, `-3.5`, `-1,234`,
    `+1e5`): digits, `.` and `,` with a sign cannot form a formula. Numbers, booleans (as
    true/false) and JSON (dicts, lists) are safe as they are."""
    if isinstance(value, Formula):  # the user's own formula: its computed value (XLSX writes the formula)
        return spreadsheet_safe(value.cached)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)
    if value is None:
        return ""
    if isinstance(value, str) and _starts_a_formula(value) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def write(
    path: Path,
    columns: Sequence[str],
    rows: list[dict[str, Any]],
    encoding: str | None = None,
    sheet: str | None = None,
) -> None:
    """Write atomically and privately (0600, never through a symlink): see `private_output`.
    CSV and XLSX cells (the header too) go through `spreadsheet_safe`; JSONL is data, kept raw.
    XLSX keeps the input's sheet name (`sheet`), dates as dates and the input's formulas."""
    kind = _format(path)
    with private_output(path) as tmp:
        if kind == ".jsonl":
            with open(tmp, "w", encoding="utf-8") as out:
                for row in rows:
                    plain = {k: (v.cached if isinstance(v, Formula) else v) for k, v in row.items()}
                    out.write(json.dumps(plain, ensure_ascii=False, default=str) + "\n")
        elif kind == ".csv":
            with open(tmp, "w", encoding=encoding or "utf-8-sig", newline="", errors="replace") as out:
                writer = csv.writer(out)
                writer.writerow([spreadsheet_safe(c) for c in columns])
                for row in rows:
                    writer.writerow([spreadsheet_safe(row.get(c)) for c in columns])
        else:
            import openpyxl

            book = openpyxl.Workbook(write_only=True)
            out_sheet = book.create_sheet(sheet or "results")
            out_sheet.append([spreadsheet_safe(c) for c in columns])
            for row in rows:
                out_sheet.append([_xlsx_cell(row.get(c)) for c in columns])
            book.save(tmp)


# Formulas that reach outside the workbook: DDE (`cmd|' /C calc'!A0`), links, web and external
# calls. An input formula using one is not written back as a formula (its computed value is, made
# safe): the output is opened by people who trust unyo's file, not the file unyo was given.
_REACHES_OUT = re.compile(
    r"\||\b(?:HYPERLINK|WEBSERVICE|FILTERXML|CALL|REGISTER(?:\.ID)?|EXEC|DDE(?:AUTO)?|RTD|IMAGE|"
    r"IMPORT(?:DATA|XML|HTML|FEED|RANGE))\s*\(",
    re.IGNORECASE,
)


def _xlsx_cell(value: Any) -> Any:
    """An XLSX output cell: the input's own formula unchanged (unless it reaches outside the
    workbook), dates as dates, the rest made safe."""
    if isinstance(value, Formula):
        if _REACHES_OUT.search(value.formula):
            return spreadsheet_safe(value.formula if value.cached is None else value.cached)
        return value.formula
    return spreadsheet_safe(value)
