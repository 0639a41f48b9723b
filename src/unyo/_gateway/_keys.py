"""Virtual keys for `unyo serve`: what a caller presents instead of the provider's key.

    create   uk-<43 random url-safe chars>, shown once; stored as HMAC-SHA256(server secret, key)
    lookup   hash the presented key, fetch the row by its hash (an index lookup on a value the
             caller cannot steer), compare with `hmac.compare_digest`; revoked/expired -> refused
    revoke   sets revoked_at: every replica reads the row on every request, so it takes effect on
             the next request everywhere
    rotate   a new key with the same scope; the old one is revoked and points at the new id

The server secret comes from UNYO_GATEWAY_SECRET or the file named by UNYO_GATEWAY_SECRET_FILE;
it is never stored in the database, so a leaked database does not leak a usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from unyo._records._store import Store
from unyo._records._store._base import money
from unyo._types._errors import ConfigError, UsageError
from unyo._types._messages import Message, os_reason
from unyo._types._redact import register_secret

PREFIX = "uk-"
_COLUMNS = (
    "id, name, key_hash, hint, models, budget_request, budget_daily, budget_monthly, rpm, tpm, "
    "user_id, tag, created_at, expires_at, revoked_at, rotated_to"
)


def server_secret(env: Mapping[str, str] | None = None) -> bytes:
    """The HMAC secret: UNYO_GATEWAY_SECRET, else the file UNYO_GATEWAY_SECRET_FILE names."""
    env = os.environ if env is None else env
    value = env.get("UNYO_GATEWAY_SECRET", "").strip()
    if not value and env.get("UNYO_GATEWAY_SECRET_FILE"):
        path = Path(env["UNYO_GATEWAY_SECRET_FILE"])
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(Message("gw.secret_file_unreadable", path=str(path), reason=os_reason(exc))) from None
    if len(value) < 16:
        raise ConfigError(Message("gw.secret_missing"))
    register_secret(value)
    return value.encode("utf-8")


def key_hash(secret: bytes, key: str) -> str:
    return hmac.new(secret, key.encode("utf-8"), hashlib.sha256).hexdigest()


def parse_duration(text: str) -> float:
    """`--expires 90d` / `12h` / `30m` in seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text or "")
    if not m:
        raise UsageError(Message("gw.bad_duration", text=repr(text)))
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


