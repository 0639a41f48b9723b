"""Argument guards for tools: checks a model's arguments must pass before a tool runs.

Each factory returns `guard(value)`, which raises ValueError saying what is wrong (the message
goes back to the model as the tool's error). Use them as `@unyo.tool(guards={"arg": guard})`.
A guard that returns a value of the argument's type replaces the argument with it, so the tool
receives what was checked (path_within returns the resolved path).

    in_range(lo, hi)                numbers within [lo, hi]
    one_of(values)                  a value from a fixed set
    url_host_in(hosts)              http(s) URLs whose host is allowlisted (".example.com" = subdomains)
    redirect_target(guard, ...)     the next hop of a redirect, checked by the same URL guard
    read_only_sql(dialect)          exactly one SELECT calling only allowlisted functions
    path_within(root)               a path inside `root` after `..` and symlinks resolve → the resolved path
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Guard = Callable[[Any], Any]


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
    ports (unless listed) are refused, since they are how allowlists get tricked.

    Redirects are outside the guard: it checks the URL the model gave, not where the server
    sends the tool next. The tool must not follow redirects (`httpx` does not by default;
    `requests` needs `allow_redirects=False`), or must check every hop with
    `redirect_target(guard, url, response.headers["location"])` before following it. The guard
    does not resolve DNS either: a listed name that resolves to an internal address is the
    deployment's to block (egress rules)."""
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


def redirect_target(guard: Guard, current_url: str, location: str) -> str:
    """The absolute URL a redirect's `Location` header points to (relative locations resolve
    against `current_url`), after `guard` accepted it; raises ValueError like the guard."""
    from urllib.parse import urljoin

    if not isinstance(location, str) or not location:
        raise ValueError("redirect without a Location")
    target = urljoin(current_url, location)
    guard(target)
    return target


# Statement kinds and clauses a read-only query must not contain (sqlglot expression names).
_WRITES = {
    "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "AlterColumn", "TruncateTable", "Command", "Into",
    "Grant", "Revoke", "Set", "Pragma", "LoadData", "Transaction", "Commit", "Rollback", "Copy", "Lock", "Use", "Cache",
    "Uncache", "Refresh", "Analyze", "Attach", "Detach", "Kill",
}  # fmt: skip

