"""Settings, resolved once per client from five sources.

Precedence, highest first: explicit arguments > environment > `.env` in the working directory
(never overrides the real environment) > `unyo.toml` (`[unyo]` table) > defaults. The toml is
the user's `~/.config/unyo/unyo.toml` under the project's (nearest one up to the repository
root) or under `--config`/`UNYO_CONFIG`; see `_config_files`. A project file may not point a
key-bearing profile at a host the user has not trusted (`_check_key_destination`).

Keys are read only from the environment, `.env`, or a secret file named by `<KEY_ENV>_FILE`
(Docker/Kubernetes style). A key in `unyo.toml` is refused. Keys are registered with the
redactor the moment they are read and are held in a `Secret` whose repr never shows them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from unyo._core._limits import LIMIT_KNOBS, BudgetConfig, budget_config
from unyo._providers._profiles import Profile, get_profile
from unyo._types._errors import ConfigError
from unyo._types._messages import Message, os_reason
from unyo._types._redact import register_secret


class Secret:
    """A key. `str()` and `repr()` never show it; `.reveal()` does, for the transport only."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        register_secret(value)
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"Secret(<{len(self._value)} chars>)"

    __str__ = __repr__


# name -> (env var, type, default). The toml key is the name itself under [unyo].
_KNOBS: dict[str, tuple[str, type, Any]] = {
    "profile": ("UNYO_PROFILE", str, None),
    "model": ("UNYO_MODEL", str, "main"),
    "base_url": ("UNYO_BASE_URL", str, None),
    "max_output_tokens": ("UNYO_MAX_OUTPUT_TOKENS", int, 1024),
    "max_attempts": ("UNYO_MAX_ATTEMPTS", int, 3),
    "deadline_s": ("UNYO_DEADLINE_S", float, 120.0),
    "connect_timeout_s": ("UNYO_CONNECT_TIMEOUT_S", float, 10.0),
    "read_timeout_s": ("UNYO_READ_TIMEOUT_S", float, 60.0),
    "stream_idle_s": ("UNYO_STREAM_IDLE_S", float, 30.0),
    "retry_after_cap_s": ("UNYO_RETRY_AFTER_CAP_S", float, 60.0),
    "backoff_base_s": ("UNYO_BACKOFF_BASE_S", float, 0.5),
    "backoff_max_s": ("UNYO_BACKOFF_MAX_S", float, 20.0),
    "home": ("UNYO_HOME", str, None),
    "local_model": ("UNYO_LOCAL_MODEL", str, None),
    "local_ctx": ("UNYO_LOCAL_CTX", int, 4096),
    # money, memory and audit (issue 3)
    "db_url": ("UNYO_DB_URL", str, None),  # postgresql://... | sqlite:///path | off; default UNYO_HOME/unyo.db
    "max_request_usd": ("UNYO_MAX_REQUEST_USD", Decimal, None),
    "budget_daily_usd": ("UNYO_BUDGET_DAILY_USD", Decimal, None),
    "budget_monthly_usd": ("UNYO_BUDGET_MONTHLY_USD", Decimal, None),
    "budget_user_daily_usd": ("UNYO_BUDGET_USER_DAILY_USD", Decimal, None),
    "budget_user_monthly_usd": ("UNYO_BUDGET_USER_MONTHLY_USD", Decimal, None),
    "budget_tz": ("UNYO_BUDGET_TZ", str, None),
    "on_budget_exceeded": ("UNYO_ON_BUDGET_EXCEEDED", str, "stop"),
    "downgrade_to": ("UNYO_DOWNGRADE_TO", str, "bulk"),
    "soft_threshold": ("UNYO_SOFT_THRESHOLD", float, 0.8),
    "allow_unpriced": ("UNYO_ALLOW_UNPRICED", bool, False),
    "cache_ttl_s": ("UNYO_CACHE_TTL_S", float, 0.0),
    "audit_content": ("UNYO_AUDIT_CONTENT", str, "masked"),
    "retention_days": ("UNYO_RETENTION_DAYS", float, 90.0),
    # rate limits learned from the provider's headers, shared across processes and hosts (issue 13)
    "redis_url": ("UNYO_REDIS_URL", str, None),  # redis://host:6379/0; unset: shared within the process only
    # image input URLs: hosts allowed although private or loopback (comma-separated; issue 17)
    "image_hosts": ("UNYO_IMAGE_HOSTS", str, ""),
}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}
# settings only the user (environment, own config, --config) may choose, and caps a project may only lower
PROJECT_MAY_NOT_SET = frozenset({"db_url", "redis_url", "home", "local_model", "allow_unpriced", "image_hosts"})
CAPS = frozenset(LIMIT_KNOBS)


