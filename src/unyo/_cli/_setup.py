"""`unyo init` and `unyo doctor`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from argparse import Namespace
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ENV_EXAMPLE = """\
# Copy to .env and fill in the keys you use. .env is git-ignored; never commit a real key.
# A key may instead live in a secret file: OPENAI_API_KEY_FILE=/run/secrets/openai
OPENAI_API_KEY=
# OPENAI_BASE_URL=https://api.openai.com/v1
# OPENAI_MODEL=gpt-5-mini
GEMINI_API_KEY=
XAI_API_KEY=
PLAMO_API_KEY=
# UNYO_PROFILE=openai
# UNYO_MAX_OUTPUT_TOKENS=1024
# UNYO_MAX_ATTEMPTS=3
# UNYO_DEADLINE_S=120
"""

UNYO_TOML = """\
# unyo configuration. Keys never go here: use the environment, .env or *_FILE secret files.
[unyo]
# profile = "openai"          # default: openai if OPENAI_API_KEY is set, else the local model
# model = "main"              # a role or a model id
max_output_tokens = 1024      # always sent; the most one call may generate
max_attempts = 3              # retries included
deadline_s = 120              # across all attempts

# Roles per profile: code asks for "main", the profile says which model that is.
[profiles.openai.models]
main = "gpt-5-mini"
premium = "gpt-5"
bulk = "gpt-5-nano"

# A client-side limit, so a batch never trips the provider's:
# [profiles.openai]
# rpm = 500
# tpm = 200000

# A custom OpenAI-compatible endpoint:
# [profiles.myproxy]
# base_url = "https://llm.example.internal/v1"
# key_env = "MYPROXY_API_KEY"
# api = "chat"
# models = { main = "my-model" }

