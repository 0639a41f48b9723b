"""The fault server's organization usage and costs API (`/v1/organization/usage/*`, `/v1/organization/costs`).

    server.org.admin_key = "sk-admin-..."            only this key may read them (others: 401/403)
    server.org.prices["gpt-4o-mini"] = {"input": "0.16", "output": "0.60"}   what the server bills
    server.org.projects[key] = "proj_other"          the project a key belongs to (default proj_default)

Fed by what the server actually billed: every `bill()` (answers, cancelled streams, batch lines)
and every embeddings answer appends one entry (time, model, key, tokens) to `server.org.entries`;
`add(...)` adds one by hand (a call on another day). Buckets are UTC days (`bucket_width=1d`),
paged with `limit` / `page` / `next_page` / `has_more`; `group_by` takes model, project_id,
api_key_id (and batch, line_item for costs). `drop_days` (bucket start times) leaves those
buckets out, as a gap in the provider's data.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

DAY = 86400
MILLION = Decimal(1_000_000)
_context = threading.local()  # the request being answered on this thread: key, model


def key_id(key: str) -> str:
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:16]


class OrgUsage:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.admin_key: str | None = None
        self.entries: list[dict[str, Any]] = []
        self.prices: dict[str, dict[str, str]] = {}  # model -> {"input", "output"} USD per 1M; default unyo's table
        self.projects: dict[str, str] = {}  # api key -> project id
        self.drop_days: set[int] = set()
        self.clock: Callable[[], float] = time.time
        self.reads: list[str] = []  # paths of admin reads, for tests

    # --- feeding ------------------------------------------------------------------------------

    def note_request(self, entry: dict[str, Any]) -> None:
        """Remember, for this thread, which key and model the request being answered uses."""
        auth = (entry.get("headers") or {}).get("Authorization") or (entry.get("headers") or {}).get("authorization")
        if auth:
            _context.key = str(auth).removeprefix("Bearer ").strip()
        body = entry.get("body")
        if isinstance(body, dict) and body.get("model"):
            _context.model = str(body["model"])
        _context.batch = bool(entry.get("batch"))

    def add(
        self,
        model: str,
        input_tokens: int,
        output_tokens: int = 0,
        key: str | None = None,
        ts: float | None = None,
        kind: str = "completions",
        batch: bool = False,
    ) -> None:
        key = key if key is not None else getattr(_context, "key", "") or ""
        with self.lock:
            self.entries.append(
                {
                    "ts": self.clock() if ts is None else ts,
                    "model": model,
                    "key": key,
                    "api_key_id": key_id(key),
                    "project_id": self.projects.get(key, "proj_default"),
                    "kind": kind,
                    "batch": batch,
                    "input_tokens": int(input_tokens),
                    "output_tokens": int(output_tokens),
                }
            )

    def billed(
        self, input_tokens: int, output_tokens: int, kind: str = "completions", model: str | None = None
    ) -> None:
        self.add(
            model or getattr(_context, "model", "gpt-4o-mini"),
            input_tokens,
            output_tokens,
            kind=kind,
            batch=getattr(_context, "batch", False),
        )

    def price(self, model: str) -> tuple[Decimal, Decimal]:
        facts = self.prices.get(model)
        if facts is None:
            from unyo._providers._catalog import model_info

            p = model_info(model).price
            return (p.input, p.output) if p else (Decimal(0), Decimal(0))
        return Decimal(str(facts.get("input", 0))), Decimal(str(facts.get("output", 0)))

    # --- serving ------------------------------------------------------------------------------

    def serve(self, headers: Any, raw_path: str) -> tuple[int, dict[str, Any]]:
        from unyo._providers import _shapes

        path, _, query = raw_path.partition("?")
        path = path.rsplit("/v1", 1)[-1]
        auth = str(headers.get("authorization") or "").removeprefix("Bearer ").strip()
        if not auth:
            return 401, _shapes.error_json(401, "You didn't provide an API key.", None, "invalid_request_error")
        if self.admin_key is None or auth != self.admin_key:
            return 403, _shapes.error_json(
                403, "You have insufficient permissions for this operation. Missing scopes: api.usage.read. "
                "This endpoint requires an admin key (sk-admin-...).", None, "permission_error")  # fmt: skip
        kinds = {"/organization/usage/completions": "completions", "/organization/usage/embeddings": "embeddings",
                 "/organization/usage/images": "images", "/organization/costs": "costs"}  # fmt: skip
        kind = kinds.get(path)
        if kind is None:
            return 404, _shapes.error_json(404, f"no route GET {path}", "unknown_url")
        self.reads.append(raw_path)
        params = parse_qs(query)

        def many(name: str) -> list[str]:
            return [v for raw in params.get(name, []) + params.get(f"{name}[]", []) for v in raw.split(",") if v]

        try:
            start = int(params["start_time"][0])
            end = int(params.get("end_time", [str(int(self.clock()) + 1)])[0])
            limit = int(params.get("limit", ["7"])[0])
            offset = int(params.get("page", ["page_0"])[0].removeprefix("page_"))
        except (KeyError, ValueError):
            return 400, _shapes.error_json(
                400, "start_time (integer) is required; limit and page must be valid", "invalid_request"
            )
        width = params.get("bucket_width", ["1d"])[0]
        if width != "1d":
            return 400, _shapes.error_json(400, "this server supports bucket_width=1d only", "invalid_request")
        if not 1 <= limit <= (180 if kind == "costs" else 31):
            return 400, _shapes.error_json(400, "limit out of range", "invalid_request")
        group_by = many("group_by")
        allowed = (
            {"project_id", "api_key_id", "line_item"}
            if kind == "costs"
            else {"project_id", "api_key_id", "model", "batch", "user_id", "service_tier"}
        )
        if set(group_by) - allowed:
            return 400, _shapes.error_json(400, f"group_by supports {sorted(allowed)}", "invalid_request")
        starts = list(range(start - start % DAY, end, DAY))
        page = starts[offset : offset + limit]
        with self.lock:
            entries = [e for e in self.entries if start <= e["ts"] < end]
        data = []
        for day in page:
            if day in self.drop_days:
                continue
            inside = [e for e in entries if day <= e["ts"] < day + DAY]
            results = self._costs(inside, group_by) if kind == "costs" else self._usage(kind, inside, group_by)
            data.append({"object": "bucket", "start_time": day, "end_time": day + DAY, "results": results})
        more = offset + limit < len(starts)
        return 200, {
            "object": "page",
            "data": data,
            "has_more": more,
            "next_page": f"page_{offset + limit}" if more else None,
        }

    def _usage(self, kind: str, entries: list[dict[str, Any]], group_by: list[str]) -> list[dict[str, Any]]:
        groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for e in entries:
            if e["kind"] == kind:
                groups.setdefault(tuple(e.get(g) for g in group_by), []).append(e)
        out = []
        for values, items in sorted(groups.items(), key=lambda kv: str(kv[0])):
            row: dict[str, Any] = {"object": f"organization.usage.{kind}.result", "num_model_requests": len(items),
                                   "input_tokens": sum(e["input_tokens"] for e in items)}  # fmt: skip
            if kind == "completions":
                row.update(
                    output_tokens=sum(e["output_tokens"] for e in items),
                    input_cached_tokens=0,
                    input_audio_tokens=0,
                    output_audio_tokens=0,
                    user_id=None,
                    service_tier=None,
                    batch=None,
                )
            if kind == "images":
                row = {
                    "object": "organization.usage.images.result",
                    "images": 0,
                    "num_model_requests": len(items),
                    "source": None,
                    "size": None,
                }
            row.update({"project_id": None, "api_key_id": None, "model": None})
            row.update(dict(zip(group_by, values, strict=True)))
            out.append(row)
        return out

    def _costs(self, entries: list[dict[str, Any]], group_by: list[str]) -> list[dict[str, Any]]:
        lines: dict[tuple[Any, ...], list[Decimal]] = {}
        for e in entries:
            price_in, price_out = self.price(e["model"])
            for part, tokens, price in (
                ("input", e["input_tokens"], price_in),
                ("output", e["output_tokens"], price_out),
            ):
                if not tokens:
                    continue
                fields = {
                    "line_item": f"{e['model']}, {part}",
                    "project_id": e["project_id"],
                    "api_key_id": e["api_key_id"],
                }
                acc = lines.setdefault(tuple(fields[g] for g in group_by), [Decimal(0), Decimal(0)])
                acc[0] += tokens * price / MILLION
                acc[1] += tokens
        out = []
        for values, (amount, quantity) in sorted(lines.items(), key=lambda kv: str(kv[0])):
            row: dict[str, Any] = {
                "object": "organization.costs.result",
                "amount": {"value": float(amount), "currency": "usd"},
                "line_item": None,
                "project_id": None,
                "api_key_id": None,
                "quantity": None,
                "quantity_unit": None,
            }
            row.update(dict(zip(group_by, values, strict=True)))
            if "line_item" in group_by:
                row.update(quantity=int(quantity), quantity_unit="tokens")
            out.append(row)
        return out
