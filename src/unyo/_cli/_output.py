"""How listings are printed: `--format table|tsv|csv|json|jsonl`, and colour.

A listing is a title, column names and rows. On a terminal it is a rich table; when stdout is a pipe
or a file it is TSV (a header line, then one line per row, nothing cut), unless `--format table`
asks for the table anyway. `json` is one array of objects keyed by column name, `jsonl` one object
per line, `csv` RFC 4180 with a header. Cells are `clean()`ed of terminal escapes in every format
but json/jsonl, which keep the exact text (JSON escapes what needs escaping).

Colour follows the conventions: `NO_COLOR` (any value) turns all styling off, `FORCE_COLOR` turns
it on when not a terminal, and `--color auto|always|never` overrides both.
"""

from __future__ import annotations

import os
import sys
from typing import Any

FORMATS = ("table", "tsv", "csv", "json", "jsonl")
_format: str | None = None  # --format of this process's command (set by main)


def configure(fmt: str | None, color: str | None) -> None:
    global _format
    _format = fmt
    if color == "never":
        os.environ["NO_COLOR"] = "1"
        os.environ.pop("FORCE_COLOR", None)
    elif color == "always":
        os.environ.pop("NO_COLOR", None)
        os.environ["FORCE_COLOR"] = "1"


def color_enabled(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)())


def chosen_format() -> str:
    if _format:
        return _format
    return "table" if sys.stdout.isatty() else "tsv"


def _cell(value: Any) -> str:
    from unyo._cli._shared import clean

    return clean(value)  # one line, no escapes: a TSV row stays one row


def render(title: str, columns: list[str], rows: list[list[Any]], fmt: str | None = None) -> None:
    fmt = fmt or chosen_format()
    if fmt == "table":
        from unyo._cli._shared import rich_table

        rich_table(title, columns, rows)
    elif fmt == "tsv":
        out = ["\t".join(_cell(c).replace("\t", " ") for c in columns)]
        out += ["\t".join(_cell(v).replace("\t", " ") for v in row) for row in rows]
        print("\n".join(out))
    elif fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([_cell(c) for c in columns])
        writer.writerows([[_cell(v) for v in row] for row in rows])
    else:
        import json

        records = [dict(zip(columns, (_plain(v) for v in row))) for row in rows]
        if fmt == "json":
            print(json.dumps(records, ensure_ascii=False))
        else:
            for record in records:
                print(json.dumps(record, ensure_ascii=False))


def _plain(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        from unyo._types._money_text import money_text

        return money_text(value)
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def emit(args: Any, title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A listing for a command whose parser has --format (see `listing_options`)."""
    render(title, columns, rows, getattr(args, "format", None))