# Facts for a model the catalogue does not know:
# [models."my-model"]
# context_window = 32768
# max_output = 4096
"""

GITIGNORE_LINES = [".env", ".env.*", "!.env.example", ".unyo/"]


def run_init(args: Namespace) -> int:
    here = Path.cwd()
    for name, text in ((".env.example", ENV_EXAMPLE), ("unyo.toml", UNYO_TOML)):
        path = here / name
        if path.exists() and not args.force:
            print(f"kept     {name} (exists; --force to overwrite)")
            continue
        path.write_text(text, encoding="utf-8")
        print(f"wrote    {name}")
    gitignore = here / ".gitignore"
    present = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    missing = [line for line in GITIGNORE_LINES if line not in present]
    if missing:
        with gitignore.open("a", encoding="utf-8") as fh:
            if present and present[-1].strip():
                fh.write("\n")
            fh.write("# unyo: secrets and local data\n" + "\n".join(missing) + "\n")
        print(f"updated  .gitignore (+{', '.join(missing)})")
    else:
        print("kept     .gitignore (already ignores .env)")
    print("next: put your key in .env (see .env.example), then run `unyo doctor`")
    return 0


@dataclass
class Finding:
    check: str
    level: str  # ok | warn | fail
    detail: str
    fix: str = ""


def _dotenv_findings(here: Path) -> list[Finding]:
    path = here / ".env"
    if not path.exists():
        return [Finding(".env", "ok", "no .env here")]
    found = []
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        found.append(Finding(".env permissions", "fail", f"mode {mode:o}: readable by other users", "chmod 600 .env"))
    else:
        found.append(Finding(".env permissions", "ok", f"mode {mode:o}"))
    try:
        inside = (
            subprocess.run(
                ["git", "rev-parse", "--is-inside-work-tree"], cwd=here, capture_output=True, text=True, timeout=5
            ).returncode
            == 0
        )
        ignored = inside and subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=here, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        inside, ignored = False, False
    tracked = inside and _git(here, "ls-files", "--error-unmatch", ".env")
    if tracked:
        found.append(
            Finding(
                ".env in git",
                "fail",
                ".env is committed: every key in it is published to whoever can read this repository",
                "rotate (revoke and reissue) every key in .env now, then `git rm --cached .env`, "
                "add .env to .gitignore, "
                "and remove it from the history (git filter-repo)",
            )
        )
    elif inside and not ignored:
        found.append(
            Finding(
                ".env in git",
                "fail",
                ".env is not git-ignored: a commit would publish the key",
                "run `unyo init` or add .env to .gitignore",
            )
        )
    elif inside:
        found.append(Finding(".env in git", "ok", "git-ignored"))
    return found


def _git(here: Path, *args: str) -> bool:
    try:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _key_destinations() -> list[Finding]:
    """For every profile whose key is present: the host that key is sent to."""
    from unyo._core._config import load_settings
    from unyo._providers._profiles import get_profile, profile_names
    from unyo._types._errors import UnyoError

    found = []
    for name in profile_names():
        prof = get_profile(name)
        if not prof.key_env or not (
            os.environ.get(prof.key_env) or os.environ.get(f"{prof.key_env}_FILE") or _in_dotenv(prof.key_env)
        ):
            continue
        try:
            s = load_settings(profile=name)
        except UnyoError as exc:
            found.append(Finding(f"key {prof.key_env}", "fail", str(exc), exc.hint()))
            continue
        if s.api_key is None:
            continue
        where = s.origins.get("base_url") if s.origins.get("base_url", "default") != "default" else "the profile"
        found.append(Finding(f"key {prof.key_env}", "ok", f"goes to {s.host} (profile {name}, base URL from {where})"))
    return found


def _in_dotenv(name: str) -> bool:
    path = Path.cwd() / ".env"
    if not path.is_file():
        return False
    from dotenv import dotenv_values

    return bool(dotenv_values(path).get(name) or dotenv_values(path).get(f"{name}_FILE"))


def _home_finding(home: Path) -> Finding:
    if not home.exists():
        return Finding("data dir", "ok", f"{home} (does not exist yet)")
    mode = stat.S_IMODE(home.stat().st_mode)
    if mode & 0o077:
        return Finding("data dir", "warn", f"{home} mode {mode:o}: other users can read call logs", f"chmod 700 {home}")
    return Finding("data dir", "ok", f"{home} mode {mode:o}")


def _reconcile_findings(settings: Any) -> list[Finding]:
    """When the ledger was last held against the provider's bill (`unyo reconcile`)."""
    import time

    from unyo._types._errors import UnyoError

    if settings.db_url == "off" or settings.profile.free:
        return []
    try:
        from unyo._money._reconcile import last_run

        last = last_run(settings)
    except UnyoError:
        return []
    fix = (
        "run `unyo reconcile` (OPENAI_ADMIN_KEY) from cron, e.g. weekly; `--apply` makes budgets count what was billed"
    )
    if last is None:
        return [
            Finding(
                "last reconciliation",
                "warn" if settings.budget.limits else "ok",
                "never: the ledger has not been checked against the bill",
                fix,
            )
        ]
    age = (time.time() - last) / 86400
    when = time.strftime("%Y-%m-%d", time.localtime(last))
    if age > 7 and settings.budget.limits:
        return [Finding("last reconciliation", "warn", f"{when}, {age:.0f} days ago, while a budget is set", fix)]
    return [Finding("last reconciliation", "ok", f"{when}")]


