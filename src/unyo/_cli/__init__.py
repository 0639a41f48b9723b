"""The `unyo` command. Only argparse is imported at start-up; each command's module (and the
openai SDK, llama.cpp, rich) is imported when that command runs, so `unyo --help` is instant."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

EXIT_CODES = """exit codes:
  0    ok
  1    internal error
  2    usage error
  3    authentication, permission or configuration
  4    refused by a budget
  5    rate limit or quota exhausted
  6    upstream failure after retries (5xx, timeout, connection, broken stream)
  7    invalid request (400, 404, 422, context too long, output invalid)
  130  cancelled (Ctrl-C)"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        help=(
            "provider profile (openai, gemini, xai, plamo, lmstudio, llama-server, ollama, vllm, local, "
            "or one from unyo.toml)"
        ),
    )
    p.add_argument("--config", metavar="FILE", help="use this unyo.toml instead of the project's (as UNYO_CONFIG does)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unyo",
        description=(
            "unyo (運用): LLM API calls with guardrails — bounded retries, output caps, real stops, "
            "offline local model."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from unyo import __version__  # cheap: unyo/__init__ imports nothing eagerly

    parser.add_argument("--version", action="version", version=f"unyo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = sub.add_parser(
        "ask",
        help="ask once and print the answer",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ask.add_argument("prompt", nargs="?", default="-", help="the prompt, or - to read it from stdin (the default)")
    ask.add_argument("-m", "--model", help="model id or role (main, premium, bulk, ...)")
    ask.add_argument("--system", help="system instructions")
    ask.add_argument("--max-output-tokens", type=int, help="output cap (default UNYO_MAX_OUTPUT_TOKENS, 1024)")
    ask.add_argument("--temperature", type=float)
    ask.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print the answer as it arrives (default: on when stdout is a terminal)",
    )
    ask.add_argument("--api", choices=["responses", "chat"], help="API shape (default: the profile's)")
    ask.add_argument(
        "--json",
        action="store_true",
        help="print one JSON record: text, model, provider, usage, cost, budget decision, attempts, ids, status",
    )
    ask.add_argument(
        "--schema", help="structured output: a JSON Schema file or module:PydanticModel; prints the validated JSON"
    )
    ask.add_argument(
        "--max-repairs",
        type=int,
        default=2,
        help="with --schema: extra calls allowed to fix invalid output (default 2)",
    )
    ask.add_argument("--user", help="who the call is for (budgets, reports, cache scope)")
    ask.add_argument("--tag", help="task tag (budgets and reports group by it)")
    ask.add_argument("--kb", metavar="NAME", help="answer from this knowledge base, citing its passages (or refuse)")
    _common(ask)
    ask.set_defaults(handler="unyo._cli._ask:run")

    chat = sub.add_parser("chat", help="interactive chat; Ctrl-C stops the reply, Ctrl-C at the prompt or `exit` quits")
    chat.add_argument("-m", "--model")
    chat.add_argument("--system")
    chat.add_argument("--max-output-tokens", type=int)
    chat.add_argument("--temperature", type=float)
    chat.add_argument("--api", choices=["responses", "chat"])
    chat.add_argument("--user", help="whose conversation: with --user the conversation is stored and can be resumed")
    chat.add_argument("--conversation", metavar="ID", help="resume (or start) this conversation; needs --user")
    chat.add_argument(
        "--strategy",
        choices=["history", "previous_response", "conversation"],
        default="history",
        help="how context is kept for a new conversation (default history: trimmed turns sent by unyo)",
    )
    chat.add_argument(
        "--max-history-tokens", type=int, default=2000, help="history strategy: token budget for past turns"
    )
    chat.add_argument(
        "--trim",
        choices=["drop", "summarize"],
        default="drop",
        help="history strategy: drop old turns or fold them into a summary",
    )
    _common(chat)
    chat.set_defaults(handler="unyo._cli._chat:run")

    convs = sub.add_parser("conversations", help="stored conversations: list, show ID, rm ID (per user)")
    convs.add_argument("action", choices=["list", "show", "rm"])
    convs.add_argument("id", nargs="?", help="the conversation id (show, rm)")
    convs.add_argument(
        "--user", help="whose conversations (required for show and rm; list without it shows every user's)"
    )
    convs.add_argument("-n", "--limit", type=int, default=50)
    convs.add_argument("--json", action="store_true")
    _common(convs)
    convs.set_defaults(handler="unyo._cli._conversations:run")

    run = sub.add_parser(
        "run",
        help="run a task on a text (argument, --file or stdin) or on every row of a CSV/XLSX/JSONL (--input)",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "task", help="triage, summarize, classify, extract, minutes, draft, or your own (`unyo tasks list`)"
    )
    run.add_argument("text", nargs="?", help="the input text; - reads stdin")
    run.add_argument("--file", help="read the input text from this file")
    run.add_argument("--input", help="batch: a .csv, .xlsx or .jsonl file; the task runs on every row")
    run.add_argument("--column", default="text", help="batch: the column holding the text (default: text)")
    run.add_argument(
        "--output",
        help="batch: where results go (.csv/.xlsx/.jsonl; default INPUT.out.EXT); its journal is OUTPUT.journal",
    )
    run.add_argument("--id-column", help="batch: a unique column to key rows by (default: row position)")
    run.add_argument(
        "--encoding",
        help=(
            "batch: the CSV's encoding (default: UTF-8, else CP932/Shift_JIS if the text reads as Japanese; else asks)"
        ),
    )
    run.add_argument(
        "--max-rows",
        type=int,
        default=100_000,
        metavar="N",
        help=(
            "batch: refuse an input with more rows than this (XLSX: empty rows before the data's end count) "
            "(default 100000)"
        ),
    )
    run.add_argument(
        "--max-cell-chars",
        type=int,
        default=1_000_000,
        metavar="N",
        help="batch: refuse an input with a longer cell (default 1000000)",
    )
    run.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help="batch: at most N rows in flight (default: what the rate x latency needs, up to 64)",
    )
    run.add_argument(
        "--rpm",
        type=float,
        default=None,
        help="batch: at most this many requests per minute (default: none; the provider's x-ratelimit-* "
        "headers set the pace, or it adapts to 429s when it sends none)",
    )
    run.add_argument(
        "--max-cost", help="batch: USD for the whole batch (across resumes); stops cleanly before exceeding it"
    )
    run.add_argument("--retry-failed", action="store_true", help="batch: run rows that failed before again")
    run.add_argument("--restart", action="store_true", help="batch: discard the journal and start over")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print the estimated cost (of the rows left, for a batch) and send nothing",
    )
    run.add_argument(
        "--via",
        choices=["sync", "batch-api"],
        default="sync",
        help="batch: sync (default: concurrent calls) or batch-api (the provider's Batch API: JSONL upload, "
        "results within 24 h, at its discount; the same command later collects them)",
    )
    run.add_argument("--poll", type=float, default=30.0, help="batch-api: seconds between status checks (default 30)")
    run.add_argument(
        "--no-wait",
        action="store_true",
        help="batch-api: submit (or check) and return; run the same command later to collect",
    )
    run.add_argument("--schema", help="extract: the output schema (a JSON Schema file or module:Model)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a task option (repeatable), e.g. --set labels=a,b,c",
    )
    run.add_argument("-m", "--model", help="model id or role (default: the task's)")
    run.add_argument("--api", choices=["responses", "chat"])
    run.add_argument("--user", help="who the work is for (budgets, audit)")
    run.add_argument("--tag", help="budget/report tag (default task:NAME)")
    run.add_argument("--json", action="store_true", help="print the result (or the batch summary) as JSON")
    _common(run)
    run.set_defaults(handler="unyo._cli._run:run")

    kb = sub.add_parser("kb", help="knowledge bases: add PATH|GLOB|URL..., ls, show, rm [SOURCE...], search QUERY")
    kb.add_argument("action", choices=["add", "ls", "show", "rm", "search"])
    kb.add_argument("items", nargs="*", help="add/rm: files, folders, globs or URLs; search: the query")
    kb.add_argument("--kb", default="default", help="which knowledge base (default: default)")
    kb.add_argument("-k", type=int, default=5, help="search: passages to show (default 5)")
    kb.add_argument("--embed-model", help="add: a provider embedding model (default: the bundled local e5)")
    kb.add_argument("--json", action="store_true")
    _common(kb)
    kb.set_defaults(handler="unyo._cli._kb:run")

    tasks = sub.add_parser("tasks", help="the tasks you can run: list, show NAME (templates, schema, options)")
    tasks.add_argument("action", choices=["list", "show"])
    tasks.add_argument("name", nargs="?")
    tasks.add_argument("--json", action="store_true")
    _common(tasks)
    tasks.set_defaults(handler="unyo._cli._tasks:run")

    models = sub.add_parser("models", help="the profile's models, roles and context windows")
    models.add_argument("--json", action="store_true")
    _common(models)
    models.set_defaults(handler="unyo._cli._models:run")

    init = sub.add_parser("init", help="write .env.example, unyo.toml and .gitignore entries here (never a real key)")
    init.add_argument("--force", action="store_true", help="overwrite existing .env.example / unyo.toml")
    init.set_defaults(handler="unyo._cli._setup:run_init")

    config = sub.add_parser(
        "config", help="path: which unyo.toml files apply; show: every setting and where it came from; trust URL"
    )
    config.add_argument("action", choices=["path", "show", "trust"])
    config.add_argument("url", nargs="?", help="for trust: an endpoint a project file may send your key to")
    config.add_argument("--json", action="store_true")
    _common(config)
    config.set_defaults(handler="unyo._cli._config:run")

    doctor = sub.add_parser(
        "doctor", help="check keys, files, permissions, reachability and models; each finding has a fix"
    )
    doctor.add_argument("--offline", action="store_true", help="skip the network checks")
    doctor.add_argument("--json", action="store_true")
    _common(doctor)
    doctor.set_defaults(handler="unyo._cli._setup:run_doctor")
    usage = sub.add_parser("usage", help="spend and tokens by day / model / role / user / tag, against each budget")
    usage.add_argument(
        "--since", help="from when: a duration (24h, 7d) or a date (2026-11-01); default: the start of this month"
    )
    usage.add_argument(
        "--by",
        action="append",
        choices=["day", "model", "role", "user", "tag", "status"],
        help="group by (repeatable; default: all)",
    )
    usage.add_argument("--json", action="store_true")
    usage.add_argument("--html", metavar="FILE", help="write a self-contained HTML report with charts")
    _common(usage)
    usage.set_defaults(handler="unyo._cli._usage:run")

    recon = sub.add_parser(
        "reconcile", help="hold the ledger against the provider's bill (usage and costs; needs OPENAI_ADMIN_KEY)"
    )
    recon.add_argument(
        "--since", default="30d", help="from when: a duration (30d) or a date (2026-11-01); default 30d, whole UTC days"
    )
    recon.add_argument(
        "--by",
        choices=["day", "model", "project"],
        default="day",
        help="tokens per day and model, per model, or per API key / project",
    )
    recon.add_argument("--html", metavar="FILE", help="write the report as one self-contained HTML page (0600)")
    recon.add_argument(
        "--apply",
        action="store_true",
        help="record the bill's figures as adjustments, counted in this period's budgets (idempotent)",
    )
    recon.add_argument(
        "--tolerance",
        type=float,
        default=1.0,
        metavar="PCT",
        help="cost drift still called within tolerance, in %% (default 1)",
    )
    recon.add_argument(
        "--min-tokens",
        type=int,
        default=1000,
        help="price drift is reported only over at least this many tokens (default 1000)",
    )
    recon.add_argument(
        "--max-pages", type=int, default=50, help="stop paging an endpoint after this many pages (default 50)"
    )
    recon.add_argument(
        "--timeout", type=float, default=60.0, help="seconds for all the provider reads together (default 60)"
    )
    recon.add_argument("--json", action="store_true")
    _common(recon)
    recon.set_defaults(handler="unyo._cli._reconcile:run")

    budget = sub.add_parser("budget", help="budget limits: spent, reserved, remaining in the current period")
    budget.add_argument("--user", help="show the per-user limits for this user")
    budget.add_argument("--json", action="store_true")
    _common(budget)
    budget.set_defaults(handler="unyo._cli._budget:run")

    logs = sub.add_parser("logs", help="the audit log: recent calls (`logs prune`, `logs export FILE`)")
    logs.add_argument("action", nargs="?", choices=["show", "prune", "export"], default="show")
    logs.add_argument("file", nargs="?", help="for export: the JSONL file to write (created 0600)")
    logs.add_argument("-n", "--limit", type=int, default=20)
    logs.add_argument("--status", choices=["completed", "incomplete", "cancelled", "interrupted", "failed"])
    logs.add_argument("--model", help="model id or its prefix")
    logs.add_argument("--user")
    logs.add_argument("--tag")
    logs.add_argument("--since", help="a duration (90m, 24h, 7d) or a date")
    logs.add_argument(
        "--days",
        type=float,
        help="for prune: keep this many days (default: retention_days, 90); "
        "records of the current budget day and month are always kept",
    )
    logs.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="for prune: do not ask for confirmation (required when stdin is not a terminal)",
    )
    logs.add_argument("--json", action="store_true", help="one JSON record per line, with token counts and cost")
    logs.add_argument(
        "--tools",
        action="store_true",
        help="show tool calls instead: name, outcome, masked arguments, duration, result size",
    )
    _common(logs)
    logs.set_defaults(handler="unyo._cli._logs:run")

    est = sub.add_parser("estimate", help="monthly cost of a planned workload: normal and worst case, with the formula")
    est.add_argument("-m", "--model", help="model id or role (default: main)")
    est.add_argument("--requests-per-day", type=float, required=True)
    est.add_argument("--input-tokens", type=float, required=True, help="average input tokens per request")
    est.add_argument("--output-tokens", type=float, required=True, help="average output tokens per request")
    est.add_argument(
        "--max-output-tokens", type=int, help="the output cap (the worst case; default UNYO_MAX_OUTPUT_TOKENS)"
    )
    est.add_argument(
        "--days", type=float, default=30, help="days per month the workload runs (default 30; 22 for working days)"
    )
    est.add_argument("--retry-rate", type=float, default=0.02, help="share of requests billed twice (default 0.02)")
    est.add_argument(
        "--cache-hit-rate", type=float, default=0.0, help="share answered by unyo's response cache (default 0)"
    )
    est.add_argument(
        "--cached-input-share",
        type=float,
        default=0.0,
        help="share of input the provider's prompt cache bills at the cached price",
    )
    est.add_argument(
        "--via",
        choices=["sync", "batch-api"],
        default="sync",
        help="batch-api: priced at the profile's Batch API discount (openai: 50 %%)",
    )
    est.add_argument("--json", action="store_true")
    _common(est)
    est.set_defaults(handler="unyo._cli._estimate:run")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    if getattr(args, "config", None):
        import os

        os.environ["UNYO_CONFIG"] = args.config  # every settings load in this process sees it
    module, func = args.handler.split(":")
    try:
        code = int(getattr(importlib.import_module(module), func)(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not as a traceback at interpreter exit
        return code
    except BrokenPipeError:
        return _broken_pipe()
    except KeyboardInterrupt:
        print("\ncancelled", file=sys.stderr)
        return 130
    except Exception as exc:  # every error ends here: message, hint, exit code
        return report(exc)


def _broken_pipe() -> int:
    """The reader of stdout went away (`unyo logs --json | head`): stop quietly, as a Unix tool
    killed by SIGPIPE does. Python's recommended recipe: point stdout at devnull so the final
    flush at exit cannot fail again. Exit 141 (128 + SIGPIPE) is what the shell reports for
    `yes | head` under `set -o pipefail`, so scripts that tolerate that tolerate this too."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141


def report(exc: BaseException) -> int:
    from unyo._cli._shared import clean  # an error can quote what a server sent
    from unyo._types._errors import UnyoError
    from unyo._types._redact import redact

    if isinstance(exc, UnyoError):
        print(f"error: {type(exc).__name__}: {clean(exc)}", file=sys.stderr)
        print(f"hint: {exc.hint()}", file=sys.stderr)
        return exc.exit_code
    print(f"internal error: {type(exc).__name__}: {clean(redact(str(exc)))}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