def _convert(kind: type, raw: Any) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text not in _TRUE | _FALSE:
            raise ValueError(raw)
        return text in _TRUE
    if kind is Decimal:
        if isinstance(raw, float):
            raw = repr(raw)
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ValueError(raw) from None
        if not value.is_finite():
            raise ValueError(raw)
        return value
    return kind(raw)


@dataclass(frozen=True)
class Settings:
    profile: Profile
    api_key: Secret | None
    key_source: str  # where the key came from, e.g. "env OPENAI_API_KEY"; never the key
    base_url: str | None
    model: str
    max_output_tokens: int
    max_attempts: int
    deadline_s: float
    connect_timeout_s: float
    read_timeout_s: float
    stream_idle_s: float
    retry_after_cap_s: float
    backoff_base_s: float
    backoff_max_s: float
    home: Path
    local_model: str | None
    local_ctx: int
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # [models."id"] overrides
    notices: tuple[str, ...] = ()  # said once on stderr by the CLI (e.g. "using the local model")
    config_files: tuple[str, ...] = ()  # "path (user|project|explicit|.env)", lowest precedence first
    origins: dict[str, str] = field(default_factory=dict)  # setting -> where its value came from
    db_url: str | None = None  # None: SQLite in `home`; "off": no ledger, audit or cache
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    cache_ttl_s: float = 0.0
    audit_content: str = "masked"  # none | masked | full
    retention_days: float = 90.0
    redis_url: str | None = None  # the shared rate limiter's Redis; None: per process
    image_hosts: tuple[str, ...] = ()  # image URL hosts allowed although private/loopback

    @property
    def host(self) -> str:
        return self.profile.host(self.base_url)  # type: ignore[no-any-return]

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def default_home() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "unyo"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "unyo"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "unyo"


class _Sources:
    def __init__(self, env: Mapping[str, str], cwd: Path) -> None:
        from unyo._core._config_files import config_files, merge

        self.env = env
        self.dotenv_path = cwd / ".env"
        self.dotenv: dict[str, str] = {}
        if self.dotenv_path.is_file():
            from dotenv import dotenv_values

            self.dotenv = {k: v for k, v in dotenv_values(self.dotenv_path).items() if v is not None}
        self.files = config_files(env, cwd)
        self.toml = merge(self.files)
        self.origins: dict[str, str] = {}  # knob -> where its value came from

    def env_value(self, name: str) -> tuple[str | None, str]:
        if self.env.get(name):
            return self.env[name], f"env {name}"
        if self.dotenv.get(name):
            return self.dotenv[name], f".env {name}"
        return None, ""

    def toml_origin(self, *path: str) -> str:
        from unyo._core._config_files import defining_file

        found = defining_file(self.files, *path)
        return f"{found.label} [{'.'.join(path[:-1])}] {path[-1]}" if found else ""

    def _project_may_set(self, name: str, raw: Any, origin: str) -> Any:
        """A cloned repository's unyo.toml may not move the ledger or audit log, pick a model file,
        lift caps or turn full-text audit on; for a cap it may only tighten the user's own."""
        from unyo._core._config_files import defining_file

        found = defining_file(self.files, "unyo", name)
        if raw is None or found is None or found.kind != "project":
            return raw
        if name in PROJECT_MAY_NOT_SET or (name == "audit_content" and raw == "full"):
            raise ConfigError(
                Message(
                    "config.project_may_not_set",
                    origin=origin,
                    name=f"{name} = full" if name == "audit_content" else name,
                    env=_KNOBS[name][0],
                    user_config=_user_config_hint(self),
                )
            )
        if name in CAPS:
            own = [f.data.get("unyo", {}).get(name) for f in self.files if f.kind != "project"]
            own = [v for v in own if v is not None]
            if own:
                return min((raw, *own), key=lambda v: _convert(Decimal, v))
        return raw

    def knob(self, name: str, alias: str | None = None) -> Any:
        env_name, kind, default = _KNOBS[name]
        raw, origin = self.env_value(env_name)
        if raw is None and alias:
            raw, origin = self.env_value(alias)
        if raw is None:
            raw, origin = self.toml.get("unyo", {}).get(name), self.toml_origin("unyo", name)
            raw = self._project_may_set(name, raw, origin)
        if raw is None:
            self.origins[name] = "default"
            return default
        self.origins[name] = origin
        try:
            return _convert(kind, raw)
        except (TypeError, ValueError):
            raise ConfigError(Message("config.wrong_type", origin=origin, kind=kind.__name__, got=raw)) from None


