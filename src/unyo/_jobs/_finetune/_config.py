"""Bind a tuned model to a role in the project's unyo.toml, keeping the file's comments and order.

    [profiles.openai.models]
    main = "ft:gpt-4.1-mini-2025-04-14:org:support:abc123"

The file is the one `--config` / UNYO_CONFIG names, else the project's nearest unyo.toml (as
settings find it), else a new ./unyo.toml. It is replaced atomically, keeping its mode.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from unyo._types._errors import ConfigError


def config_path(explicit: Path | None = None) -> Path:
    from unyo._core._config_files import find_project_file

    if explicit is not None:
        return explicit
    named = os.environ.get("UNYO_CONFIG")
    if named:
        return Path(named).expanduser()
    return find_project_file(Path.cwd()) or Path.cwd() / "unyo.toml"


def bind_role(profile: str, role: str, model: str, explicit: Path | None = None) -> Path:
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    path = config_path(explicit)
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    except (OSError, UnicodeDecodeError, TOMLKitError) as exc:
        raise ConfigError(f"{path}: cannot update it: {exc}") from None
    profiles = doc.setdefault("profiles", tomlkit.table(is_super_table=True))
    table = profiles.setdefault(profile, tomlkit.table(is_super_table=True))
    models = table.setdefault("models", tomlkit.table())
    models[role] = model
    _write_atomically(path, tomlkit.dumps(doc))
    return path


def _write_atomically(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
