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


def _hosted(name: str) -> dict[str, Any] | None:
    from unyo._knowledge._hosted import hosted_base

    return hosted_base(name)


def _add(args: Namespace) -> int:
    from unyo._knowledge._ingest import add

    if not args.items:
        raise UsageError(Message("kb.add_needs_sources"))
    if args.via or _hosted(args.kb):
        return _add_hosted(args)

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


def _add_hosted(args: Namespace) -> int:
    """`kb add FILES --kb NAME --via openai`: sync the files into the provider's vector store."""
    from unyo._cli._shared import client_for
    from unyo._knowledge._hosted import add_hosted, hosted_base

    known = hosted_base(args.kb)
    via = args.via or (known or {}).get("via", "openai")
    if known and known["via"] != via:
        raise UsageError(Message("kb.hosted_elsewhere", name=args.kb, where=known["via"], via=via))
    say = (lambda line: None) if args.json else (lambda line: print(clean(line), file=sys.stderr))
    report = add_hosted(args.items, args.kb, client_for(args.profile), via=via, on_progress=say)
    store = (hosted_base(args.kb) or {}).get("store_id")
    if args.json:
        print(json.dumps({**report.to_dict(), "via": via, "vector_store_id": store}, ensure_ascii=False))
    else:
        counts = {
            s: sum(1 for r in report.results if r.status == s) for s in ("added", "updated", "unchanged", "removed")
        }
        done = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing changed"
        print(f"{args.kb}: {done} ({via} vector store {store}, {report.seconds:.1f}s)")
    if report.failed:
        reasons = "; ".join(f"{r.source}: {r.error}" for r in report.failed)
        raise BadInput(Message("kb.not_added", failed=len(report.failed), total=len(report.results), reasons=reasons))
    return 0


def _ls(args: Namespace) -> int:
    from unyo._knowledge._hosted import listing
    from unyo._knowledge._index import shared_index

    bases = [{**b, "where": "local"} for b in shared_index().bases()] + listing()
    if args.json:
        print(json.dumps(bases, ensure_ascii=False))
        return 0
    table(
        "knowledge bases",
        ["name", "where", "documents", "chunks", "chars", "embedding model"],
        [
            [
                b["name"],
                b["where"],
                b["documents"],
                b.get("chunks", "-"),
                b.get("chars", "-"),
                b.get("embed_model", "-"),
            ]
            for b in bases
        ],  # fmt: skip
    )
    return 0


def _show(args: Namespace) -> int:
    from unyo._knowledge._index import shared_index

    index = shared_index()
    name = args.items[0] if args.items else args.kb
    hosted = _hosted(name)
    if hosted is not None:
        files = [{"source": s, **f} for s, f in hosted["files"].items()]
        if args.json:
            print(json.dumps(files, ensure_ascii=False))
            return 0
        table(f"knowledge base {name} ({hosted['via']} vector store {hosted['store_id']})",
              ["source", "file id", "bytes", "status", "sha256"],
              [[f["source"], f["file_id"], f["bytes"], f["status"], f["sha256"][:12]] for f in files])  # fmt: skip
        return 0
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

    if _hosted(args.kb) is not None:
        from unyo._cli._shared import client_for
        from unyo._knowledge._hosted import remove_hosted

        gone = remove_hosted(args.items, args.kb, client_for(args.profile))
        for source in gone:
            print(msg("kb.removed_source", source=clean(source)))
        if not args.items:
            print(msg("kb.removed_hosted_base", name=args.kb))
        elif len(gone) < len(args.items):
            raise BadInput(Message("kb.not_in_base", missing=len(args.items) - len(gone), total=len(args.items),
                                   name=args.kb))  # fmt: skip
        return 0
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
    if _hosted(args.kb) is not None:
        raise UsageError(Message("kb.search_hosted", name=args.kb))
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

    if _hosted(args.kb) is not None:
        from unyo._knowledge._hosted_answer import answer_hosted

        cap, calls = args.max_output_tokens or 300, args.max_tool_calls
        hosted = answer_hosted(question, args.kb, client=client, model=args.model, max_output_tokens=cap,
                               max_tool_calls=calls)  # fmt: skip
        return show_answer(args, hosted)
    if getattr(args, "max_tool_calls", None) is not None:
        raise UsageError(Message("ask.max_tool_calls_alone"))
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
    return show_answer(args, result)


def ask_web(args: Namespace, question: str, client: Any) -> int:
    """`unyo ask --web QUESTION`: the provider's web_search tool, citing the pages it used."""
    from unyo._knowledge._hosted_answer import answer_web

    if args.kb:
        raise UsageError(Message("ask.web_and_kb"))
    result = answer_web(question, client=client, model=args.model, max_output_tokens=args.max_output_tokens or 400,
                        max_tool_calls=args.max_tool_calls)  # fmt: skip
    return show_answer(args, result)


def show_answer(args: Namespace, result: Any) -> int:
    """The answer, then its sources (local passages, hosted files or web pages); --json: one record."""
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
    info = result.calls[-1] if result.calls else None
    if info is not None and info.tool_calls:
        from unyo._cli._shared import status_line
        from unyo._types._prices import usd

        calls = ", ".join(f"{n} {kind.removesuffix('_call')}" for kind, n in info.tool_calls.items())
        print(f"{status_line(info)} · tool calls: {calls} ({usd(info.tool_cost_usd)}) · cost {usd(info.cost_usd)}",
              file=sys.stderr)  # fmt: skip
    return 0
