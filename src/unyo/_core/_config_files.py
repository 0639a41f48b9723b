"""Which `unyo.toml` files apply, and which endpoints the user trusts with a key.

Files, lowest precedence first (a later file's value wins, tables are merged):

    user      $XDG_CONFIG_HOME/unyo/unyo.toml (~/.config/unyo/unyo.toml)    trusted
    project   the nearest unyo.toml from the working directory up to the     not trusted with keys
              repository root (the first directory holding .git), as git
              finds its own directory; a cron job in proj/sub/ finds proj/unyo.toml
    explicit  --config FILE or UNYO_CONFIG (replaces the project file)       trusted

A project file arrives with a `git clone`: it may change models, budgets and caps, but it may
not send a key unyo read from the environment to a host of its choosing. A base URL from a
project file for a profile that carries a key is refused unless its origin is in the user's
trusted list (`unyo config trust URL`, kept in the user's config directory).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from unyo._types._errors import ConfigError
from unyo._types._messages import Message, os_reason

TRUST_FILE = "trusted_hosts"


@dataclass(frozen=True)
class ConfigFile:
    path: Path
    kind: str  # user | project | explicit
    data: dict[str, Any]

    @property
    def trusted(self) -> bool:
        return self.kind != "project"

    @property
    def label(self) -> str:
        return f"{self.path} ({self.kind})"


def user_config_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or os.environ.get("XDG_CONFIG_HOME")
    return Path(base) / "unyo" if base else Path.home() / ".config" / "unyo"


def find_project_file(cwd: Path) -> Path | None:
    """The nearest unyo.toml in `cwd` or above, stopping at the repository root."""
    here = cwd.resolve()
    for folder in (here, *here.parents):
        candidate = folder / "unyo.toml"
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists():
            return None
    return None


def _load(path: Path, kind: str) -> ConfigFile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(Message("config.bad_toml", path=path, detail=exc)) from None
    except OSError as exc:
        raise ConfigError(Message("config.file_unreadable", path=path, reason=os_reason(exc))) from None
    return ConfigFile(path, kind, data)


def config_files(env: Mapping[str, str], cwd: Path) -> list[ConfigFile]:
    """The files that apply, lowest precedence first."""
    files = []
    user = user_config_dir(env) / "unyo.toml"
    if user.is_file():
        files.append(_load(user, "user"))
    explicit = env.get("UNYO_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(Message("config.no_such_file", path=path))
        files.append(_load(path, "explicit"))
    else:
        project = find_project_file(cwd)
        if project is not None and project.resolve() != user.resolve():
            files.append(_load(project, "project"))
    return files


def merge(files: list[ConfigFile]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for f in files:
        _deep_update(merged, f.data)
    return merged


def _deep_update(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_update(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def defining_file(files: list[ConfigFile], *path: str) -> ConfigFile | None:
    """The file whose value for `path` (e.g. "unyo", "base_url") is the one that applies."""
    for f in reversed(files):
        node: Any = f.data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return f
    return None


def origin(url: str) -> str:
    parts = urlsplit(url)
    scheme = (parts.scheme or "https").lower()
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{host}:{port}"


def trusted_origins(env: Mapping[str, str]) -> set[str]:
    path = user_config_dir(env) / TRUST_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return set()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def trust(url: str, env: Mapping[str, str]) -> tuple[str, Path]:
    """Record `url`'s origin as trusted with keys, in the user's own config directory (0600)."""
    if not urlsplit(url).hostname:
        raise ConfigError(Message("config.not_a_url", url=url))
    folder = user_config_dir(env)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / TRUST_FILE
    known = trusted_origins(env)
    entry = origin(url)
    if entry not in known:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(entry + "\n")
    return entry, path