def _read_key(sources: _Sources, profile: Profile) -> tuple[Secret | None, str]:
    if not profile.key_env:
        return None, "none needed"
    value, origin = sources.env_value(profile.key_env)
    if value:
        return Secret(value.strip()), origin
    file_var = f"{profile.key_env}_FILE"
    path, origin = sources.env_value(file_var)
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(Message("config.key_file_unreadable", origin=origin, reason=os_reason(exc))) from None
        if not text:
            raise ConfigError(Message("config.key_file_empty", origin=origin))
        return Secret(text), f"file via {file_var}"
    return None, "none"


def _profile_for(sources: _Sources, explicit: str | None) -> tuple[Profile, tuple[str, ...]]:
    name = explicit or sources.knob("profile")
    notices: tuple[str, ...] = ()
    if not name:
        has_openai = any(sources.env_value(v)[0] for v in ("OPENAI_API_KEY", "OPENAI_API_KEY_FILE", "OPENAI_BASE_URL"))
        if has_openai:
            name = "openai"
        else:
            name = "local"
            from unyo._types._lang import pick

            notices = (
                pick(
                    "unyo: no API key or endpoint configured; using the bundled local model (profile 'local')",
                    "unyo: API キーもエンドポイントも設定されていないため、"
                    "同梱のローカルモデルを使います (プロファイル 'local')",
                ),
            )
    profile = get_profile(name)
    table = sources.toml.get("profiles", {}).get(name)
    if isinstance(table, dict):
        profile = profile.amended(table)
    return profile, notices


def _custom_profiles(sources: _Sources) -> None:
    """Register profiles that exist only in unyo.toml, so `get_profile` can find them."""
    from unyo._providers._profiles import BUILTIN, register_profile

    for name, table in sources.toml.get("profiles", {}).items():
        if name not in BUILTIN and isinstance(table, dict):
            if "base_url" not in table:
                raise ConfigError(Message("config.profile_needs_base_url", name=name))
            register_profile(Profile(name, None).amended(table))


def _url_source(sources: _Sources, prof: Profile, explicit: str | None, from_knob: str | None) -> tuple[str, str]:
    """(where the base URL came from, how far it is trusted: trusted | dotenv | project)."""
    if explicit:
        return "argument", "trusted"
    if from_knob:
        where = sources.origins.get("base_url", "")
        if where.startswith("env "):
            return where, "trusted"
        if where.startswith(".env "):
            return where, "dotenv"
        kind = _file_kind(sources, "unyo", "base_url")
        return where, "trusted" if kind != "project" else "project"
    kind = _file_kind(sources, "profiles", prof.name, "base_url")
    if kind is None:
        return "built-in profile", "trusted"
    return sources.toml_origin("profiles", prof.name, "base_url"), "trusted" if kind != "project" else "project"


def _file_kind(sources: _Sources, *path: str) -> str | None:
    from unyo._core._config_files import defining_file

    found = defining_file(sources.files, *path)
    return found.kind if found else None


