"""The ledger held against the provider's own bill (`unyo reconcile`, issue 19).

    reconcile(settings, since)   -> pages through /organization/usage/{completions,embeddings} and
                                    /organization/costs (admin key, 1d buckets, capped pages, a
                                    deadline), compares them with the audit rows per UTC day and
                                    model, and says what differs and why
    reconcile(..., apply=True)   -> records the provider's figures as adjustment rows (unyo_calls,
                                    status 'adjustment'), settled on the current period's counters

An adjustment is the difference provider - ledger - earlier adjustments, per billed day and model,
so re-running the same range adds nothing. The calls it corrects are never rewritten. A missing
bucket (a gap) is reported and left alone, never taken as zero; the day in progress is "partial".
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from unyo._types._errors import ConfigError, UnyoError
from unyo._types._money_text import money_text

if TYPE_CHECKING:
    from unyo._core._config import Secret, Settings

ADMIN_ENV = "OPENAI_ADMIN_KEY"
DAY = 86400
MILLION = Decimal(1_000_000)
ZERO = Decimal(0)
BILLED_STATUSES = ("completed", "incomplete", "cancelled", "interrupted")
ADJUSTMENT = "adjustment"


class ReconcileError(UnyoError):
    exit_code = 6
    hint_en = "Check the provider's status and the base URL, then run `unyo reconcile` again."
    hint_ja = "プロバイダの状態とベース URL を確認して、`unyo reconcile` をもう一度実行してください。"


def admin_key() -> Secret:
    """OPENAI_ADMIN_KEY from the environment, `.env` or OPENAI_ADMIN_KEY_FILE (never unyo.toml),
    registered with the redactor the moment it is read."""
    from unyo._core._config import _read_key, _Sources

    key, _ = _read_key(_Sources(os.environ, Path.cwd()), SimpleNamespace(key_env=ADMIN_ENV))  # type: ignore[arg-type]
    if key is None:
        raise ConfigError(
            f"unyo reconcile reads the organization's usage and costs, which need an admin key: set {ADMIN_ENV} "
            f"in the environment or .env (or {ADMIN_ENV}_FILE to a secret file). A project API key cannot read them"
        )
    return key


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def fetch(
    base_url: str, key: Secret, path: str, params: list[tuple[str, Any]], max_pages: int, deadline: float
) -> tuple[list[dict[str, Any]], bool]:
    """Every bucket of one endpoint: (buckets, truncated). Stops on has_more: false, at the page cap or the deadline."""
    import urllib.error
    import urllib.request

    buckets: list[dict[str, Any]] = []
    page: str | None = None
    for _ in range(max_pages):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return buckets, True
        query = urlencode(params + ([("page", page)] if page else []))
        request = urllib.request.Request(
            f"{base_url.rstrip('/')}{path}?{query}", headers={"Authorization": f"Bearer {key.reveal()}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=min(remaining, 30.0)) as response:  # noqa: S310 - the profile's own base URL
                body = json.loads(response.read(), parse_float=Decimal)
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise ConfigError(
                    f"{path} answered {exc.code}: the key in {ADMIN_ENV} is not an admin key "
                    "(or lacks the usage read scope). "
                    f"Reading the bill needs an organization admin key (sk-admin-..., created by an organization owner "
                    f"under Settings > Organization > Admin keys); a project API key cannot read it"
                ) from None
            raise ReconcileError(f"{path} answered {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise ReconcileError(f"{path}: {type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None
        buckets.extend(body.get("data") or [])
        page = body.get("next_page")
        if not body.get("has_more"):
            return buckets, False
        if not page:
            return buckets, True  # "more" without a cursor: stop, and say so
    return buckets, True


@dataclass
class Cell:
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    cost: Decimal = ZERO
    cancelled: int = 0  # ledger: streams cancelled or interrupted

    def add(self, other: Cell) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.requests += other.requests
        self.cost += other.cost


@dataclass
class Provider:
    usage: dict[tuple[str, str], Cell] = field(default_factory=dict)  # (day, model)
    keys: dict[tuple[str, str, str, str], Cell] = field(default_factory=dict)  # (day, model, api_key_id, project_id)
    lines: dict[tuple[str, str, str], tuple[Decimal, Decimal | None]] = field(
        default_factory=dict
    )  # (day, model, part) -> amount, quantity
    usage_days: set[str] = field(default_factory=set)
    cost_days: set[str] = field(default_factory=set)
    partial: set[str] = field(default_factory=set)
    truncated: list[str] = field(default_factory=list)


def read_provider(
    base_url: str, key: Secret, start: int, end: int, max_pages: int = 50, timeout_s: float = 60.0
) -> Provider:
    out = Provider()
    deadline = time.monotonic() + timeout_s
    now = time.time()
    base = [("start_time", start), ("end_time", end), ("bucket_width", "1d")]
    for kind in ("completions", "embeddings"):
        path = f"/organization/usage/{kind}"
        buckets, cut = fetch(
            base_url,
            key,
            path,
            [*base, ("limit", 31), ("group_by", "model"), ("group_by", "api_key_id"), ("group_by", "project_id")],
            max_pages,
            deadline,
        )
        if cut:
            out.truncated.append(path)
        days = set()
        for bucket in buckets:
            day = _day(bucket["start_time"])
            days.add(day)
            if bucket["end_time"] > now:
                out.partial.add(day)
            for r in bucket.get("results") or []:
                cell = Cell(
                    int(r.get("input_tokens") or 0),
                    int(r.get("output_tokens") or 0),
                    int(r.get("num_model_requests") or 0),
                )
                model = str(r.get("model") or "(unknown)")
                out.usage.setdefault((day, model), Cell()).add(cell)
                out.keys.setdefault(
                    (day, model, str(r.get("api_key_id") or "-"), str(r.get("project_id") or "-")), Cell()
                ).add(cell)
        out.usage_days = days if kind == "completions" else out.usage_days & days
    buckets, cut = fetch(
        base_url, key, "/organization/costs", [*base, ("limit", 180), ("group_by", "line_item")], max_pages, deadline
    )
    if cut:
        out.truncated.append("/organization/costs")
    for bucket in buckets:
        day = _day(bucket["start_time"])
        out.cost_days.add(day)
        if bucket["end_time"] > now:
            out.partial.add(day)
        for r in bucket.get("results") or []:
            item = str(r.get("line_item") or "(unattributed)")
            model, _, part = item.rpartition(", ") if ", " in item else (item, "", "other")
            amount = Decimal(str((r.get("amount") or {}).get("value") or 0))
            quantity = (
                Decimal(str(r["quantity"]))
                if r.get("quantity") is not None and r.get("quantity_unit") == "tokens"
                else None
            )
            old = out.lines.get((day, model, part), (ZERO, None))
            out.lines[(day, model, part)] = (
                old[0] + amount,
                (old[1] or ZERO) + quantity if quantity is not None else old[1],
            )
    return out


def read_ledger(
    settings: Settings, start: int, end: int
) -> tuple[dict[tuple[str, str], Cell], dict[tuple[str, str], Cell]]:
    """(what unyo recorded, the adjustments already applied), per (UTC day, model)."""
    from unyo._records._audit import query
    from unyo._records._store import store_for

    seen: dict[tuple[str, str], Cell] = {}
    adjusted: dict[tuple[str, str], Cell] = {}
    for r in query(store_for(settings), limit=None, since=None, oldest_first=True):
        if r["status"] == ADJUSTMENT:
            day = str(r["detail"].get("billed_day", ""))
            if not _day(start) <= day <= _day(end - 1):
                continue
            cell = adjusted.setdefault((day, r["model"]), Cell())
            cell.add(
                Cell(
                    int(r["input_tokens"]),
                    int(r["output_tokens"]),
                    int(r["detail"].get("requests", 0)),
                    r["cost"] or ZERO,
                )
            )
            continue
        if not start <= r["ts"] < end or r["cache_hit"] or r["status"] not in BILLED_STATUSES:
            continue
        cell = seen.setdefault((_day(r["ts"]), r["model"]), Cell())
        cell.add(Cell(int(r["input_tokens"]), int(r["output_tokens"]), 1, r["cost"] or ZERO))
        cell.cancelled += r["status"] in ("cancelled", "interrupted")
    return seen, adjusted


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.00000001')).normalize():f}" if value else "0"


def _per_million(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.0001')).normalize():f}"


def reconcile(
    settings: Settings,
    since: float,
    *,
    apply: bool = False,
    tolerance_pct: float = 1.0,
    price_tolerance_pct: float = 2.0,
    min_tokens: int = 1000,
    max_pages: int = 50,
    timeout_s: float = 60.0,
    key: Secret | None = None,
) -> dict[str, Any]:
    from unyo._providers._catalog import model_info

    if settings.db_url == "off":
        raise ConfigError(
            "db_url = off: there is no ledger to reconcile (unset UNYO_DB_URL to use SQLite in UNYO_HOME)"
        )
    key = key or admin_key()
    now = time.time()
    start, end = int(since) - int(since) % DAY, int(now) + 1
    provider = read_provider(settings.base_url or "https://api.openai.com/v1", key, start, end, max_pages, timeout_s)
    seen, adjusted = read_ledger(settings, start, end)
    expected = [_day(t) for t in range(start, end, DAY)]
    gaps = [d for d in expected if d not in provider.usage_days or d not in provider.cost_days]
    known = [d for d in expected if d not in gaps]

    costs: dict[tuple[str, str], Decimal] = {}
    for (day, model, _part), (amount, _q) in provider.lines.items():
        costs[(day, model)] = costs.get((day, model), ZERO) + amount
    cells = sorted(set(provider.usage) | set(seen) | set(adjusted) | set(costs))
    tokens, unseen, findings = [], [], []
    for day, model in cells:
        if day in gaps:
            continue
        p, s, a = (
            provider.usage.get((day, model), Cell()),
            seen.get((day, model), Cell()),
            adjusted.get((day, model), Cell()),
        )
        p_cost = costs.get((day, model), ZERO)
        diff_in = p.input_tokens - s.input_tokens - a.input_tokens
        diff_out = p.output_tokens - s.output_tokens - a.output_tokens
        diff_req = p.requests - s.requests - a.requests
        causes = []
        if diff_req > 0:
            by_key = sorted((k[2], k[3], c.requests) for k, c in provider.keys.items() if k[0] == day and k[1] == model)
            unseen.append(
                {
                    "day": day,
                    "model": model,
                    "requests": diff_req,
                    "input_tokens": diff_in,
                    "output_tokens": diff_out,
                    "keys": [{"api_key_id": k, "project_id": pr, "requests": n} for k, pr, n in by_key],
                }
            )
            causes.append(
                f"{diff_req} request(s) billed that unyo never saw "
                "(other software using the same key, or a process killed mid-call)"
            )
        if diff_out > 0 and s.cancelled:
            causes.append(
                f"{s.cancelled} cancelled stream(s): the provider bills what it generated "
                "before it saw the disconnect, "
                "which can be more than the client received"
            )
        elif (diff_in or diff_out) and diff_req <= 0:
            causes.append("token counts differ on calls unyo recorded")
        tokens.append(
            {
                "day": day,
                "model": model,
                "partial": day in provider.partial,
                "ledger_input": s.input_tokens,
                "provider_input": p.input_tokens,
                "ledger_output": s.output_tokens,
                "provider_output": p.output_tokens,
                "adjusted_input": a.input_tokens,
                "adjusted_output": a.output_tokens,
                "diff_input": diff_in,
                "diff_output": diff_out,
                "ledger_requests": s.requests,
                "provider_requests": p.requests,
                "diff_requests": diff_req,
                "ledger_cost": money_text(s.cost),
                "adjusted_cost": money_text(a.cost),
                "provider_cost": money_text(p_cost),
                "diff_cost": money_text(p_cost - s.cost - a.cost),
                "causes": causes,
            }
        )
        findings.extend(f"{day} {model}: {c}" for c in causes)

    prices = []
    for model in sorted({m for _d, m, _p in provider.lines}):
        table = model_info(model, settings.models).price
        implied: dict[str, Decimal] = {}
        for part in ("input", "output"):
            amount = sum(
                (a for (d, m, pt), (a, _q) in provider.lines.items() if m == model and pt == part and d in known), ZERO
            )
            qty = sum(
                (
                    (q if q is not None else Decimal(getattr(provider.usage.get((d, m), Cell()), f"{part}_tokens")))
                    for (d, m, pt), (_a, q) in provider.lines.items()
                    if m == model and pt == part and d in known
                ),
                ZERO,
            )
            if qty <= 0:
                continue
            implied[part] = amount / qty * MILLION
            listed = getattr(table, part) if table else None
            off = listed is None or (listed and abs(implied[part] - listed) / listed * 100 > price_tolerance_pct)
            if off and qty >= min_tokens:
                listed_text = f"${_per_million(listed)}/1M" if listed is not None else "no price"
                prices.append({"model": model, "part": part, "table": str(listed) if listed is not None else None,
                               "implied": _per_million(implied[part]), "tokens": int(qty)})  # fmt: skip
                findings.append(
                    f"price table says {listed_text} {part} for {model}; "
                    f"the bill implies ${_per_million(implied[part])}"
                )
        drifted = [p for p in prices if p["model"] == model]
        if drifted:
            lines = [f'[models."{model}"]']
            for part in ("input", "output"):
                value = next((p["implied"] for p in drifted if p["part"] == part), None) or (
                    str(getattr(table, part)) if table else None
                )
                if value is not None:
                    lines.append(f'{part} = "{value}"')
            for p in drifted:
                p["override"] = "\n".join(lines)

    days = []
    for day in known:
        ledger = sum((c.cost for (d, _m), c in seen.items() if d == day), ZERO) + sum(
            (c.cost for (d, _m), c in adjusted.items() if d == day), ZERO
        )
        billed = sum((a for (d, _m), a in costs.items() if d == day), ZERO)
        if ledger or billed:
            days.append(
                {
                    "day": day,
                    "partial": day in provider.partial,
                    "ledger": money_text(ledger),
                    "provider": money_text(billed),
                    "diff": money_text(billed - ledger),
                }
            )
    ledger_total = sum((Decimal(d["ledger"]) for d in days), ZERO)
    provider_total = sum((Decimal(d["provider"]) for d in days), ZERO)
    drift = provider_total - ledger_total
    pct = float(drift / provider_total * 100) if provider_total else (0.0 if not drift else 100.0)
    token_drift = any(t["diff_input"] or t["diff_output"] for t in tokens)
    within = abs(pct) <= tolerance_pct and not token_drift
    verdict = (
        (
            f"within tolerance: ledger ${_money(ledger_total)}, bill ${_money(provider_total)} "
            f"(drift ${_money(drift)}, {pct:+.2f} %)"
        )
        if within
        else (
            f"a drift of ${_money(drift)} ({pct:+.2f} %): "
            f"ledger ${_money(ledger_total)}, bill ${_money(provider_total)}"
        )
    )
    report: dict[str, Any] = {
        "start": datetime.fromtimestamp(start, UTC).isoformat(),
        "end": datetime.fromtimestamp(end, UTC).isoformat(),
        "tokens": tokens,
        "costs": days,
        "prices": prices,
        "unseen": unseen,
        "findings": findings,
        "keys": _keys(provider),
        "gaps": gaps,
        "partial": sorted(provider.partial),
        "truncated": provider.truncated,
        "ledger_cost": money_text(ledger_total),
        "provider_cost": money_text(provider_total),
        "drift": money_text(drift),
        "drift_pct": round(pct, 4),
        "within_tolerance": within,
        "verdict": verdict,
        "applied": [],
    }
    if apply:
        report["applied"] = _apply(settings, tokens, now)
    _log_run(settings, now, start, end, apply, report)
    return report


def _keys(provider: Provider) -> list[dict[str, Any]]:
    totals: dict[tuple[str, str], Cell] = {}
    for (_d, _m, key_id, project), cell in provider.keys.items():
        totals.setdefault((key_id, project), Cell()).add(cell)
    return [
        {
            "api_key_id": k,
            "project_id": p,
            "requests": c.requests,
            "input_tokens": c.input_tokens,
            "output_tokens": c.output_tokens,
        }
        for (k, p), c in sorted(totals.items())
    ]


def _apply(settings: Settings, tokens: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """One adjustment row per (billed day, model) whose figures still differ; counted in the current period."""
    from unyo._core._limits import counter_keys
    from unyo._records._ledger import ledger_for

    ledger = ledger_for(settings)
    periods = settings.budget.period_keys()
    keys = counter_keys(None, None, periods)
    done = []
    for t in tokens:
        cost = Decimal(t["diff_cost"])
        if not (t["diff_input"] or t["diff_output"] or t["diff_requests"] or cost):
            continue
        with ledger.store.tx(write=False) as tx:
            n = tx.execute("SELECT COUNT(*) FROM unyo_calls WHERE id LIKE ?", [f"adj:{t['day']}:{t['model']}:%"])[0][0]
        rid = f"adj:{t['day']}:{t['model']}:{int(n) + 1}"
        detail = {
            "billed_day": t["day"],
            "requests": t["diff_requests"],
            "partial": t["partial"],
            "causes": t["causes"],
            "provider": {
                "input_tokens": t["provider_input"],
                "output_tokens": t["provider_output"],
                "cost": t["provider_cost"],
            },
        }
        record = {
            "id": rid,
            "ts": now,
            "day": periods["day"].split(":", 1)[1],
            "month": periods["month"].split(":", 1)[1],
            "api": "reconcile",
            "profile": settings.profile.name,
            "host": settings.host,
            "model": t["model"],
            "role": None,
            "user_id": None,
            "tag": None,
            "status": ADJUSTMENT,
            "error": None,
            "attempts": 0,
            "latency_s": None,
            "ttft_s": None,
            "input_tokens": t["diff_input"],
            "cached_tokens": 0,
            "output_tokens": t["diff_output"],
            "reasoning_tokens": 0,
            "usage_reported": True,
            "cost": cost,
            "worst_case": None,
            "cache_hit": False,
            "budget": None,
            "request_id": None,
            "response_id": None,
            "stream": False,
            "content_policy": "none",
            "prompt": None,
            "output": None,
            "detail": json.dumps(detail, ensure_ascii=False),
        }
        if ledger.settle(rid, cost, keys, record, once=True):
            done.append(
                {
                    "id": rid,
                    "day": t["day"],
                    "model": t["model"],
                    "input_tokens": t["diff_input"],
                    "output_tokens": t["diff_output"],
                    "requests": t["diff_requests"],
                    "cost": money_text(cost),
                }
            )
    return done


def _log_run(settings: Settings, now: float, start: int, end: int, applied: bool, report: dict[str, Any]) -> None:
    from unyo._records._store import store_for

    with store_for(settings).tx() as tx:
        tx.execute(
            "INSERT INTO unyo_reconciliations (id, ran_at, start_ts, end_ts, applied, ledger_cost, provider_cost, "
            "adjustments, verdict, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                uuid.uuid4().hex,
                now,
                start,
                end,
                applied,
                Decimal(report["ledger_cost"]),
                Decimal(report["provider_cost"]),
                len(report["applied"]),
                report["verdict"],
                json.dumps({"gaps": report["gaps"], "findings": report["findings"]}),
            ],
        )


def last_run(settings: Settings) -> float | None:
    """When `unyo reconcile` last ran against this ledger (None: never)."""
    from unyo._records._store import store_for

    with store_for(settings).tx(write=False) as tx:
        value = tx.execute("SELECT MAX(ran_at) FROM unyo_reconciliations")[0][0]
    return float(value) if value is not None else None
