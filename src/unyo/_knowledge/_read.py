"""Documents as Blocks: what the chunker needs to follow their structure.

Each reader turns one format into a flat list of `Block`s (heading / paragraph / item / row),
with the page (PDF) or sheet (XLSX) they came from. Problems a user can fix (an encrypted or
broken PDF, a file with no text, an unknown extension) are `BadInput` naming the file.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from unyo._types._errors import BadInput, ConfigError
from unyo._types._messages import Message

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text"}
SUFFIXES = TEXT_SUFFIXES | {".html", ".htm", ".pdf", ".docx", ".csv", ".xlsx"}


@dataclass
class Block:
    kind: str  # heading | para | item | row
    text: str
    level: int = 0  # headings: 1 = top
    page: int | None = None  # PDF page (1-based)
    where: str | None = None  # a table row's place: "row 3", "Sheet1 row 3"


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_NUMBERED = re.compile(r"^(\d{1,2}(?:[.．]\d{1,2})*)(?!\d)[.．、)）]?\s*(\S.*)$")
_ITEM = re.compile(r"^\s*(?:[-*+・•●◯○]|\d+[.)）])\s+")
_CODE = re.compile(r"=|\w\(|^(?:import|from|print|return)\b")  # "# client = OpenAI(...)": a code comment
_SENTENCE_END = "。．.！？!?"


def _numbered_heading(line: str) -> int:
    """The level of a numbered heading line ("2.", "3.1 ..."), or 0 when it reads as prose."""
    m = _NUMBERED.match(line)
    if not m or len(line) > 60 or line[-1] in _SENTENCE_END or line.count("。") or "|" in line:
        return 0
    return m.group(1).replace("．", ".").count(".") + 1 - (1 if m.group(1).endswith(".") else 0)


def text_blocks(text: str) -> list[Block]:
    """Plain text or Markdown: `#` headings, numbered short lines as headings, list items,
    `|` table rows, and paragraphs (blank lines or one per line, as the file has them)."""
    blocks: list[Block] = []
    para: list[str] = []
    fence = False

    def flush() -> None:
        if para:
            blocks.append(Block("para", " ".join(para) if _latin(para) else "".join(para)))
            para.clear()

    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if line.startswith("```"):
            fence = not fence
        if not line:
            flush()
            continue
        heading = _MD_HEADING.match(line)
        if heading and not fence and not _CODE.search(heading.group(2)):
            flush()
            blocks.append(Block("heading", heading.group(2), len(heading.group(1))))
        elif not fence and (level := _numbered_heading(line)):
            flush()
            blocks.append(Block("heading", line, level))
        elif line.startswith("|"):
            flush()
            if not re.fullmatch(r"[|:\-\s]+", line):
                blocks.append(Block("row", line))
        elif _ITEM.match(raw) and not fence:
            flush()
            blocks.append(Block("item", line))
        else:
            para.append(line)
            if line[-1] in "。！？" or fence:  # Japanese text often has one paragraph per line
                flush()
    flush()
    return blocks


def _latin(lines: list[str]) -> bool:
    return all(ln.isascii() for ln in lines)


def _decode(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BadInput(Message("kb.not_text", name=name))


def html_blocks(data: bytes | str, name: str) -> list[Block]:
    """The main text of a page (trafilatura drops navigation and boilerplate), as Markdown."""
    try:
        import trafilatura
    except ImportError:
        raise ConfigError(Message("kb.needs_extra", name=name, kind="HTML")) from None
    html = data if isinstance(data, str) else _decode(data, name)
    text = trafilatura.extract(html, output_format="markdown", include_tables=True, favor_recall=True)
    return text_blocks(text or "")


def pdf_blocks(data: bytes, name: str) -> list[Block]:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise ConfigError(Message("kb.needs_extra", name=name, kind="PDF")) from None
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise BadInput(Message("kb.pdf_encrypted", name=name))
        blocks = []
        for number, page in enumerate(reader.pages, 1):
            for block in text_blocks(page.extract_text() or ""):
                block.page = number
                blocks.append(block)
        return blocks
    except BadInput:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise BadInput(Message("kb.unreadable", name=name, kind="PDF", detail=f"{type(exc).__name__}: {exc}")) from None


def docx_blocks(data: bytes, name: str) -> list[Block]:
    try:
        import docx
    except ImportError:
        raise ConfigError(Message("kb.needs_extra", name=name, kind="DOCX")) from None
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - python-docx raises zipfile, lxml and KeyError alike
        raise BadInput(Message("kb.unreadable", name=name, kind=".docx", detail=type(exc).__name__)) from None
    blocks = []
    for para in document.paragraphs:
        text = para.text.strip()
        style = (para.style.name if para.style is not None else "") or ""
        if not text:
            continue
        if style.startswith("Heading") or style == "Title":
            level = int(style.split()[-1]) if style.split()[-1].isdigit() else 1
            blocks.append(Block("heading", text, level))
        elif "List" in style:
            blocks.append(Block("item", text))
        else:
            blocks.append(Block("para", text))
    for t, table in enumerate(document.tables, 1):
        rows = [[c.text.strip() for c in row.cells] for row in table.rows]
        blocks.extend(_rows(rows, f"table {t}"))
    return blocks


def _rows(rows: list[list[str]], place: str) -> list[Block]:
    """Table rows one Block each, as "header: value; ..." so a row stands alone in a passage."""
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        return []
    header = [h.strip() or f"col{i + 1}" for i, h in enumerate(rows[0])]
    out = []
    for number, row in enumerate(rows[1:], 2):
        cells = [f"{h}: {c.strip()}" for h, c in zip(header, row) if c.strip()]
        if cells:
            out.append(Block("row", "; ".join(cells), where=f"{place} row {number}".strip()))
    return out


def csv_blocks(data: bytes, name: str) -> list[Block]:
    try:
        rows = list(csv.reader(io.StringIO(_decode(data, name))))
    except csv.Error as exc:
        raise BadInput(Message("kb.unreadable", name=name, kind="CSV", detail=exc)) from None
    return _rows(rows, "")


def xlsx_blocks(data: bytes, name: str) -> list[Block]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zipfile / openpyxl errors
        raise BadInput(Message("kb.unreadable", name=name, kind=".xlsx", detail=type(exc).__name__)) from None
    blocks = []
    for sheet in book.worksheets:
        rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        blocks.extend(_rows(rows, sheet.title))
    return blocks


def read_blocks(data: bytes, name: str, suffix: str) -> list[Block]:
    """The Blocks of one document, by its suffix (".pdf", ...)."""
    suffix = suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return text_blocks(_decode(data, name))
    readers = {
        ".html": html_blocks,
        ".htm": html_blocks,
        ".pdf": pdf_blocks,
        ".docx": docx_blocks,
        ".csv": csv_blocks,
        ".xlsx": xlsx_blocks,
    }
    if suffix not in readers:
        raise BadInput(
            Message("kb.file_type", name=name, suffix=suffix or "(none)", formats=", ".join(sorted(SUFFIXES)))
        )
    return readers[suffix](data, name)  # type: ignore[operator]


def suffix_of(path: Path) -> str:
    return path.suffix.lower()