# Functions sqlglot knows (its typed expression classes, the same in every dialect because sqlglot
# maps each dialect's spelling onto them): ordinary scalar, aggregate and window functions only.
# Left out on purpose: anything that reads files or tables by name (READ_CSV, READ_PARQUET),
# generates rows or bytes in amounts set by an argument (GENERATE_SERIES, REPEAT, SPACE, LPAD/RPAD),
# sequences, encryption, AI/ML calls, session and server information.
_SAFE_CLASSES = {
    # logic, conditionals, casts
    "And", "Or", "Xor", "Case", "If", "Coalesce", "Nullif", "Nvl2", "Greatest", "Least", "Cast", "TryCast", "Collate",
    "Exists", "Decode", "DecodeCase", "EqualNull", "IsNan", "IsInf", "Typeof",
    # strings
    "Lower", "Upper", "Length", "ByteLength", "BitLength", "Concat", "ConcatWs", "Substring", "SubstringIndex", "Left",
    "Right", "Trim", "Replace", "Reverse", "StrPosition", "Initcap", "SplitPart", "Split", "Translate", "Ascii", "Chr",
    "Unicode", "StartsWith", "EndsWith", "Contains", "Hex", "Unhex", "LowerHex", "MD5", "MD5Digest", "SHA", "SHA2",
    "ToBase64", "FromBase64", "Base64Encode", "Levenshtein", "Soundex", "Overlay", "Stuff", "RegexpLike", "RegexpILike",
    "RegexpReplace", "RegexpExtract", "RegexpExtractAll", "RegexpCount", "RegexpSplit", "RegexpSubstr", "RegexpInstr",
    "ToChar", "NumberToStr", "StringToArray",
    # numbers
    "Abs", "Ceil", "Floor", "Round", "Trunc", "Sign", "Sqrt", "Cbrt", "Pow", "Exp", "Ln", "Log", "Pi", "Degrees",
    "Radians", "Sin", "Cos", "Tan", "Cot", "Asin", "Acos", "Atan", "Atan2", "Sinh", "Cosh", "Tanh", "Rand",
    "SafeDivide", "ToNumber", "WidthBucket",
    # dates and times
    "CurrentDate", "CurrentTime", "CurrentTimestamp", "CurrentDatetime", "Localtime", "Localtimestamp", "Date",
    "Datetime", "Time", "Timestamp", "DateAdd", "DateSub", "DateDiff", "DateTrunc", "DatetimeAdd", "DatetimeSub",
    "DatetimeDiff", "DatetimeTrunc", "TimestampAdd", "TimestampSub", "TimestampDiff", "TimestampTrunc", "TimeAdd",
    "TimeSub", "TimeDiff", "TimeTrunc", "Extract", "Year", "Quarter", "Month", "Week", "WeekOfYear", "Day",
    "DayOfMonth", "DayOfWeek", "DayOfWeekIso", "DayOfYear", "Hour", "Minute", "Second", "Dayname", "Monthname",
    "LastDay", "AddMonths", "MonthsBetween", "DateBin", "DateFromParts", "TimestampFromParts", "MakeInterval",
    "JustifyDays", "JustifyHours", "JustifyInterval", "StrToDate", "StrToTime", "StrToUnix", "TimeToStr", "TimeToUnix",
    "TimeToTimeStr", "TimeStrToDate", "TimeStrToTime", "TimeStrToUnix", "UnixToTime", "UnixToStr", "UnixToTimeStr",
    "UnixSeconds", "UnixMillis", "UnixMicros", "DateStrToDate", "DateToDateStr", "TsOrDsAdd", "TsOrDsDiff",
    "TsOrDsToDate", "TsOrDsToDateStr", "TsOrDsToDatetime", "TsOrDsToTime", "TsOrDsToTimestamp", "ConvertTimezone",
    # aggregates
    "Count", "CountIf", "Sum", "Avg", "Min", "Max", "Median", "Mode", "Stddev", "StddevPop", "StddevSamp", "Variance",
    "VariancePop", "Corr", "CovarPop", "CovarSamp", "PercentileCont", "PercentileDisc", "Quantile", "ApproxDistinct",
    "ApproxQuantile", "AnyValue", "ArgMax", "ArgMin", "ArrayAgg", "GroupConcat", "LogicalAnd", "LogicalOr",
    "BitwiseAndAgg", "BitwiseOrAgg", "BitwiseXorAgg", "First", "Last", "Grouping", "Skewness", "Kurtosis",
    "RegrSlope", "RegrIntercept", "RegrR2", "RegrCount", "RegrAvgx", "RegrAvgy", "RegrSxx", "RegrSyy", "RegrSxy",
    "JSONArrayAgg", "JSONObjectAgg", "JSONBObjectAgg", "ObjectAgg", "List",
    # window functions
    "RowNumber", "Rank", "DenseRank", "PercentRank", "CumeDist", "Ntile", "Lag", "Lead", "FirstValue", "LastValue",
    "NthValue",
    # arrays, JSON, structs (reading values, not building unbounded ones)
    "Array", "ArraySize", "ArrayContains", "ArrayContainsAll", "ArrayOverlaps", "ArrayPosition", "ArrayToString",
    "ArrayConcat", "ArraySlice", "ArrayDistinct", "ArraySort", "Unnest", "Struct", "StructExtract", "JSONExtract",
    "JSONExtractScalar", "JSONBExtract", "JSONBExtractScalar", "JSONBContains", "JSONBExists", "JSONArray",
    "JSONObject", "JSONFormat", "JSONType", "JSONKeys", "JSONArrayContains", "ParseJSON", "JSONCast", "JSONExists",
    "JSONBContainsAnyTopKeys", "JSONBContainsAllTopKeys", "JSONBContainsTopKey", "GetExtract", "Map", "VarMap",
}  # fmt: skip

