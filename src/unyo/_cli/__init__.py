"""The `unyo` command. Only argparse is imported at start-up; each command's module (and the
openai SDK, llama.cpp, rich) is imported when that command runs, so `unyo --help` is instant."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from unyo._cli._parser import Parser, gettext, install
from unyo._types._messages import msg

EXIT_CODES = """exit codes:
  0    ok
  1    internal error
  2    usage error
  3    authentication, permission or configuration
  4    refused by a budget
  5    rate limit or quota exhausted
  6    upstream failure after retries (5xx, timeout, connection, broken stream)
  7    invalid request (400, 404, 422, context too long, output invalid)
  8    a batch ended with failed rows (they carry unyo_error; --allow-failures makes this 0)
  10   an eval gate failed (--fail-under, --fail-on-regression)
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
    p.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="styling: auto (on a terminal, unless NO_COLOR is set; FORCE_COLOR forces it), always, never",
    )


def _listing(p: argparse.ArgumentParser) -> None:
    """--format for a command that prints a listing (see `_output`)."""
    p.add_argument(
        "--format",
        choices=["table", "tsv", "csv", "json", "jsonl"],
        help="table on a terminal, tsv when piped (default); csv, json (one array), jsonl (one object a line)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(msg("arg.not_whole_number", text=text)) from None
    if value < 1:
        raise argparse.ArgumentTypeError(msg("arg.at_least_1", value=value))
    return value


def _temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(msg("arg.not_number", text=text)) from None
    if not 0 <= value <= 2:
        raise argparse.ArgumentTypeError(msg("arg.temperature_range", value=value))
    return value


def build_parser() -> argparse.ArgumentParser:
    install()  # argparse's own messages follow UNYO_LANG too
    parser = Parser(
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
    ask.add_argument(
        "prompt",
        nargs="*",
        help="the instruction; piped stdin, @FILE words and --file are the material it applies to "
        "(material first, instruction last); with no words stdin is the prompt",
    )
    ask.add_argument(
        "--file", action="append", default=[], metavar="PATH", help="add a text file's content (repeatable)"
    )
    ask.add_argument("-m", "--model", help="model id, role (main, premium, bulk, ...) or alias (`unyo aliases`)")
    ask.add_argument("--system", help="system instructions")
    ask.add_argument("-t", "--template", metavar="NAME", help="use a saved template (`unyo templates`)")
    ask.add_argument("-c", "--continue", dest="continue_", action="store_true", help="continue your last conversation")
    ask.add_argument("--conversation", metavar="ID", help="continue (or start) the conversation with this id")
    ask.add_argument(
        "--max-output-tokens",
        "--max-tokens",
        type=_positive_int,
        help="output cap (default UNYO_MAX_OUTPUT_TOKENS, 1024); --max-tokens is the SDK's name for it",
    )
    ask.add_argument("--temperature", type=_temperature, help="0 to 2")
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
    ask.add_argument(
        "--user", help="who the call is for (budgets, reports, cache scope; -c/--conversation: whose conversation)"
    )
    ask.add_argument("--tag", help="task tag (budgets and reports group by it)")
    ask.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="FILE|URL",
        help="an image to ask about (repeatable): a PNG/JPEG/WEBP/GIF file or an http(s) URL",
    )
    ask.add_argument("--image-detail", choices=["low", "high", "auto"], default="auto", help="image detail (tokens)")
    ask.add_argument("--kb", metavar="NAME", help="answer from this knowledge base, citing its passages (or refuse)")
    ask.add_argument(
        "--rerank", action="store_true", help="with --kb: the model first picks the relevant passages of the top 8"
    )
    ask.add_argument("--web", action="store_true", help="answer with the provider's web_search tool, citing the pages")
    ask.add_argument(
        "--max-tool-calls",
        type=int,
        metavar="N",
        help="--web / hosted --kb: tool calls allowed, each billed (default 4)",
    )
    _common(ask)
    ask.set_defaults(handler="unyo._cli._ask:run")

    image = sub.add_parser("image", help="generate an image and save it (Images API; budgeted, audited)")
    image.add_argument("prompt", nargs="?", default="-", help="what to draw, or - to read it from stdin")
    image.add_argument("-o", "--output", default="image.png", help="where to save it (n > 1: out-2.png, ...)")
    image.add_argument("-m", "--model", default="gpt-image-1", help="gpt-image-1 (default), dall-e-3, dall-e-2 ...")
    image.add_argument("--size", help="e.g. 1024x1024, 1536x1024 (default: the model's)")
    image.add_argument("--quality", help="low / medium / high (GPT image), standard / hd (dall-e-3)")
    image.add_argument("-n", type=int, default=1, help="how many images (default 1)")
    image.add_argument("--json", action="store_true", help="print one JSON record: paths, hashes, cost")
    image.add_argument("--user", help="who the call is for (budgets, reports)")
    image.add_argument("--tag", help="task tag (budgets and reports group by it)")
    _common(image)
    image.set_defaults(handler="unyo._cli._image:run")

    chat = sub.add_parser("chat", help="interactive chat; Ctrl-C stops the reply, Ctrl-C at the prompt or `exit` quits")
    chat.add_argument("-m", "--model")
    chat.add_argument("--system")
    chat.add_argument("--max-output-tokens", "--max-tokens", type=_positive_int)
    chat.add_argument("--temperature", type=_temperature, help="0 to 2")
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
    convs.add_argument("-y", "--yes", action="store_true", help="rm: do not ask first (required when not a terminal)")
    _listing(convs)
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
    run.add_argument(
        "--url",
        help="read the input text from this page (http/https; its main text, as `kb add URL` reads it); "
        "the output keeps it as source_url",
    )
    run.add_argument(
        "--allow-private",
        action="store_true",
        help="--url: allow a private or loopback address (as UNYO_KB_ALLOW_PRIVATE=1); refused by default",
    )
    run.add_argument(
        "--fetch-timeout", type=float, default=15.0, metavar="SECONDS", help="--url: give up after this (default 15)"
    )
    run.add_argument("--input", help="batch: a .csv, .xlsx or .jsonl file; the task runs on every row")
    run.add_argument("--column", help="batch: the column holding the text (default: text; the answer task: question)")
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
    run.add_argument(
        "--allow-failures", action="store_true", help="batch: exit 0 even when rows failed (default: exit 8)"
    )
    run.add_argument(
        "--review",
        nargs="?",
        const="all",
        choices=["all", "flagged"],
        help="send every output (or only those flagged needs_human) to the review queue; held ones leave once approved",
    )
    run.add_argument("--restart", action="store_true", help="batch: discard the journal and start over")
    run.add_argument(
        "--job",
        metavar="NAME",
        help="batch on PostgreSQL (UNYO_DB_URL): the job to join (default: derived from the task, its options, "
        "the column and the input's content, so the same command on the same file joins the same job anywhere)",
    )
    run.add_argument(
        "--collect",
        action="store_true",
        help="batch: write the output from the journal now (in input order) and run nothing",
    )
    run.add_argument(
        "--lease",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="batch on PostgreSQL: how long a worker's claim on a row lasts unless renewed; a dead worker's rows "
        "go to another worker after it (default 60)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print the estimated cost (of the rows left, for a batch) and send nothing",
    )
    run.add_argument(
        "--via",
        choices=["sync", "batch-api", "embeddings", "llm"],
        default="sync",
        help="batch: sync (default: concurrent calls) or batch-api (the provider's Batch API: JSONL upload, "
        "results within 24 h, at its discount; the same command later collects them); "
        "embeddings / llm: how label fields (classify, triage's category) are chosen "
        "(default: the profile's choice, embeddings on the local profile)",
    )
    run.add_argument(
        "--labels", metavar="FILE", help="classify, triage: the labels file (TOML/JSON: name, description, examples)"
    )
    run.add_argument(
        "--embedding-model",
        metavar="MODEL",
        help="with --via embeddings: a provider's embedding model (priced), instead of the bundled free one",
    )
    run.add_argument("--poll", type=float, default=30.0, help="batch-api: seconds between status checks (default 30)")
    run.add_argument(
        "--no-wait",
        action="store_true",
        help="batch-api: submit (or check) and return; run the same command later to collect",
    )
    run.add_argument("--schema", help="extract: the output schema (a JSON Schema file or module:Model)")
    run.add_argument("--kb", metavar="NAME", help="answer: the knowledge base to answer from (`unyo kb add ... --kb`)")
    run.add_argument(
        "--rerank", action="store_true", help="answer: the model first picks the relevant passages of the top 8"
    )
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
    kb.add_argument(
        "--via", choices=["openai"], help="add: keep the base in the provider's vector store (file_search), synced"
    )
    kb.add_argument("--json", action="store_true")
    _common(kb)
    kb.set_defaults(handler="unyo._cli._kb:run")

    tasks = sub.add_parser("tasks", help="the tasks you can run: list, show NAME (templates, schema, options)")
    tasks.add_argument("action", choices=["list", "show"])
    tasks.add_argument("name", nargs="?")
    tasks.add_argument("--json", action="store_true")
    _listing(tasks)
    _common(tasks)
    tasks.set_defaults(handler="unyo._cli._tasks:run")

    models = sub.add_parser("models", help="the profile's models, roles and context windows")
    models.add_argument("--json", action="store_true")
    _listing(models)
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
    _listing(usage)
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
    _listing(budget)
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
    _listing(logs)
    _common(logs)
    logs.set_defaults(handler="unyo._cli._logs:run")

    _eval_parser(sub)

    est = sub.add_parser("estimate", help="monthly cost of a planned workload: normal and worst case, with the formula")
    est.add_argument("-m", "--model", help="model id or role (default: main)")
    est.add_argument("--requests-per-day", type=float, required=True)
    est.add_argument("--input-tokens", type=float, required=True, help="average input tokens per request")
    est.add_argument("--output-tokens", type=float, required=True, help="average output tokens per request")
    est.add_argument(
        "--max-output-tokens",
        "--max-tokens",
        type=_positive_int,
        help="the output cap (the worst case; default UNYO_MAX_OUTPUT_TOKENS)",
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
        "--tool-calls",
        action="append",
        metavar="TOOL=N",
        help="hosted tool calls per request, priced per call (repeatable): web_search=1, file_search=2",
    )
    est.add_argument(
        "--max-tool-calls", type=_positive_int, help="the tool-call cap per request (the worst case; default 4)"
    )
    est.add_argument("--storage-gb", type=float, help="vector-store storage kept all month (first GB free)")
    est.add_argument(
        "--via",
        choices=["sync", "batch-api"],
        default="sync",
        help="batch-api: priced at the profile's Batch API discount (openai: 50 %%)",
    )
    est.add_argument("--json", action="store_true")
    _common(est)
    est.set_defaults(handler="unyo._cli._estimate:run")

    templates = sub.add_parser("templates", help="saved prompts: system text, prompt with $input, model, caps, schema")
    templates.add_argument("action", choices=["save", "list", "show", "edit", "rm"])
    templates.add_argument("name", nargs="?")
    templates.add_argument("--system", help="save: system instructions")
    templates.add_argument("--prompt", help="save: the prompt, with $input where the user's text goes")
    templates.add_argument("-m", "--model", help="save: model id, role or alias")
    templates.add_argument("--max-output-tokens", "--max-tokens", type=_positive_int, help="save: output cap")
    templates.add_argument("--temperature", type=_temperature, help="save: 0 to 2")
    templates.add_argument("--schema", help="save: a JSON Schema file the answer must match")
    _listing(templates)
    _common(templates)
    templates.set_defaults(handler="unyo._cli._templates:run_templates")

    aliases = sub.add_parser("aliases", help="short names for models: set NAME MODEL, list, rm NAME")
    aliases.add_argument("action", choices=["set", "list", "rm"])
    aliases.add_argument("name", nargs="?")
    aliases.add_argument("model", nargs="?")
    _listing(aliases)
    _common(aliases)
    aliases.set_defaults(handler="unyo._cli._templates:run_aliases", _no_alias=True)

    completion = sub.add_parser("completion", help="print a shell completion script: bash, zsh or fish")
    completion.add_argument("shell", choices=["bash", "zsh", "fish"])
    completion.set_defaults(handler="unyo._cli._completion:run")

    from unyo._cli._finetune import add_parser as add_finetune  # argparse only: help stays instant

    add_finetune(sub, _common)

    from unyo._cli._keys import add_parsers as gateway_parsers  # `keys` and `serve` (the gateway)

    gateway_parsers(sub)
    from unyo._cli._review import add_parser as review_parser  # `review` (the human-in-the-loop queue)

    review_parser(sub)
    from unyo._cli._examples import epilog

    for name, command in sub.choices.items():  # every command's help ends with its examples
        command.epilog = epilog(name, command.epilog or "")
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


EVAL_EXIT_CODES = """exit codes:
  0    every gate passed (no gate given: the run completed)
  2    the suite is malformed (the error names the file, line and case)
  4    --max-cost reached: the run stopped cleanly; run again to continue
  10   a quality gate failed: --fail-under, or --fail-on-regression found a regression
  other codes as for every command (3 configuration, 5 rate limit or quota, 130 Ctrl-C)"""


def _eval_parser(sub: Any) -> None:
    ev = sub.add_parser(
        "eval",
        help="run an eval suite (SUITE.yaml or --task NAME); `eval compare`, `eval audit`",
        description="unyo eval SUITE.yaml | unyo eval --task triage | unyo eval compare --task classify -m main "
        "-m bulk -m local | unyo eval audit --since 7d --sample 50",
        epilog=EVAL_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ev.add_argument("target", nargs="?", help="a suite file, or `compare` / `audit`")
    ev.add_argument(
        "--task", help="the built-in suite of a task (triage, classify, extract, minutes, summarize, draft)"
    )
    ev.add_argument("-m", "--model", action="append", help="model id, role or profile (repeatable; replaces providers)")
    ev.add_argument("--json", action="store_true", help="print the whole report as JSON")
    ev.add_argument("--output", metavar="FILE", help="also write the JSON report here (a later --baseline)")
    ev.add_argument("--junit", metavar="FILE", help="write JUnit XML for CI")
    ev.add_argument("--html", metavar="FILE", help="write one self-contained HTML report (matrix, diffs, charts)")
    ev.add_argument("--fail-under", type=float, metavar="RATE", help="exit 10 when the pass rate is below RATE (0.9)")
    ev.add_argument("--max-cost", metavar="USD", help="stop cleanly before this run spends more (exit 4)")
    ev.add_argument("--baseline", metavar="FILE", help="a previous --json/--output report: mark regressions")
    ev.add_argument("--fail-on-regression", action="store_true", help="exit 10 on any pass -> fail against --baseline")
    ev.add_argument("--dry-run", action="store_true", help="print the estimated cost and send nothing")
    ev.add_argument("--concurrency", type=int, metavar="N", help="at most N calls in flight (default: adaptive)")
    ev.add_argument("--rpm", type=float, help="at most this many requests per minute")
    ev.add_argument("--no-cache", action="store_true", help="send every call again instead of using cached answers")
    ev.add_argument("--restart", action="store_true", help="discard an interrupted run's journal and start over")
    ev.add_argument("--limit", type=int, metavar="N", help="only the first N cases")
    ev.add_argument("--threshold", type=float, default=0.8, help="compare: the pass rate a model must meet (0.8)")
    ev.add_argument("--since", help="audit: a duration (7d) or a date; default 7d")
    ev.add_argument("--sample", type=int, default=50, help="audit: how many logged tool runs to check (default 50)")
    ev.add_argument("--grader", help="audit: the grader model (default: the profile's main role)")
    ev.add_argument("--tag", help="audit: only calls with this tag")
    ev.add_argument("--user", help="who the run is for (budgets, audit)")
    _common(ev)
    ev.set_defaults(handler="unyo._cli._eval:run")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        _place_positionals(parser, args, extra)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    from unyo._cli._output import configure

    configure(getattr(args, "format", None), getattr(args, "color", None))
    if getattr(args, "model", None) and not getattr(args, "_no_alias", False):
        from unyo._cli._templates import resolve_alias

        args.model = resolve_alias(args.model)
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
        from unyo._types._lang import pick

        print("\n" + pick("cancelled", "中断しました"), file=sys.stderr)
        return 130
    except Exception as exc:  # every error ends here: message, hint, exit code
        return report(exc, args, parser)


def _place_positionals(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> None:
    """argparse cannot fill an optional positional that follows an option (`run triage --set a=b
    TEXT`): place such words where they belong, and refuse anything else as argparse would."""
    sub = _subparser(parser, getattr(args, "command", None))
    open_slots = [
        a for a in (sub._actions if sub else []) if not a.option_strings and a.nargs in ("?", "*") and a.dest != "help"
    ]
    for word in extra:
        if word.startswith("-") and word != "-":
            (sub or parser).error(gettext("unrecognized arguments: %s") % word)
        for action in open_slots:
            value = getattr(args, action.dest, None)
            if action.nargs == "*":
                setattr(args, action.dest, [*(value or []), word])
                break
            if value is None or value == action.default:
                setattr(args, action.dest, word)
                open_slots.remove(action)
                break
        else:
            (sub or parser).error(gettext("unrecognized arguments: %s") % word)


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


def report(exc: BaseException, args: argparse.Namespace | None = None, parser: Any = None) -> int:
    """The error on stderr (a usage line first for a usage mistake), its hint, and the exit code.
    With --json the same facts also go to stdout as one record, so a script always gets JSON."""
    from unyo._cli._shared import clean  # an error can quote what a server sent
    from unyo._types._errors import UnyoError, UsageError
    from unyo._types._redact import redact

    if isinstance(exc, UnyoError):
        kind, message, hint, code = type(exc).__name__, clean(exc), exc.hint(), exc.exit_code
        message_en = clean(exc.text("en"))
    else:
        kind, message, hint, code = type(exc).__name__, clean(redact(str(exc))), None, 1
        message_en = message
    if isinstance(exc, UsageError) and parser is not None and args is not None:
        sub = _subparser(parser, getattr(args, "command", None))
        print((sub or parser).format_usage().rstrip(), file=sys.stderr)
    from unyo._types._lang import pick

    label = pick("error", "エラー") if isinstance(exc, UnyoError) else pick("internal error", "内部エラー")
    print(f"{label}: {kind}: {message}", file=sys.stderr)
    if hint:
        print(f"{pick('hint', 'ヒント')}: {hint}", file=sys.stderr)
    if args is not None and getattr(args, "json", False) is True:
        import json

        record = {
            "type": kind,
            "message": message,
            "message_en": message_en,  # the same in English whatever UNYO_LANG, for scripts to match on
            "message_id": getattr(exc, "message_id", None),  # the catalogue id, stabler still than the text
            "hint": hint,
            "status": getattr(exc, "status", None),
            "request_id": getattr(exc, "request_id", None),
            "exit_code": code,
        }
        try:
            print(json.dumps({"error": record}, ensure_ascii=False))
            sys.stdout.flush()
        except (BrokenPipeError, OSError):
            pass
    return code


def _subparser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]  # type: ignore[no-any-return]
    return None


if __name__ == "__main__":
    sys.exit(main())