@dataclass(frozen=True)
class VirtualKey:
    """One key's scope and state (never the key itself)."""

    id: str
    name: str
    hint: str  # "uk-AbC…": enough to recognise it in a list, useless to an attacker
    models: tuple[str, ...] = ()  # allowed roles / model ids; empty: any
    budget_request: Decimal | None = None
    budget_daily: Decimal | None = None
    budget_monthly: Decimal | None = None
    rpm: int | None = None
    tpm: int | None = None
    user: str | None = None
    tag: str | None = None
    created_at: float = field(default_factory=time.time)
    expires_at: float | None = None
    revoked_at: float | None = None
    rotated_to: str | None = None

    @property
    def ledger_user(self) -> str:
        """Who the ledger charges (and the key's budgets count): the key's user, else `key:NAME`.
        By name, not id, so a rotated key keeps its spend."""
        return self.user or f"key:{self.name}"

    def state(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["models"] = list(self.models)
        for k in ("budget_request", "budget_daily", "budget_monthly"):
            out[k] = None if out[k] is None else str(out[k])
        out["state"] = self.state()
        return out


def _from_row(row: Sequence[Any]) -> VirtualKey:
    (kid, name, _hash, hint, models, b_req, b_day, b_month, rpm, tpm, user, tag, created, expires, revoked, rotated) = (
        row
    )
    return VirtualKey(
        id=kid,
        name=name,
        hint=hint,
        models=tuple(json.loads(models or "[]")),
        budget_request=money(b_req),
        budget_daily=money(b_day),
        budget_monthly=money(b_month),
        rpm=None if rpm is None else int(rpm),
        tpm=None if tpm is None else int(tpm),
        user=user,
        tag=tag,
        created_at=float(created),
        expires_at=None if expires is None else float(expires),
        revoked_at=None if revoked is None else float(revoked),
        rotated_to=rotated,
    )


class KeyStore:
    """Virtual keys in the shared store (SQLite or PostgreSQL)."""

    def __init__(self, store: Store, secret: bytes) -> None:
        self.store, self._secret = store, secret

    def create(
        self,
        name: str,
        *,
        models: Sequence[str] = (),
        budget_request: Decimal | None = None,
        budget_daily: Decimal | None = None,
        budget_monthly: Decimal | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        user: str | None = None,
        tag: str | None = None,
        expires_in_s: float | None = None,
    ) -> tuple[str, VirtualKey]:
        """A new key: (the key, shown once; its record)."""
        if not name or not name.strip():
            raise ConfigError(Message("gw.key_needs_name"))
        for label, amount in (("request", budget_request), ("daily", budget_daily), ("monthly", budget_monthly)):
            if amount is not None and amount < 0:
                raise ConfigError(Message("gw.negative_budget", label=label, amount=amount))
        for label, rate in (("rpm", rpm), ("tpm", tpm)):
            if rate is not None and rate <= 0:
                raise ConfigError(Message("gw.rate_not_positive", label=label, rate=rate))
        if any(k.name == name.strip() for k in self.list(include_revoked=False)):
            raise ConfigError(Message("gw.key_name_taken", name=repr(name.strip())))
        key = PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        record = VirtualKey(
            id=f"vk_{uuid.uuid4().hex[:16]}",
            name=name.strip(),
            hint=key[:7] + "…",
            models=tuple(m.strip() for m in models if m.strip()),
            budget_request=budget_request,
            budget_daily=budget_daily,
            budget_monthly=budget_monthly,
            rpm=rpm,
            tpm=tpm,
            user=user,
            tag=tag,
            created_at=now,
            expires_at=now + expires_in_s if expires_in_s else None,
        )
        self._insert(record, key)
        return key, record

    def _insert(self, record: VirtualKey, key: str) -> None:
        values = [
            record.id,
            record.name,
            key_hash(self._secret, key),
            record.hint,
            json.dumps(list(record.models)),
            record.budget_request,
            record.budget_daily,
            record.budget_monthly,
            record.rpm,
            record.tpm,
            record.user,
            record.tag,
            record.created_at,
            record.expires_at,
            record.revoked_at,
            record.rotated_to,
        ]
        with self.store.tx() as tx:
            tx.execute(f"INSERT INTO unyo_keys ({_COLUMNS}) VALUES ({', '.join('?' * len(values))})", values)

    def lookup(self, key: str) -> VirtualKey | None:
        """The record for a presented key (any state), or None if no key has this hash."""
        digest = key_hash(self._secret, key)
        with self.store.tx(write=False) as tx:
            rows = tx.execute(f"SELECT {_COLUMNS} FROM unyo_keys WHERE key_hash = ?", [digest])
        if not rows or not hmac.compare_digest(str(rows[0][2]), digest):
            return None
        return _from_row(rows[0])

    def get(self, ref: str) -> VirtualKey:
        """A key by id or (unique) name."""
        with self.store.tx(write=False) as tx:
            rows = tx.execute(f"SELECT {_COLUMNS} FROM unyo_keys WHERE id = ?", [ref])
            if not rows:
                rows = tx.execute(f"SELECT {_COLUMNS} FROM unyo_keys WHERE name = ? AND revoked_at IS NULL", [ref])
        if not rows:
            raise ConfigError(Message("gw.no_such_key", ref=repr(ref)))
        if len(rows) > 1:
            raise ConfigError(Message("gw.key_name_ambiguous", count=len(rows), ref=repr(ref)))
        return _from_row(rows[0])

    def list(self, include_revoked: bool = True) -> list[VirtualKey]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        with self.store.tx(write=False) as tx:
            rows = tx.execute(f"SELECT {_COLUMNS} FROM unyo_keys{where} ORDER BY created_at")
        return [_from_row(r) for r in rows]

    def revoke(self, ref: str) -> VirtualKey:
        record = self.get(ref)
        if record.revoked_at is None:
            with self.store.tx() as tx:
                tx.execute("UPDATE unyo_keys SET revoked_at = ? WHERE id = ?", [time.time(), record.id])
        return self.get(record.id)

    def rotate(self, ref: str) -> tuple[str, VirtualKey]:
        """A new key with the old one's scope and expiry; the old one is revoked."""
        old = self.get(ref)
        if old.revoked_at is not None:
            raise ConfigError(Message("gw.key_revoked", id=old.id, name=old.name))
        key = PREFIX + secrets.token_urlsafe(32)
        from dataclasses import replace

        new = replace(old, id=f"vk_{uuid.uuid4().hex[:16]}", hint=key[:7] + "…", created_at=time.time())
        self._insert(new, key)
        with self.store.tx() as tx:
            tx.execute(
                "UPDATE unyo_keys SET revoked_at = ?, rotated_to = ? WHERE id = ?", [time.time(), new.id, old.id]
            )
        return key, new