# Functions sqlglot does not know for the dialect (exp.Anonymous), by the name written in the query.
_ANON_COMMON = {
    "abs", "ceil", "ceiling", "floor", "round", "trunc", "truncate", "mod", "power", "sqrt", "exp", "ln", "log",
    "log10", "log2", "sign", "pi", "degrees", "radians", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "cot",
    "lower", "upper", "length", "char_length", "character_length", "octet_length", "ltrim", "rtrim", "btrim", "trim",
    "concat", "concat_ws", "replace", "substr", "substring", "left", "right", "reverse", "position", "strpos", "instr",
    "nullif", "coalesce", "greatest", "least", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp",
    "bit_and", "bit_or", "bit_xor", "bool_and", "bool_or", "every", "random", "uuid",
}  # fmt: skip
_ANON_BY_DIALECT = {
    "postgres": {
        "now", "age", "date_part", "to_char", "to_date", "to_timestamp", "to_number", "make_date", "make_time",
        "make_timestamp", "make_timestamptz", "make_interval", "date_bin", "isfinite", "clock_timestamp",
        "statement_timestamp", "transaction_timestamp", "timeofday", "justify_days", "justify_hours",
        "justify_interval", "initcap", "split_part", "translate", "regexp_match", "regexp_matches", "regexp_replace",
        "regexp_split_to_array", "regexp_count", "regexp_substr", "regexp_like", "starts_with", "chr", "ascii", "md5",
        "to_hex", "encode", "decode", "quote_ident", "quote_literal", "quote_nullable", "div", "cbrt", "width_bucket",
        "scale", "gcd", "lcm", "factorial", "string_agg", "array_agg", "array_length", "array_lower", "array_upper",
        "array_position", "array_positions", "array_to_string", "string_to_array", "array_remove", "array_cat",
        "array_append", "array_prepend", "cardinality", "unnest", "json_agg", "jsonb_agg", "json_object_agg",
        "jsonb_object_agg", "json_build_object", "jsonb_build_object", "json_build_array", "jsonb_build_array",
        "to_json", "to_jsonb", "json_typeof", "jsonb_typeof", "json_array_length", "jsonb_array_length",
        "json_extract_path", "jsonb_extract_path", "json_extract_path_text", "jsonb_extract_path_text", "json_each",
        "jsonb_each", "json_each_text", "jsonb_each_text", "json_array_elements", "jsonb_array_elements",
        "json_array_elements_text", "jsonb_array_elements_text", "json_object_keys", "jsonb_object_keys",
        "jsonb_strip_nulls", "jsonb_pretty", "jsonb_path_exists", "jsonb_path_query_first", "row_to_json",
        "percentile_cont", "percentile_disc", "mode", "corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept",
        "regr_r2", "regr_count", "num_nulls", "num_nonnulls", "date_trunc",
    },
    "mysql": {
        "now", "sysdate", "curdate", "curtime", "current_date", "current_time", "current_timestamp", "utc_date",
        "utc_time", "utc_timestamp", "unix_timestamp", "from_unixtime", "date_format", "time_format", "str_to_date",
        "date_add", "date_sub", "adddate", "subdate", "addtime", "subtime", "datediff", "timediff", "timestampdiff",
        "timestampadd", "date", "time", "year", "month", "day", "dayofmonth", "dayofweek", "dayofyear", "week",
        "weekday", "weekofyear", "yearweek", "quarter", "hour", "minute", "second", "microsecond", "monthname",
        "dayname", "last_day", "makedate", "maketime", "period_add", "period_diff", "to_days", "from_days",
        "ifnull", "if", "isnull", "lcase", "ucase", "mid", "locate", "field", "elt", "find_in_set", "format", "strcmp",
        "substring_index", "soundex", "bin", "hex", "unhex", "oct", "conv", "crc32", "md5", "sha1", "sha2", "rand",
        "inet_aton", "inet_ntoa", "group_concat", "std", "json_extract", "json_unquote", "json_object", "json_array",
        "json_length", "json_contains", "json_contains_path", "json_keys", "json_type", "json_valid", "json_search",
        "json_arrayagg", "json_objectagg", "regexp_like", "regexp_replace", "regexp_substr", "regexp_instr", "char",
        "any_value", "convert_tz",
    },
    "sqlite": {
        "date", "time", "datetime", "julianday", "unixepoch", "strftime", "timediff", "ifnull", "iif", "typeof",
        "unicode", "char", "hex", "quote", "total", "group_concat", "string_agg", "likely", "unlikely", "likelihood",
        "glob", "like", "soundex", "json", "json_extract", "json_array", "json_object", "json_array_length",
        "json_type", "json_valid", "json_quote", "json_group_array", "json_group_object", "json_each", "json_tree",
        "max", "min", "median",
    },
    "duckdb": {
        "now", "today", "strftime", "strptime", "date_part", "datepart", "date_diff", "datediff", "date_sub",
        "date_add", "date_trunc", "datetrunc", "epoch", "epoch_ms", "epoch_us", "make_date", "make_time",
        "make_timestamp", "dayname", "monthname", "last_day", "yearweek", "isodow", "isoyear", "to_timestamp",
        "list", "list_value", "list_contains", "list_has", "list_position", "list_distinct", "list_sort", "list_slice",
        "len", "array_length", "string_agg", "listagg", "string_split", "str_split", "split_part", "contains",
        "starts_with", "ends_with", "prefix", "suffix", "regexp_matches", "regexp_replace", "regexp_extract",
        "regexp_full_match", "median", "mode", "quantile", "quantile_cont", "quantile_disc", "approx_count_distinct",
        "approx_quantile", "arg_max", "arg_min", "max_by", "min_by", "any_value", "first", "last", "count_if",
        "histogram", "entropy", "kurtosis", "skewness", "fsum", "favg", "product", "ifnull", "if", "nullif",
        "json_extract", "json_extract_string", "json_array_length", "json_keys", "json_type", "json_valid", "json",
        "unnest", "struct_extract", "struct_pack", "md5", "sha256", "hash", "levenshtein", "jaro_winkler_similarity",
        "damerau_levenshtein", "jaccard", "hamming", "lcase", "ucase", "strip_accents", "nfc_normalize",
        "array_to_string", "to_json",
    },
}  # fmt: skip
_FILE_EXTENSIONS = {
    "csv",
    "tsv",
    "txt",
    "parquet",
    "json",
    "jsonl",
    "ndjson",
    "gz",
    "zst",
    "xlsx",
    "arrow",
    "db",
    "duckdb",
    "sqlite",
}
_DIALECT_FAMILY = {
    "postgresql": "postgres",
    "mariadb": "mysql",
    "doris": "mysql",
    "starrocks": "mysql",
    "singlestore": "mysql",
}
_TABLE_PATHLIKE = re.compile(r"[/\\:*?\[\]{}~]|\.[A-Za-z0-9]{1,8}$")  # a file path, URL, glob or file name as a table


