"""Vector stores and the hosted tools for the fault server: what `file_search` and `web_search` do.

    POST/GET /vector_stores, GET/POST/DELETE /vector_stores/{id}
    POST/GET /vector_stores/{id}/files, GET/DELETE /vector_stores/{id}/files/{file_id}

A file attached to a store is "in_progress" until `index_seconds` have passed, then "completed"
on the next read (an empty file "failed" with `invalid_file`). In `/responses`:

    file_search   searches the stores' completed files (keyword overlap: words and, for Japanese,
                  character bigrams) -> a `file_search_call` item, then a message quoting the best
                  passages with `file_citation` annotations (file_id, filename, index)
    web_search    searches `web_pages` the same way -> a `web_search_call` item, then a message
                  quoting them with `url_citation` annotations (url, title, start_index, end_index)

At most `max_tool_calls` calls are made (a scripted action's `searches` asks for more than one
per tool). The retrieved text is billed as input, as the provider bills search content.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from unyo._providers import _shapes

DEFAULT_PAGES = [
    {
        "url": "https://example.com/rate-limits",
        "title": "Rate limits explained",
        "text": "Rate limits cap requests per minute and tokens per minute. Clients should retry after a 429.",
    },
    {
        "url": "https://example.org/batch-api",
        "title": "The Batch API",
        "text": "The Batch API runs requests within 24 hours at half the price of synchronous calls.",
    },
]
_WORD = re.compile(r"[a-z0-9]{3,}|[\u3040-\u30ff\u3400-\u9fff]+")
_SENTENCE = re.compile(r"[^。！？.!?\n]+[。！？.!?]?")


def terms(text: str) -> set[str]:
    out: set[str] = set()
    for w in _WORD.findall(text.lower()):
        if w.isascii():
            out.add(w)
        else:
            out.update(w[i : i + 2] for i in range(max(1, len(w) - 1)))
    return out


def _score(question: set[str], text: str) -> float:
    found = terms(text)
    return len(question & found) / len(question) if question else 0.0


def best_sentence(text: str, question: set[str]) -> str:
    sentences = [s.strip() for s in _SENTENCE.findall(text) if s.strip()] or [text.strip()]
    return max(sentences, key=lambda s: _score(question, s))


@dataclass
class VectorStores:
    stores: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> VectorStore object
    attached: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # store -> file id -> object
    index_seconds: float = 0.0
    web_pages: list[dict[str, str]] = field(default_factory=lambda: [dict(p) for p in DEFAULT_PAGES])

    def reset(self) -> None:
        self.stores.clear()
        self.attached.clear()
        self.index_seconds = 0.0
        self.web_pages = [dict(p) for p in DEFAULT_PAGES]

    # --- the API ------------------------------------------------------------------------------

    def serve(self, files: dict[str, Any], method: str, path: str, query: str, body: dict[str, Any]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts == ["vector_stores"]:
            if method == "POST":
                return self._create(files, body)
            return 200, list_page([self._view(files, s) for s in list(self.stores)[::-1]], query)
        store_id = parts[1]
        if store_id not in self.stores:
            return 404, _shapes.error_json(404, f"No vector store found with id '{store_id}'.", None)
        if len(parts) == 2:
            if method == "DELETE":
                del self.stores[store_id]
                self.attached.pop(store_id, None)
                return 200, {"id": store_id, "object": "vector_store.deleted", "deleted": True}
            if method == "POST":
                for key in ("name", "metadata"):
                    if key in body:
                        self.stores[store_id][key] = body[key]
            return 200, self._view(files, store_id)
        if parts[2] != "files":
            return 404, _shapes.error_json(404, f"no route {method} {path}", "unknown_url")
        if len(parts) == 3:
            if method == "POST":
                return self._attach(files, store_id, body)
            attached = self.attached[store_id]
            views = [self._file_view(files, store_id, f) for f in list(attached)[::-1]]
            wanted = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("filter")
            return 200, list_page([v for v in views if wanted in (None, v["status"])], query)
        file_id = parts[3]
        if file_id not in self.attached[store_id]:
            return 404, _shapes.error_json(
                404, f"No file found with id '{file_id}' in vector store '{store_id}'.", None
            )
        if method == "DELETE":
            del self.attached[store_id][file_id]
            return 200, {"id": file_id, "object": "vector_store.file.deleted", "deleted": True}
        return 200, self._file_view(files, store_id, file_id)

    def _create(self, files: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
        store_id = _shapes.new_id("vs")
        now = int(time.time())
        self.stores[store_id] = {
            "id": store_id,
            "object": "vector_store",
            "created_at": now,
            "name": body.get("name") or "",
            "status": "completed",
            "expires_after": body.get("expires_after"),
            "expires_at": None,
            "last_active_at": now,
            "metadata": body.get("metadata") or {},
        }
        self.attached[store_id] = {}
        for file_id in body.get("file_ids") or []:
            status, error = self._attach(files, store_id, {"file_id": file_id})
            if status != 200:
                del self.stores[store_id]
                return status, error
        return 200, self._view(files, store_id)

    def _attach(self, files: dict[str, Any], store_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        file_id = str(body.get("file_id") or "")
        if file_id not in files:
            return 404, _shapes.error_json(404, f"No such File object: {file_id}", None)
        self.attached[store_id][file_id] = {
            "id": file_id,
            "object": "vector_store.file",
            "usage_bytes": 0,
            "created_at": int(time.time()),
            "vector_store_id": store_id,
            "status": "in_progress",
            "last_error": None,
            "attributes": body.get("attributes") or {},
            "chunking_strategy": {
                "type": "static",
                "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
            },
            "_ready": time.monotonic() + self.index_seconds,
            "_first": True,  # the answer to the create call itself is always in progress
        }
        return 200, self._file_view(files, store_id, file_id)

    def _file_view(self, files: dict[str, Any], store_id: str, file_id: str) -> dict[str, Any]:
        obj = self.attached[store_id][file_id]
        if obj["status"] == "in_progress" and not obj.pop("_first", False) and time.monotonic() >= obj["_ready"]:
            content = (files.get(file_id) or {}).get("_content", b"")
            if content.strip():
                obj.update(status="completed", usage_bytes=len(content))
            else:
                obj.update(status="failed", last_error={"code": "invalid_file", "message": "The file has no text."})
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _view(self, files: dict[str, Any], store_id: str) -> dict[str, Any]:
        views = [self._file_view(files, store_id, f) for f in self.attached.get(store_id, {})]
        counts = {
            s: sum(1 for v in views if v["status"] == s) for s in ("in_progress", "completed", "failed", "cancelled")
        }
        store = dict(self.stores[store_id])
        store["file_counts"] = {**counts, "total": len(views)}
        store["usage_bytes"] = sum(v["usage_bytes"] for v in views)
        store["status"] = "in_progress" if counts["in_progress"] else "completed"
        return store

    # --- the tools --------------------------------------------------------------------------

    def file_search(self, files: dict[str, Any], tool: dict[str, Any], question: str) -> list[dict[str, Any]]:
        """The best passages of the stores' completed files: {file_id, filename, text, score}."""
        asked = terms(question)
        found = []
        for store_id in tool.get("vector_store_ids") or []:
            for file_id in self.attached.get(store_id, {}):
                if self._file_view(files, store_id, file_id)["status"] != "completed":
                    continue
                stored = files[file_id]
                text = stored["_content"].decode("utf-8", "replace")
                for passage in (p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()):
                    score = _score(asked, passage)
                    if score >= 0.3:
                        found.append({"file_id": file_id, "filename": stored["filename"], "text": passage,
                                      "score": round(score, 4), "attributes": {}})  # fmt: skip
        found.sort(key=lambda r: -r["score"])
        return found[: int(tool.get("max_num_results") or 10)]

    def web_search(self, question: str) -> list[dict[str, str]]:
        asked = terms(question)
        ranked = sorted(self.web_pages, key=lambda p: -_score(asked, p["title"] + " " + p["text"]))
        return [p for p in ranked if _score(asked, p["title"] + " " + p["text"]) > 0][:2] or ranked[:1]


