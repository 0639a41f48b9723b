"""What unyo does with each method of the SDK's surface: the drop-in client's map.

    guarded    through the whole pipeline (cap, count, budget, cache, limits, retry, ledger,
               audit); returns exactly what the SDK returns, with `call_info()` attached
    stream     the SDK's stream helper (`responses.stream`, `chat.completions.stream`), built
               on the guarded `create`, so the helper's events and final response are the SDK's
    priced     priced and reserved by unyo outside the token pipeline, then sent as the SDK
               sends it: `fine_tuning.jobs.create` (training tokens x epochs, `_money._fine_tuning`)
    recorded   management that stores but bills nothing per request (creating a vector store,
               attaching files to it): sent as the SDK sends it, allowed under a budget at $0,
               recorded in the audit log; the storage is billed per GB-day (`unyo estimate --storage-gb`)
    free       passed through: reads, deletes, cancels, management; nothing here generates
    unpriced   anything else that may spend money (image edits, fine-tuning, batches, vector
               stores, containers, videos, realtime, raw HTTP, ...): recorded in the audit log,
               and refused while a budget is set unless `allow_unpriced` is on

The default is `unpriced`: a method a new SDK release adds is refused under a budget until it is
classified here, never passed through unseen (tests/test_surface.py walks the SDK to keep it so).
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["guarded", "stream", "priced", "recorded", "free", "unpriced"]

GUARDED: dict[tuple[str, ...], str] = {  # method path -> the pipeline's api
    ("responses", "create"): "responses",
    ("responses", "parse"): "responses",
    ("beta", "responses", "create"): "responses",
    ("chat", "completions", "create"): "chat",
    ("chat", "completions", "parse"): "chat",
    ("beta", "chat", "completions", "create"): "chat",
    ("beta", "chat", "completions", "parse"): "chat",
    ("embeddings", "create"): "embeddings",
    ("models", "list"): "models",
    ("images", "generate"): "images",  # priced per image or image token (`_money._media`)
    ("audio", "transcriptions", "create"): "transcriptions",
    ("audio", "translations", "create"): "translations",
    ("audio", "speech", "create"): "speech",
}
STREAMS: dict[tuple[str, ...], str] = {
    ("responses", "stream"): "responses",
    ("chat", "completions", "stream"): "chat",
    ("beta", "chat", "completions", "stream"): "chat",
}
PRICED = frozenset({("fine_tuning", "jobs", "create")})
# Vector stores: creating one and attaching files cost nothing per request (storage is billed by
# size and day); the hosted knowledge base (`unyo kb add --via openai`) needs them under a budget.
RECORDED = frozenset(
    {
        ("vector_stores", "create"),
        ("vector_stores", "files", "create"),
        ("vector_stores", "files", "create_and_poll"),
        ("vector_stores", "files", "upload"),
        ("vector_stores", "files", "upload_and_poll"),
        ("vector_stores", "file_batches", "create"),
        ("vector_stores", "file_batches", "create_and_poll"),
        ("vector_stores", "file_batches", "upload_and_poll"),
    }
)
# Resources that only manage things (accounts, uploads, stored items) and never generate.
FREE_RESOURCES = frozenset(
    {"admin", "webhooks", "files", "uploads", "conversations", "skills", "safety", "models", "moderations"}
)
# Verbs that read, remove or stop; none of them starts generation or storage that bills.
FREE_VERBS = frozenset(
    {
        "retrieve",
        "list",
        "delete",
        "cancel",
        "content",
        "retrieve_content",
        "wait_for_processing",
        "poll",
        "list_events",
        "list_files",
        "list_items",
        "get_character",
        "download_content",
        "download_recording",
        "update",
        "pause",
        "archive",
        "validate",
        "count",
        "hangup",
        "reject",
        "for_result",
    }
)
# Methods of free resources, or with free verbs, that still spend money.
UNPRICED = frozenset(
    {
        ("evals", "runs", "create"),
        ("fine_tuning", "alpha", "graders", "run"),
    }
)
CLIENT_FREE = frozenset(
    {"close", "is_closed", "platform_headers", "copy", "with_options"}
)  # raw HTTP (get, post, ...) is unpriced


def classify(path: tuple[str, ...]) -> Kind:
    """`path` is a method's attribute path from the client, e.g. ("images", "generate")."""
    if path in GUARDED:
        return "guarded"
    if path in STREAMS:
        return "stream"
    if path in PRICED:
        return "priced"
    if path in RECORDED:
        return "recorded"
    if path in UNPRICED:
        return "unpriced"
    if len(path) == 1:
        return "free" if path[0] in CLIENT_FREE else "unpriced"
    if path[0] in FREE_RESOURCES or path[-1] in FREE_VERBS:
        return "free"
    return "unpriced"