def _anonymous_names(dialect: str | None) -> set[str]:
    if dialect is None:
        return set(_ANON_COMMON).union(*_ANON_BY_DIALECT.values())
    family = _DIALECT_FAMILY.get(dialect.lower(), dialect.lower())
    return _ANON_COMMON | _ANON_BY_DIALECT.get(family, set())


def _function_names(node: Any, dialect: str | None) -> tuple[str, set[str]]:
    """How to name a function node in a message, and every name `allow_functions=` may use for it."""
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        name = str(node.name)
        return name, {name.lower()}
    cls = type(node)
    names = {cls.__name__.lower(), cls.key.lower(), *(n.lower() for n in cls.sql_names())}
    try:
        rendered = re.match(r"[A-Za-z_][A-Za-z0-9_]*", node.sql(dialect=dialect))
    except Exception:  # noqa: BLE001 - a node sqlglot cannot render keeps its class names
        rendered = None
    shown = rendered.group() if rendered else cls.sql_names()[0]
    names.add(shown.lower())
    return shown, names


def read_only_sql(dialect: str | None = None, *, allow_functions: Iterable[str] = ()) -> Guard:
    """Exactly one query (SELECT / UNION / WITH ... SELECT) parsed with sqlglot, calling only
    allowlisted functions: ordinary string, math, date/time, conditional, cast, aggregate and
    window functions for `dialect` ("postgres", "mysql", "sqlite", "duckdb"; other dialects get
    the common set). Anything else is refused, naming the function — add your own read-only
    functions with `allow_functions=["similarity", "myschema.f", ...]` (case-insensitive).

    Also refused, because a database would run what the parser cannot see or because there is
    no bound on the work: MySQL executable comments `/*! ... */` and optimizer hints `/*+ ... */`,
    a backslash before a quote (read differently depending on server escaping settings), NUL
    bytes, nested comments, recursive CTEs (`WITH RECURSIVE`, or a CTE that reads itself — no
    bound is enforced, so they are refused), string literals or file-like names used as tables
    (DuckDB's `FROM 'file.csv'`), schema-qualified calls to unlisted functions, and every
    statement or clause that writes or locks (INSERT ... INTO, FOR UPDATE, SET, PRAGMA, COPY, ...).

    This is defence in depth, not a sandbox: run the tool on a read-only database role with a
    statement timeout, without file or network access (see the README's Security section)."""
    extra = {f.lower() for f in allow_functions}
    anonymous = _anonymous_names(dialect)
    family = _DIALECT_FAMILY.get((dialect or "").lower(), (dialect or "").lower())

    def read_only_sql(value: Any) -> None:
        import sqlglot
        from sqlglot import exp

        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty SQL string")
        if "\x00" in value:
            raise ValueError("SQL contains a NUL byte")
        if "/*!" in value or "/*+" in value:
            raise ValueError(
                "executable comments (/*! ... */) and optimizer hints (/*+ ... */) are not allowed: "
                "MySQL runs what a parser reads as a comment"
            )
        if "\\'" in value or '\\"' in value:
            raise ValueError(
                "a backslash before a quote is not allowed (servers read it differently depending on their escaping "
                "settings); double the quote instead ('')"
            )
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
            for comment in node.comments or ():
                if "/*" in comment or comment.lstrip().startswith(("!", "+")):
                    raise ValueError("nested comments, executable comments and optimizer hints are not allowed")
            if isinstance(node, exp.With) and node.args.get("recursive"):
                raise ValueError("recursive CTEs (WITH RECURSIVE) are not allowed: nothing bounds how long they run")
            if isinstance(node, exp.CTE):
                alias = node.alias_or_name.lower()
                if any(not t.db and t.name.lower() == alias for t in node.this.find_all(exp.Table)):
                    raise ValueError(
                        f"CTE {node.alias_or_name!r} reads itself (a recursive CTE), which is not allowed: "
                        "nothing bounds how long it runs; rename it if it means the table"
                    )
            if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
                _check_table(node, value, family)
            if isinstance(node, exp.Func):
                shown, names = _function_names(node, dialect)
                qualified = isinstance(node.parent, exp.Dot) and node.parent.expression is node
                if qualified:
                    full = f"{node.parent.this.sql(dialect=dialect)}.{shown}"
                    if full.lower() not in extra:
                        raise ValueError(
                            f"schema-qualified function {full}() is not allowed; "
                            "list it in allow_functions= if it is read-only"
                        )
                    continue
                allowed = (isinstance(node, exp.Anonymous) and shown.lower() in anonymous) or (
                    not isinstance(node, exp.Anonymous) and kind in _SAFE_CLASSES
                )
                if not allowed and not names & extra:
                    raise ValueError(
                        f"function {shown}() is not in the read-only allowlist for {dialect or 'generic SQL'}; "
                        f"if it is safe, add it with read_only_sql(..., allow_functions=[{shown.lower()!r}])"
                    )

    return read_only_sql


