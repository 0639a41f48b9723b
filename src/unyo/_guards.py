"""Argument guards for tools: checks a model's arguments must pass before a tool runs.

Each factory returns `guard(value)`, which raises ValueError saying what is wrong (the message
goes back to the model as the tool's error). Use them as `@unyo.tool(guards={"arg": guard})`.

    in_range(lo, hi)                numbers within [lo, hi]
    one_of(values)                  a value from a fixed set
    url_host_in(hosts)              http(s) URLs whose host is allowlisted (".example.com" = subdomains)
    read_only_sql(dialect)          exactly one SELECT statement, nothing that writes or locks
    path_within(root)               a path that stays inside `root` after `..` and symlinks resolve
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Guard = Callable[[Any], None]


def in_range(lo: float | None = None, hi: float | None = None) -> Guard:
    def in_range(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, got {type(value).__name__}")
        if value != value or (lo is not None and value < lo) or (hi is not None and value > hi):  # NaN fails too
            raise ValueError(f"must be between {lo} and {hi}, got {value}")

    return in_range


def one_of(values: Iterable[Any]) -> Guard:
    allowed = list(values)

    def one_of(value: Any) -> None:
        if value not in allowed:
            raise ValueError(f"must be one of {allowed}, got {value!r}")

    return one_of


def url_host_in(hosts: Iterable[str], *, schemes: Iterable[str] = ("https",), ports: Iterable[int] = ()) -> Guard:
    """Host allowlist for URLs. An entry "example.com" matches exactly; ".example.com" matches
    its subdomains. Credentials in the URL, control characters, backslashes and non-default
    ports (unless listed) are refused, since they are how allowlists get tricked."""
    exact = {h.lower().rstrip(".") for h in hosts if not h.startswith(".")}
    suffixes = tuple(h.lower().rstrip(".") for h in hosts if h.startswith("."))
    allowed_schemes, allowed_ports = set(schemes), set(ports)

    def url_host_in(value: Any) -> None:
        if not isinstance(value, str):
            raise ValueError("must be a URL string")
        if any(ord(c) < 0x21 or c == "\\" for c in value):
            raise ValueError("URL contains whitespace, control characters or backslashes")
        parts = urlsplit(value)
        if parts.scheme.lower() not in allowed_schemes:
            raise ValueError(f"URL scheme must be one of {sorted(allowed_schemes)}")
        if "@" in parts.netloc:
            raise ValueError("URL must not carry credentials (user@host)")
        host = (parts.hostname or "").rstrip(".")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("URL port is not a number") from None
        if port is not None and port not in allowed_ports:
            raise ValueError(f"URL port {port} is not allowed")
        if not host or not (host in exact or host.endswith(suffixes)):
            raise ValueError(f"host {host or '(none)'!r} is not in the allowlist")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return
        if host not in exact:
            raise ValueError("IP-address hosts must be listed exactly")

    return url_host_in


# Statement kinds and functions a read-only query must not contain (sqlglot expression names).
_WRITES = {
    "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "AlterColumn", "TruncateTable", "Command", "Into",
    "Grant", "Revoke", "Set", "Pragma", "LoadData", "Transaction", "Commit", "Rollback", "Copy", "Lock", "Use", "Cache",
    "Uncache", "Refresh", "Analyze", "Attach", "Detach", "Kill",
}  # fmt: skip
_FUNCTIONS = {
    "pg_sleep", "sleep", "benchmark", "load_extension", "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "lo_import",
    "lo_export", "dblink", "dblink_exec", "pg_terminate_backend", "pg_cancel_backend", "set_config", "nextval", "setval",
    "readfile", "writefile", "load_file", "xp_cmdshell", "openrowset", "query_to_xml",
}  # fmt: skip


def read_only_sql(dialect: str | None = None) -> Guard:
    """Exactly one query (SELECT / UNION / WITH ... SELECT) parsed with sqlglot; no statement,
    clause or function anywhere in it that writes, locks, sleeps or reads files. Defence in
    depth: still run the tool on a read-only database role."""

    def read_only_sql(value: Any) -> None:
        import sqlglot
        from sqlglot import exp

        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty SQL string")
        try:
            statements = [s for s in sqlglot.parse(value, read=dialect) if s is not None]
        except sqlglot.errors.SqlglotError as exc:
            raise ValueError(f"not parseable SQL: {str(exc).splitlines()[0]}") from None
        if len(statements) != 1:
            raise ValueError(f"exactly one statement allowed, got {len(statements)}")
        root = statements[0]
        if not isinstance(root, exp.Query):
            raise ValueError(f"only SELECT queries are allowed, got {root.key.upper()}")
        for node in root.walk():
            kind = type(node).__name__
            if kind in _WRITES:
                raise ValueError(f"{kind.upper()} is not allowed in a read-only query")
            if isinstance(node, exp.Func):
                fname = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
                if fname in _FUNCTIONS:
                    raise ValueError(f"function {fname}() is not allowed")

    return read_only_sql


def path_within(root: str | Path, *, must_exist: bool = False) -> Guard:
    """Relative or absolute paths that resolve (following `..` and symlinks) inside `root`."""
    base = Path(root).resolve()

    def path_within(value: Any) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError("must be a non-empty path string")
        if "\x00" in value:
            raise ValueError("path contains a NUL byte")
        target = (base / value).resolve()
        if target != base and base not in target.parents:
            raise ValueError(f"path {value!r} leaves the allowed directory")
        if must_exist and not target.exists():
            raise ValueError(f"path {value!r} does not exist")

    return path_within