@dataclass
class ToolAnswer:
    """What the hosted tools made of one request: the call items, the text and its annotations."""

    items: list[dict[str, Any]]
    text: str
    annotations: list[dict[str, Any]]
    content: str  # the retrieved text the provider bills as input


def list_page(data: list[dict[str, Any]], query: str) -> dict[str, Any]:
    params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
    ids = [d["id"] for d in data]
    if params.get("after") in ids:
        data = data[ids.index(params["after"]) + 1 :]
    limit = int(params.get("limit", 20))
    shown = data[:limit]
    return {"object": "list", "data": shown, "first_id": shown[0]["id"] if shown else None,
            "last_id": shown[-1]["id"] if shown else None, "has_more": len(data) > limit}  # fmt: skip


def hosted_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    if body.get("tool_choice") == "none":
        return []
    kinds = (
        "file_search",
        "web_search",
        "web_search_preview",
        "web_search_2025_08_26",
        "web_search_preview_2025_03_11",
    )
    return [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") in kinds]


def tool_answer(fault: Any, body: dict[str, Any], action: dict[str, Any]) -> ToolAnswer | None:
    """The hosted tools' part of an answer, or None when the request asks for none."""
    tools = hosted_tools(body)
    if not tools:
        return None
    messages = [m for m in _shapes.responses_messages(body) if m["role"] == "user"]
    question = messages[-1]["content"] if messages else ""
    budget = int(body.get("max_tool_calls") or 10**6)
    per_tool = int(action.get("searches", 1))
    store: VectorStores = fault.vector_stores
    items: list[dict[str, Any]] = []
    quotes: list[tuple[str, dict[str, Any]]] = []  # (sentence, the annotation's source)
    content: list[str] = []
    include = body.get("include") or []
    for tool in tools:
        for _ in range(per_tool):
            if len(items) >= budget:
                break
            if tool["type"] == "file_search":
                results = store.file_search(fault.files, tool, question)
                items.append(
                    _shapes.file_search_item(question, results if "file_search_call.results" in include else None)
                )
                content += [r["text"] for r in results]
                seen = {fid for _, src in quotes for fid in [src.get("file_id")]}
                for r in results:
                    if r["file_id"] not in seen and len(quotes) < 2:
                        quotes.append((best_sentence(r["text"], terms(question)), r))
                        seen.add(r["file_id"])
            else:
                pages = store.web_search(question)
                sources = pages if "web_search_call.action.sources" in include else None
                items.append(_shapes.web_search_item(question, sources))
                content += [p["text"] for p in pages]
                for page in pages:
                    if all(src.get("url") != page["url"] for _, src in quotes) and len(quotes) < 2:
                        quotes.append((best_sentence(page["text"], terms(question)), page))
    text, annotations = _quoted(quotes)
    return ToolAnswer(items, text, annotations, "\n".join(content))


def _quoted(quotes: list[tuple[str, dict[str, Any]]]) -> tuple[str, list[dict[str, Any]]]:
    """The answer text quoting each source, with its annotation: a file citation sits after its
    sentence (`index`), a URL citation spans it (`start_index`..`end_index`)."""
    if not quotes:
        return "The documents don't say.", []
    text, annotations = "", []
    for sentence, source in quotes:
        start = len(text) + (1 if text else 0)
        text = f"{text} {sentence}" if text else sentence
        if "file_id" in source:
            annotations.append({"type": "file_citation", "file_id": source["file_id"],
                                "filename": source["filename"], "index": len(text)})  # fmt: skip
        else:
            annotations.append({"type": "url_citation", "url": source["url"], "title": source["title"],
                                "start_index": start, "end_index": len(text)})  # fmt: skip
    return text, annotations
