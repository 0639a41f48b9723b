"""Argument guards for `@unyo.tool(guards={...})`; see `unyo._quality._guards` for what each refuses."""

from unyo._quality._guards import in_range, one_of, path_within, read_only_sql, redirect_target, url_host_in

__all__ = ["in_range", "one_of", "path_within", "read_only_sql", "redirect_target", "url_host_in"]
