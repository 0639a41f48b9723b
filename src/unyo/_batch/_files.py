"""Reading and writing batch files: CSV, XLSX, JSONL.

CSV encodings: UTF-8 (with or without BOM) is tried strictly, then CP932 (Shift_JIS as Japanese
Excel writes it); anything else needs `--encoding`. Output is written to a temporary file next
to the target and renamed over it, so a crash never leaves a half-written results file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unyo._errors import BadInput

FORMATS = (".csv", ".xlsx", ".jsonl")


@dataclass
class Table:
    columns: list[str]
    rows: list[dict[str, Any]]
    encoding: str | None = None


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise BadInput(f"{path}: unsupported file type {suffix or '(none)'}; use {', '.join(FORMATS)}")
    return suffix


def decode(raw: bytes, encoding: str | None, name: str) -> tuple[str, str]:
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise BadInput(f"{name}: cannot be read as {encoding} ({exc})") from None
    for candidate in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    raise BadInput(f"{name}: not UTF-8 and not Shift_JIS/CP932; give the file's encoding with --encoding (e.g. euc-jp, utf-16)")


def read(path: Path, encoding: str | None = None) -> Table:
    kind = _format(path)
    if not path.exists():
        raise BadInput(f"{path}: no such file")
    if kind == ".xlsx":
        return _read_xlsx(path)
    text, used = decode(path.read_bytes(), encoding, str(path))
    if kind == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(item, dict):
                raise BadInput(f"{path}:{number}: each line must be a JSON object")
            rows.append(item)
        columns = list(dict.fromkeys(k for r in rows for k in r))
        return Table(columns, rows, used)
    csv.field_size_limit(1 << 30)  # huge cells are a row error later, not a reader crash
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = [dict(r) for r in reader]
    except csv.Error as exc:
        raise BadInput(f"{path}: malformed CSV ({exc})") from None
    columns = list(reader.fieldnames or [])
    if not columns:
        raise BadInput(f"{path}: the CSV has no header row")
    for row in rows:
        extra = row.pop(None, None)  # type: ignore[call-overload]
        if extra:
            row["_extra"] = ",".join(extra)
    return Table(columns, rows, used)


def _read_xlsx(path: Path) -> Table:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise BadInput(f"{path}: not a readable .xlsx file ({type(exc).__name__}: {exc})") from None
    sheet = book.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    header = next(values, None)
    if not header:
        raise BadInput(f"{path}: the first sheet has no header row")
    columns = [str(h) if h is not None else f"column{i + 1}" for i, h in enumerate(header)]
    rows = []
    for row in values:
        if row is None or all(v is None for v in row):
            rows.append({c: "" for c in columns})
            continue
        rows.append({c: ("" if v is None else v) for c, v in zip(columns, row)})
    book.close()
    return Table(columns, rows, None)


def row_hash(row: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


def write(path: Path, columns: Sequence[str], rows: list[dict[str, Any]], encoding: str | None = None) -> None:
    """Write atomically: a temporary file in the same directory, then rename."""
    kind = _format(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if kind == ".jsonl":
            with open(tmp, "w", encoding="utf-8") as out:
                for row in rows:
                    out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        elif kind == ".csv":
            with open(tmp, "w", encoding=encoding or "utf-8-sig", newline="", errors="replace") as out:
                writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
                writer.writeheader()
                for row in rows:
                    writer.writerow({c: _cell(row.get(c)) for c in columns})
        else:
            import openpyxl

            book = openpyxl.Workbook(write_only=True)
            sheet = book.create_sheet("results")
            sheet.append(list(columns))
            for row in rows:
                sheet.append([_xlsx_cell(row.get(c)) for c in columns])
            book.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _xlsx_cell(value: Any) -> Any:
    value = _cell(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):  # never let a model's text become a formula
        return "'" + value
    return value
