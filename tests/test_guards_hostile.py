"""Guards against hostile arguments, one table per guard: each refused case is an attack the
guard once let through (a function that locks, sleeps, reads files or talks to other servers; a
comment the database executes; a string the database reads as a file; a query without bound),
each allowed case is ordinary analytics a model writes and must keep working."""

from __future__ import annotations

from pathlib import Path

import pytest

from unyo.guards import path_within, read_only_sql, redirect_target, url_host_in

ALLOWED = [
    ("postgres", "SELECT date_trunc('day', created_at), count(*) FROM orders GROUP BY 1"),
    ("postgres", "SELECT COALESCE(name, 'n/a'), LOWER(email) FROM customers"),
    ("postgres", "SELECT id, SUM(amount) OVER (PARTITION BY customer_id ORDER BY created_at) FROM orders"),
    ("postgres", "SELECT CAST(amount AS numeric(10, 2)), amount::text, EXTRACT(year FROM created_at) FROM orders"),
    (
        "postgres",
        "SELECT now(), current_date, length(a), substring(a from 1 for 2), a || b, round(x, 2), abs(x) FROM t",
    ),
    ("postgres", "SELECT CASE WHEN a > 0 THEN 'pos' ELSE 'neg' END, nullif(a, 0), greatest(a, b), least(a, b) FROM t"),
    ("postgres", "SELECT string_agg(name, ', '), array_agg(id), count(DISTINCT id), avg(x), min(x), max(x) FROM t"),
    (
        "postgres",
        "SELECT row_number() OVER (), rank() OVER (ORDER BY x), lag(x) OVER (ORDER BY d), lead(x) OVER (ORDER BY d) "
        "FROM t",
    ),
    ("postgres", "SELECT to_char(d, 'YYYY-MM'), date_part('month', d), d + interval '1 day', age(d) FROM t"),
    ("postgres", "SELECT count(*) FILTER (WHERE a > 1), percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM t"),
    ("postgres", "SELECT data->>'k', data->'a', jsonb_array_length(data->'items') FROM events WHERE name ~ '\\d+'"),
    (
        "postgres",
        "SELECT a FROM t WHERE a IN (SELECT b FROM u) AND EXISTS (SELECT 1 FROM v WHERE v.id = t.id) AND c LIKE 'x%'",
    ),
    ("postgres", "WITH t AS (SELECT id FROM orders) SELECT count(*) FROM t UNION SELECT 1"),
    (
        "postgres",
        "SELECT initcap(name), split_part(email, '@', 2), regexp_replace(phone, '[^0-9]', '', 'g') FROM customers",
    ),
    ("mysql", "SELECT IFNULL(discount, 0), DATE_FORMAT(created_at, '%Y-%m') FROM orders"),
    (
        "mysql",
        "SELECT NOW(), CURDATE(), DATEDIFF(a, b), DATE_ADD(d, INTERVAL 1 DAY), YEAR(d), MONTH(d), UNIX_TIMESTAMP() "
        "FROM t",
    ),
    (
        "mysql",
        "SELECT GROUP_CONCAT(name), IF(a, 1, 2), CONCAT(a, b), STR_TO_DATE(s, '%Y-%m-%d'), FROM_UNIXTIME(1) FROM t",
    ),
    (
        "mysql",
        "SELECT TIMESTAMPDIFF(DAY, a, b), LEFT(a, 2), TRIM(a), REPLACE(a, 'x', 'y'), SUBSTRING_INDEX(a, ',', 1), "
        "LOCATE('a', b) FROM t",
    ),
    ("mysql", "SELECT a FROM t -- a comment\nWHERE b = 1 # another"),
    (
        "sqlite",
        "SELECT strftime('%Y', d), date('now'), julianday(d), ifnull(a, b), substr(a, 1, 2), instr(a, 'x'), "
        "iif(a, 1, 2) FROM t",
    ),
    ("sqlite", "SELECT total(x), group_concat(a), typeof(a), count(*) FROM t GROUP BY 1"),
    ("duckdb", "SELECT date_trunc('day', d), strftime(d, '%Y'), list(a), string_agg(a, ','), epoch(d) FROM t"),
    (
        "duckdb",
        "SELECT median(x), quantile_cont(x, 0.5), approx_count_distinct(a), arg_max(a, b), date_diff('day', a, b) "
        "FROM t",
    ),
    ("duckdb", 'SELECT * FROM "Order Items" JOIN customers USING (id)'),
    (None, "select a, b from t where c = 'DROP TABLE x'"),
]