def _check_table(table: Any, source: str, family: str) -> None:
    """A table name that is a string literal (DuckDB reads `FROM 'x'` as a file) or looks like a
    path, URL, glob or file name is refused."""
    from sqlglot import exp

    ident = table.this
    start = ident.meta.get("start") if ident.meta else None
    literal = ident.quoted and isinstance(start, int) and 0 <= start < len(source) and source[start] == "'"
    if literal or (family == "duckdb" and ident.quoted and start is None):
        raise ValueError(f"a string used as a table ({ident.name!r}) is not allowed: DuckDB reads it as a file")
    for part in (table.args.get("catalog"), table.args.get("db"), ident):
        if isinstance(part, exp.Identifier) and part.quoted and _TABLE_PATHLIKE.search(part.name):
            raise ValueError(f"table name {part.name!r} looks like a file path, URL or file name, which is not allowed")
    if family == "duckdb" and table.args.get("db") is not None and ident.name.lower() in _FILE_EXTENSIONS:
        raise ValueError(f"table name {table.sql(dialect='duckdb')!r} looks like a file name, which is not allowed")


def path_within(root: str | Path, *, must_exist: bool = False) -> Guard:
    """Relative or absolute paths that resolve (following `..` and symlinks) inside `root`.
    Returns the resolved absolute path as a string, and the tool receives that instead of the
    model's text, so it opens exactly what was checked. `~` is refused (no home expansion).
    A symlink created inside `root` after the check can still redirect the open: keep `root`
    out of reach of untrusted writers."""
    base = Path(root).resolve()

    def path_within(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ValueError("must be a non-empty path string")
        if "\x00" in value:
            raise ValueError("path contains a NUL byte")
        if value.startswith("~"):
            raise ValueError(
                f"path {value!r} starts with '~': home-directory paths are not expanded; "
                "give a path relative to the allowed directory"
            )
        target = (base / value).resolve()
        if target != base and base not in target.parents:
            raise ValueError(f"path {value!r} leaves the allowed directory")
        if must_exist and not target.exists():
            raise ValueError(f"path {value!r} does not exist")
        return str(target)

    return path_within
