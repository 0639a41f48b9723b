"""The review queue (human in the loop): flagged task outputs wait here for a person.

    add      a task's output that must not leave on its own (needs_human, violations, --review);
             idempotent per (source, row): a resumed batch does not queue a row twice
    list/get what waits, or everything; `owner` limits a non-admin to their own items
    decide   approve / edit (a revised output, approved) / reject, by an actor, audited with when
    export   approved items not yet exported -> CSV or JSONL (0600), or POSTed to a webhook;
             only `approved` items ever leave

Every action (add, approve, edit, reject, export) is a row of unyo_review_actions: who and when.
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unyo._records._store import Store
from unyo._types._errors import ConfigError

STATUSES = ("pending", "approved", "rejected")
_COLUMNS = (
    "id, source, row_key, task, owner, reason, input, output, edited, status, created_at, "
    "decided_by, decided_at, exported_at"
)


class ReviewError(ConfigError):
    """A review action that cannot be done (unknown item, already decided, bad edit)."""


@dataclass(frozen=True)
class ReviewItem:
    id: str
    source: str
    row_key: str
    task: str
    owner: str | None
    reason: str
    input: str
    output: dict[str, Any]
    edited: dict[str, Any] | None
    status: str
    created_at: float
    decided_by: str | None = None
    decided_at: float | None = None
    exported_at: float | None = None

    @property
    def final(self) -> dict[str, Any]:
        """What leaves once approved: the reviewer's edit, else the task's output."""
        return self.edited if self.edited is not None else self.output

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _item(row: Sequence[Any]) -> ReviewItem:
    values = list(row)
    values[7] = json.loads(values[7])
    values[8] = json.loads(values[8]) if values[8] is not None else None
    return ReviewItem(*values)


def parse_output(text: str) -> dict[str, Any]:
    """A reviewer's edited output: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReviewError(f"the edited output is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ReviewError("the edited output must be a JSON object (the task's fields)")
    return value


