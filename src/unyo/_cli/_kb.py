"""`unyo kb add|ls|show|rm|search` and `unyo ask --kb`."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from typing import Any

from unyo._cli._shared import clean, table
from unyo._types._errors import BadInput, UsageError
from unyo._types._messages import Message, msg


def run(args: Namespace) -> int:
    return int({"add": _add, "ls": _ls, "show": _show, "rm": _rm, "search": _search}[args.action](args))


def _client(args: Namespace) -> Any:
    if not args.embed_model:
        return None
    from unyo._cli._shared import client_for

    return client_for(args.profile)


def _add(args: Namespace) -> int:
    from unyo._knowledge._ingest import add

    if not args.items:
        raise UsageError(Message("kb.add_needs_sources"))

    def progress(number: int, total: int, result: Any) -> None:
        if not args.json:
            detail = f"{result.chunks} chunks" if result.chunks else (result.error or "")
            print(f"[{number}/{total}] {result.status:9} {clean(result.source)} {clean(detail)}", file=sys.stderr)

    report = add(args.items, args.kb, embed_model=args.embed_model, client=_client(args), on_progress=progress)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        rate = report.chunks / report.seconds if report.seconds and report.chunks else 0
        print(msg("kb.added", kb=args.kb, chunks=report.chunks, seconds=report.seconds, rate=rate))
    if report.failed:
        reasons = "; ".join(r.error or r.source for r in report.failed)
        raise BadInput(Message("kb.not_added", failed=len(report.failed), total=len(report.results), reasons=reasons))
    return 0


def _ls(args: Namespace) -> int:
    from unyo._knowledge._index import shared_index

    bases = shared_index().bases()
    if args.json:
        print(json.dumps(bases, ensure_ascii=False))
        return 0
    table(
        "knowledge bases",
        ["name", "documents", "chunks", "chars", "embedding model"],
        [[b["name"], b["documents"], b["chunks"], b["chars"], b["embed_model"]] for b in bases],
    )
    return 0


def _show(args: Namespace) -> int:
    from unyo._knowledge._index import shared_index

    index = shared_index()
    name = args.items[0] if args.items else args.kb
    if index.base(name) is None:
        raise UsageError(Message("kb.unknown_ls", name=name))
    docs = index.documents(name)
    if args.json:
        print(json.dumps([vars(d) for d in docs], ensure_ascii=False))
        return 0
    table(
        f"knowledge base {name}",
        ["source", "chunks", "chars", "sha256"],
        [[d.source, d.chunks, d.chars, d.sha256[:12]] for d in docs],
    )
    return 0


def _rm(args: Namespace) -> int:
    from unyo._knowledge._index import shared_index
    from unyo._knowledge._ingest import remove

    index = shared_index()
    if not args.items:  # the whole knowledge base
        if not index.drop_base(args.kb):
            raise UsageError(Message("kb.unknown", name=args.kb))
        print(msg("kb.removed_base", name=args.kb))
        return 0
    gone = remove(args.items, args.kb, index)
    for source in gone:
        print(msg("kb.removed_source", source=clean(source)))
    missing = len(args.items) - len(gone)
    if missing:
        raise BadInput(Message("kb.not_in_base", missing=missing, total=len(args.items), name=args.kb))
    return 0


def _search(args: Namespace) -> int:
    from unyo._knowledge._answer import passage_dict
    from unyo._knowledge._index import shared_index
    from unyo._knowledge._search import search

    query = " ".join(args.items).strip()
    if not query:
        raise UsageError(Message("kb.search_needs_query"))
    hits = search(shared_index(), args.kb, query, args.k)
    if args.json:
        print(json.dumps([passage_dict(n, h) for n, h in enumerate(hits, 1)], ensure_ascii=False))
        return 0
    for n, hit in enumerate(hits, 1):
        where = ", ".join(str(x) for x in (hit.source, hit.page and f"p.{hit.page}", hit.place, hit.heading) if x)
        print(f"[{n}] {hit.score:.4f} (dense {hit.dense or 0:.3f}, keyword {hit.keyword or 0:.2f}) {clean(where)}")
        print("    " + clean(hit.text[:300]))
    return 0


def ask(args: Namespace, question: str, client: Any) -> int:
    """`unyo ask --kb NAME QUESTION`: the answer, then its sources; --json: one record."""
    from unyo._knowledge._answer import answer

    result = answer(
        question,
        args.kb,
        model=args.model,
        max_output_tokens=args.max_output_tokens or 300,
        temperature=args.temperature,
        api=args.api,
        rerank=getattr(args, "rerank", False),
        client=client,
    )
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return 0
    print(clean(result.text, multiline=True) if sys.stdout.isatty() else result.text)
    for c in result.citations:
        where = ", ".join(str(x) for x in (c.source, c.page and f"p.{c.page}", c.place, c.heading) if x)
        print(f"[{c.n}] {clean(where)}\n    「{clean(c.snippet)}」" + (" (matched by wording)" if c.matched else ""))
    if result.model_text is not None:
        print(
            "note: the model's reply cited no passage; the answer quotes the passages instead (--json: model_text)",
            file=sys.stderr,
        )
    if result.invalid_citations:
        print(f"dropped citations to passages that were not given: {result.invalid_citations}", file=sys.stderr)
    return 0