def _money_findings(settings: Any) -> list[Finding]:
    """The ledger opens (and migrates), budgets are understood, and every role has a price."""
    from unyo._providers._catalog import model_info
    from unyo._types._errors import UnyoError

    found = []
    if settings.db_url == "off":
        found.append(
            Finding(
                "ledger",
                "warn",
                "db_url = off: no ledger, no audit log, no cache",
                "unset UNYO_DB_URL to use SQLite in UNYO_HOME",
            )
        )
    else:
        try:
            from unyo._records._store import store_for

            store = store_for(settings)
            found.append(Finding("ledger", "ok", f"{store.location} (schema v{store.schema_version()})"))
        except UnyoError as exc:
            found.append(Finding("ledger", "fail", str(exc), exc.hint()))
    limits = ", ".join(limit.describe() for limit in settings.budget.limits)
    if limits:
        found.append(Finding("budget", "ok", f"{limits}; on exceeding: {settings.budget.on_exceed}"))
    elif not settings.profile.free:
        found.append(
            Finding(
                "budget",
                "warn",
                "no budget applies here: calls are capped per request by the output cap only",
                "set UNYO_BUDGET_MONTHLY_USD (or budget_monthly_usd in ~/.config/unyo/unyo.toml, which applies "
                "in every directory)",
            )
        )
    else:
        found.append(Finding("budget", "ok", f"none (profile {settings.profile.name} costs nothing)"))
    found += _reconcile_findings(settings)
    if not settings.profile.free:
        for role, model_id in sorted(settings.profile.models.items()):
            if model_info(model_id, settings.models).price is None:
                level = "fail" if settings.budget.limits and not settings.budget.allow_unpriced else "warn"
                found.append(
                    Finding(
                        f"price {role}",
                        level,
                        f"{model_id} has no price: its cost cannot be capped or reported",
                        f'add [models."{model_id}"] input / cached_input / output (USD per 1M tokens) to unyo.toml',
                    )
                )
    return found


def doctor(profile: str | None, offline: bool) -> list[Finding]:
    from unyo._core._config import load_settings
    from unyo._types._errors import UnyoError

    here = Path.cwd()
    findings = _dotenv_findings(here)
    try:
        settings = load_settings(profile=profile)
    except UnyoError as exc:
        return [*findings, Finding("configuration", "fail", str(exc), exc.hint())]
    key = settings.api_key
    key_detail = f"from {settings.key_source}, {len(key)} characters" if key else f"no key ({settings.key_source})"
    findings.append(
        Finding("profile", "ok", f"{settings.profile.name} → {settings.base_url or 'in-process llama.cpp'}")
    )
    files = ", ".join(settings.config_files) or "none (environment and defaults only)"
    findings.append(Finding("config files", "ok", files))
    findings += _key_destinations()
    findings.append(Finding("key", "ok", key_detail))
    if key and os.environ.get(settings.profile.key_env or "") and (here / ".env").exists():
        findings.append(
            Finding(
                "key source",
                "warn",
                f"{settings.profile.key_env} is set in the environment and .env; the environment wins",
                "remove one of them",
            )
        )
    findings.append(_home_finding(settings.home))
    findings += _money_findings(settings)
    from unyo._cli._config import model_roles

    for name, entry in model_roles(settings).items():  # which model each command and role uses, and why
        findings.append(Finding(name, "ok", f"{entry['value']} ({entry['from']})"))
    if offline:
        return findings
    from unyo._client._openai import OpenAI

    try:
        client = OpenAI(settings=settings.with_overrides(deadline_s=15.0, max_attempts=2))
        served = {m.id for m in client.models.list()}
        findings.append(Finding("reachable", "ok", f"{settings.host} answered: {len(served)} models"))
    except UnyoError as exc:
        findings.append(Finding("reachable", "fail", f"{type(exc).__name__}: {exc}", exc.hint()))
        return findings
    for role, model_id in sorted(settings.profile.models.items()):
        if model_id in served:
            findings.append(Finding(f"model {role}", "ok", model_id))
        else:
            findings.append(
                Finding(
                    f"model {role}",
                    "warn",
                    f"{model_id} is not served here",
                    f"set [profiles.{settings.profile.name}.models] {role} in unyo.toml (see `unyo models`)",
                )
            )
    return findings


def run_doctor(args: Namespace) -> int:
    findings = doctor(args.profile, args.offline)
    if args.json:
        print(json.dumps([asdict(f) for f in findings], ensure_ascii=False))
    else:
        from unyo._cli._output import color_enabled
        from unyo._cli._shared import clean

        marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
        colors = {"ok": "\x1b[32m", "warn": "\x1b[33m", "fail": "\x1b[1;31m"} if color_enabled() else {}
        for f in findings:
            mark = f"{colors[f.level]}{marks[f.level]}\x1b[0m" if colors else marks[f.level]
            print(f"{mark}  {clean(f.check)}: {clean(f.detail)}")
            if f.fix:
                print(f"      fix: {clean(f.fix)}")
    return 3 if any(f.level == "fail" for f in findings) else 0