REFUSED = [
    # PostgreSQL: locks, sleeps, large objects and files, other servers, notifications, server control
    ("postgres", "SELECT pg_advisory_lock(1)", "pg_advisory_lock()"),
    ("postgres", "SELECT pg_try_advisory_xact_lock(1)", "pg_try_advisory_xact_lock()"),
    ("postgres", "SELECT pg_sleep_for('5 minutes')", "pg_sleep_for()"),
    ("postgres", "SELECT pg_sleep_until('tomorrow')", "pg_sleep_until()"),
    ("postgres", "SELECT lo_import('/etc/passwd')", "lo_import()"),
    ("postgres", "SELECT lo_get(16384)", "lo_get()"),
    ("postgres", "SELECT pg_file_write('x', 'y', false)", "pg_file_write()"),
    ("postgres", "SELECT pg_stat_file('/etc/passwd')", "pg_stat_file()"),
    ("postgres", "SELECT dblink_connect('host=evil')", "dblink_connect()"),
    ("postgres", "SELECT * FROM dblink_send_query('c', 'DELETE FROM t')", "dblink_send_query()"),
    ("postgres", "SELECT pg_notify('channel', 'payload')", "pg_notify()"),
    ("postgres", "SELECT pg_reload_conf()", "pg_reload_conf()"),
    ("postgres", "SELECT current_setting('data_directory')", "current_setting()"),
    ("postgres", "SELECT pg_catalog.pg_sleep(10)", "pg_catalog.pg_sleep()"),
    ("postgres", "SELECT myschema.lower(name) FROM t", "schema-qualified"),
    ("postgres", "SELECT * FROM generate_series(1, 1000000000000)", "generate_series()"),
    ("postgres", "SELECT repeat('x', 1000000000)", "repeat()"),
    ("postgres", "SELECT * FROM t WHERE id = (SELECT pg_sleep(10))", "pg_sleep()"),
    ("postgres", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n", "recursive"),
    # MySQL: locks, sleeps, comments the server executes, escaping that depends on sql_mode
    ("mysql", "SELECT GET_LOCK('a', 10)", "get_lock()"),
    ("mysql", "SELECT BENCHMARK(100000000, MD5('x'))", "benchmark()"),
    ("mysql", "SELECT 1 /*! , SLEEP(10) */", "executable comments"),
    ("mysql", "SELECT 1 /*!50000 , SLEEP(10) */", "executable comments"),
    ("mysql", "SELECT /*+ SET_VAR(sort_buffer_size = 1) */ 1", "optimizer hints"),
    ("mysql", "SELECT 1 --SLEEP(10)", "sleep()"),  # no space after --: MySQL reads 1 - -SLEEP(10), not a comment
    ("mysql", "SELECT 'a\\' , SLEEP(5) -- '", "backslash"),  # NO_BACKSLASH_ESCAPES ends the string at \'
    ("mysql", "SELECT LOAD_FILE('/etc/passwd')", "load_file()"),
    # DuckDB: files as tables, file-reading functions, environment
    ("duckdb", "SELECT * FROM read_csv('/etc/passwd')", "read_csv()"),
    ("duckdb", "SELECT * FROM read_text('/etc/passwd')", "read_text()"),
    ("duckdb", "SELECT * FROM '/etc/passwd'", "string used as a table"),
    ("duckdb", "FROM 'orders'", "string used as a table"),
    ("duckdb", "SELECT * FROM t, 'https://evil.example/x.csv'", "string used as a table"),
    ("duckdb", 'SELECT * FROM "data.parquet"', "file"),
    ("duckdb", "SELECT * FROM data.csv", "file name"),
    ("duckdb", "SELECT getenv('HOME')", "getenv()"),
    # SQLite: unbounded work
    ("sqlite", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c", "recursive"),
    (
        "sqlite",
        "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
        "reads itself",
    ),  # RECURSIVE is optional in SQLite
    ("sqlite", "SELECT randomblob(1e9)", "randomblob()"),
    ("sqlite", "SELECT zeroblob(1000000000)", "zeroblob()"),
    ("sqlite", "SELECT load_extension('x')", "load_extension()"),
    # any dialect
    (None, "SELECT 1 /* /* */ , pg_sleep(10) /* */", "not parseable"),
    (None, "SELECT 1\x00; DROP TABLE t", "NUL"),
    (None, "SELECT unknown_function(a) FROM t", "unknown_function()"),
]


@pytest.mark.parametrize(("dialect", "sql"), ALLOWED)
def test_ordinary_queries_pass(dialect: str | None, sql: str) -> None:
    read_only_sql(dialect)(sql)


@pytest.mark.parametrize(("dialect", "sql", "expect"), REFUSED)
def test_hostile_queries_are_refused(dialect: str | None, sql: str, expect: str) -> None:
    with pytest.raises(ValueError) as caught:
        read_only_sql(dialect)(sql)
    assert expect.lower() in str(caught.value).lower()


def test_a_refusal_names_the_function_and_how_to_allow_it() -> None:
    with pytest.raises(ValueError, match=r"pg_advisory_lock\(\).*allow_functions=\['pg_advisory_lock'\]"):
        read_only_sql("postgres")("SELECT pg_advisory_lock(1)")


@pytest.mark.parametrize(
    ("dialect", "sql", "allow"),
    [
        ("postgres", "SELECT similarity(a, b) FROM t", ["similarity"]),
        ("postgres", "SELECT * FROM generate_series(1, 10)", ["GENERATE_SERIES"]),  # a function sqlglot knows
        ("postgres", "SELECT lpad(code, 5, '0') FROM t", ["lpad"]),
        ("postgres", "SELECT ext.similarity(a, b) FROM t", ["ext.similarity"]),
        ("sqlite", "SELECT printf('%05d', id) FROM t", ["printf"]),
    ],
)
def test_allow_functions_extends_the_allowlist(dialect: str, sql: str, allow: list[str]) -> None:
    with pytest.raises(ValueError, match="allowlist|schema-qualified"):
        read_only_sql(dialect)(sql)
    read_only_sql(dialect, allow_functions=allow)(sql)


def test_allow_functions_does_not_reopen_other_holes() -> None:
    guard = read_only_sql("postgres", allow_functions=["similarity"])
    for sql in [
        "SELECT pg_sleep(1)",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT 1",
        "DELETE FROM t",
    ]:
        with pytest.raises(ValueError):
            guard(sql)


# --- paths ----------------------------------------------------------------------------------------


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("a")
    (tmp_path / "secret.txt").write_text("x")
    (root / "link").symlink_to(tmp_path / "secret.txt")
    (root / "inner").symlink_to(root / "sub")
    return root


@pytest.mark.parametrize(
    ("value", "expect"),
    [
        ("sub/a.txt", "sub/a.txt"),
        ("./sub/../sub/a.txt", "sub/a.txt"),
        ("inner/a.txt", "sub/a.txt"),  # a symlink that stays inside: the tool gets the real path
        ("sub/~", "sub/~"),  # only a leading ~ means "home"
    ],
)
def test_path_within_returns_the_resolved_path(docs: Path, value: str, expect: str) -> None:
    assert path_within(docs)(value) == str((docs / expect).resolve())


@pytest.mark.parametrize(
    ("value", "expect"),
    [
        ("~/.ssh/id_rsa", "~"),
        ("~root/.bashrc", "~"),
        ("~", "~"),
        ("../secret.txt", "leaves"),
        ("link", "leaves"),
        ("/etc/passwd", "leaves"),
        ("a\x00b", "NUL"),
        ("", "non-empty"),
    ],
)
def test_path_within_refuses(docs: Path, value: str, expect: str) -> None:
    with pytest.raises(ValueError, match=expect):
        path_within(docs)(value)


# --- redirects ------------------------------------------------------------------------------------

GUARD = url_host_in(["status.example.com"])


@pytest.mark.parametrize(
    ("location", "expect"),
    [
        ("/v2/status", "https://status.example.com/v2/status"),
        ("https://status.example.com/other", "https://status.example.com/other"),
        ("?page=2", "https://status.example.com/api?page=2"),
    ],
)
def test_redirect_target_follows_allowed_hops(location: str, expect: str) -> None:
    assert redirect_target(GUARD, "https://status.example.com/api", location) == expect


@pytest.mark.parametrize(
    "location",
    [
        "https://169.254.169.254/latest/meta-data/",
        "//evil.example.net/x",
        "http://status.example.com/",
        "https://status.example.com@evil.net/",
        "",
    ],
)
def test_redirect_target_refuses_hops_off_the_allowlist(location: str) -> None:
    with pytest.raises(ValueError):
        redirect_target(GUARD, "https://status.example.com/api", location)


def test_url_guard_documents_that_redirects_are_outside_it() -> None:
    assert "redirect" in (url_host_in.__doc__ or "").lower()