def _check_key_destination(
    sources: _Sources, prof: Profile, key_source: str, url: str | None, where: str, trust: str
) -> None:
    """A project file (or a project's .env) may not point a key read elsewhere at its own host."""
    from unyo._core._config_files import origin, trusted_origins

    if trust == "trusted" or not url:
        return
    if trust == "dotenv" and key_source.startswith(".env "):
        return  # the same file holds the key and the URL: nothing is sent elsewhere
    if origin(url) in trusted_origins(sources.env):
        return
    raise ConfigError(
        Message(
            "config.untrusted_base_url",
            where=where,
            profile=prof.name,
            host=origin(url),
            key=prof.key_env or Message("config.the_key"),
            url=url,
            user_config=_user_config_hint(sources),
        )
    )


def _user_config_hint(sources: _Sources) -> str:
    from unyo._core._config_files import user_config_dir

    return str(user_config_dir(sources.env) / "unyo.toml")


def load_settings(
    *,
    profile: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    model: str | None = None,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Resolve settings. Keyword overrides use the `[unyo]` table's names (e.g. deadline_s=5)."""
    sources = _Sources(os.environ if env is None else env, Path(cwd or os.getcwd()))
    _custom_profiles(sources)
    if api_key and not profile and not sources.knob("profile"):
        profile = "openai"  # OpenAI(api_key=...) means OpenAI, as with the official SDK
    prof, notices = _profile_for(sources, profile)
    unknown = set(overrides) - set(_KNOBS)
    if unknown:
        raise ConfigError(Message("config.unknown_settings", unknown=sorted(unknown), known=sorted(_KNOBS)))
    aliases = prof.env_aliases
    values = {name: sources.knob(name, aliases.get(name)) for name in _KNOBS}
    for name, value in overrides.items():
        if value is not None:
            try:
                values[name] = _convert(_KNOBS[name][1], value)
            except (TypeError, ValueError):
                raise ConfigError(
                    Message("config.setting_wrong_type", name=name, kind=_KNOBS[name][1].__name__, got=value)
                ) from None
            sources.origins[name] = "argument"

    key, key_source = (Secret(api_key), "argument") if api_key else _read_key(sources, prof)
    if prof.key_required and key is None:
        raise ConfigError(Message("config.missing_key", profile=prof.name, key_env=prof.key_env))
    url = base_url or values["base_url"] or prof.base_url
    if key is not None:
        where, trust = _url_source(sources, prof, base_url, values["base_url"])
        if (
            _file_kind(sources, "profiles", prof.name, "key_env") == "project"
        ):  # the project chose which secret goes out
            where, trust = sources.toml_origin("profiles", prof.name, "key_env"), "project"
        _check_key_destination(sources, prof, key_source, url, where, trust)
    files = tuple(f.label for f in sources.files) + (
        (f"{sources.dotenv_path} (.env)",) if sources.dotenv_path.is_file() else ()
    )
    toml_models = sources.toml.get("models", {})
    budget = budget_config(values, sources.toml)
    if values["audit_content"] not in ("none", "masked", "full"):
        raise ConfigError(Message("config.audit_content", got=values["audit_content"]))
    if values["db_url"] == "off" and budget.limits:
        raise ConfigError(Message("config.budget_without_ledger"))
    return Settings(
        profile=prof,
        api_key=key,
        key_source=key_source,
        base_url=url,
        model=model or values["model"],
        max_output_tokens=values["max_output_tokens"],
        max_attempts=max(1, values["max_attempts"]),
        deadline_s=values["deadline_s"],
        connect_timeout_s=values["connect_timeout_s"],
        read_timeout_s=values["read_timeout_s"],
        stream_idle_s=values["stream_idle_s"],
        retry_after_cap_s=values["retry_after_cap_s"],
        backoff_base_s=values["backoff_base_s"],
        backoff_max_s=values["backoff_max_s"],
        home=Path(values["home"]).expanduser() if values["home"] else default_home(),
        local_model=values["local_model"],
        local_ctx=values["local_ctx"],
        models=toml_models if isinstance(toml_models, dict) else {},
        notices=notices,
        config_files=files,
        origins=dict(sources.origins),
        db_url=values["db_url"],
        budget=budget,
        cache_ttl_s=values["cache_ttl_s"],
        audit_content=values["audit_content"],
        retention_days=values["retention_days"],
        redis_url=values["redis_url"] or None,
        image_hosts=tuple(h.strip() for h in str(values["image_hosts"] or "").split(",") if h.strip()),
    )