class ReviewQueue:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate()

    def add(
        self, source: str, row_key: str, task: str, input: str, output: dict[str, Any], reason: str, owner: str | None
    ) -> str:
        """Queue one output; the existing item's id when this (source, row) is already queued."""
        item_id = uuid.uuid4().hex
        now = time.time()
        with self.store.tx() as tx:
            found = tx.execute("SELECT id FROM unyo_review_items WHERE source = ? AND row_key = ?", [source, row_key])
            if found:
                return str(found[0][0])
            values = [item_id, source, row_key, task, owner, reason, input, json.dumps(output, ensure_ascii=False)]
            tx.execute(
                f"INSERT INTO unyo_review_items ({_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                [*values, None, "pending", now, None, None, None],
            )
            self._audit(tx, item_id, owner or "unyo", "queued", reason, now)
        return item_id

    def find(self, source: str, row_key: str) -> ReviewItem | None:
        """The item queued for this (source, row), if any."""
        with self.store.tx(write=False) as tx:
            rows = tx.execute(
                f"SELECT {_COLUMNS} FROM unyo_review_items WHERE source = ? AND row_key = ?", [source, row_key]
            )
        return _item(rows[0]) if rows else None

    def list(self, status: str | None = None, owner: str | None = None, limit: int = 500) -> list[ReviewItem]:
        where, params = [], []
        if status:
            if status not in STATUSES:
                raise ReviewError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
            where.append("status = ?")
            params.append(status)
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        sql = f"SELECT {_COLUMNS} FROM unyo_review_items"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self.store.tx(write=False) as tx:
            rows = tx.execute(f"{sql} ORDER BY created_at, id LIMIT {int(limit)}", params)
        return [_item(r) for r in rows]

    def get(self, item_id: str, owner: str | None = None) -> ReviewItem:
        """One item; `owner` set: only when it is theirs (else the same 'no item' as a wrong id)."""
        with self.store.tx(write=False) as tx:
            rows = tx.execute(f"SELECT {_COLUMNS} FROM unyo_review_items WHERE id = ?", [item_id])
        if not rows or (owner is not None and rows[0][4] != owner):
            raise ReviewError(f"no review item {item_id!r}")
        return _item(rows[0])

    def history(self, item_id: str) -> list[dict[str, Any]]:
        with self.store.tx(write=False) as tx:
            rows = tx.execute(
                "SELECT ts, actor, action, detail FROM unyo_review_actions WHERE item_id = ? ORDER BY ts, id",
                [item_id],
            )
        return [{"ts": r[0], "actor": r[1], "action": r[2], "detail": r[3]} for r in rows]

    def decide(
        self,
        item_id: str,
        action: str,
        actor: str,
        edited: dict[str, Any] | None = None,
        note: str = "",
        owner: str | None = None,
    ) -> ReviewItem:
        """approve | edit (the revised output, approved) | reject a pending item, audited."""
        if action not in ("approve", "edit", "reject"):
            raise ReviewError(f"unknown review action {action!r}")
        if action == "edit" and edited is None:
            raise ReviewError("edit needs the revised output")
        if not actor.strip():
            raise ReviewError("a review action needs who does it")
        item = self.get(item_id, owner)
        now = time.time()
        status = "rejected" if action == "reject" else "approved"
        with self.store.tx() as tx:
            changed = tx.execute(
                "UPDATE unyo_review_items SET status = ?, edited = ?, decided_by = ?, decided_at = ? "
                "WHERE id = ? AND status = 'pending' RETURNING id",
                [status, json.dumps(edited, ensure_ascii=False) if edited is not None else None, actor, now, item.id],
            )
            if not changed:
                raise ReviewError(f"review item {item.id} is already {item.status} (by {item.decided_by})")
            self._audit(tx, item.id, actor, action, note or None, now)
        return self.get(item.id)

    def export(self, include_exported: bool = False) -> list[ReviewItem]:
        """The approved items to send (not yet exported unless asked); mark them with `mark_exported`."""
        items = self.list("approved")
        return [i for i in items if include_exported or i.exported_at is None]

    def mark_exported(self, items: Sequence[ReviewItem], actor: str, where: str) -> None:
        now = time.time()
        with self.store.tx() as tx:
            for item in items:
                tx.execute("UPDATE unyo_review_items SET exported_at = ? WHERE id = ?", [now, item.id])
                self._audit(tx, item.id, actor, "exported", where, now)

    @staticmethod
    def _audit(tx: Any, item_id: str, actor: str, action: str, detail: str | None, now: float) -> None:
        tx.execute(
            "INSERT INTO unyo_review_actions (id, item_id, ts, actor, action, detail) VALUES (?, ?, ?, ?, ?, ?)",
            [uuid.uuid4().hex, item_id, now, actor, action, detail],
        )


def export_record(item: ReviewItem) -> dict[str, Any]:
    """One approved item as it leaves: where it came from, who approved it, the final output."""
    return {
        "review_id": item.id,
        "source": item.source,
        "row": item.row_key,
        "task": item.task,
        "input": item.input,
        "approved_by": item.decided_by,
        "approved_at": item.decided_at,
        "edited": item.edited is not None,
        **{f"output_{k}" if k in ("input", "row", "task") else k: v for k, v in item.final.items()},
    }


def render_export(items: Sequence[ReviewItem], path: Path) -> str:
    """CSV (by suffix .csv) or JSONL text of the approved items."""
    records = [export_record(i) for i in items]
    if path.suffix.lower() == ".csv":
        fields: list[str] = []
        for r in records:
            fields += [k for k in r if k not in fields]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fields)
        writer.writeheader()
        for r in records:
            writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                             for k, v in r.items()})  # fmt: skip
        return buf.getvalue()
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    raise ReviewError(f"{path}: export to a .csv or .jsonl file")
