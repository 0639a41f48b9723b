"""Shared set-up for the batch benchmarks: a fresh UNYO_HOME and a CSV of `rows` inquiries."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path


def inquiries_csv(rows: int, prefix: str) -> tuple[Path, Path]:
    """(a new temporary directory that is also UNYO_HOME's parent, the CSV with a `text` column)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["UNYO_HOME"] = str(tmp / "home")
    source = tmp / "in.csv"
    with open(source, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text"])
        writer.writerows([[f"inquiry {i}: 請求書の再発行をお願いします"] for i in range(rows)])
    return tmp, source
