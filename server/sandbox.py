"""Untrusted SQL: the one gateway for POST /sql.

A user's query runs only when it is exactly one SELECT (or EXPLAIN of one), in a READ ONLY
transaction (DuckDB 2 has data-modifying CTEs: ``WITH d AS (DELETE ...) SELECT`` is a SELECT),
on a database whose file access, extension loading and settings are locked (``lock_down``). It
is stopped by ``interrupt()`` after the time limit and capped at max_rows, and its error
messages never show where the lake lives.

``run_user_sql`` runs it on the server's materialised copy (schema.materialized) when it asks
for the version held, and on a locked-down reader of the Lance tables (schema.query.connect)
when it asks for another version or a tag (slower, same rules).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Callable

import duckdb
import pyarrow as pa

from songlake.schema.errors import LakeError
from songlake.schema.materialized import Materialized
from songlake.schema.query import connect
from songlake.schema.reader import first_rows
from songlake.server import errors

_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(K|M|G|T)i?B$", re.IGNORECASE)
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(ANALY[SZ]E\s+)?", re.IGNORECASE)
_QUOTED_PATH = re.compile(r'\s*"+(?:[A-Za-z]:\\|/|~|\w+://)[^"]*"+')


@dataclass(frozen=True)
class UserResult:
    """What a user query returned: at most max_rows rows, whether more were cut, at which lake version."""

    table: pa.Table
    truncated: bool
    seconds: float
    version: int


def lock_down(con: duckdb.DuckDBPyConnection, memory_limit: str = "4GB", threads: int | None = None) -> None:
    """No files, no network, no extensions, fixed memory and threads; then freeze the settings so
    no statement can undo it. Python-registered Arrow data and native tables still work."""
    if not _MEMORY.match(memory_limit):
        raise ValueError(f"memory_limit is a size like '4GB' or '512MiB', not {memory_limit!r}")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET enable_progress_bar = false")  # a server's stderr is a log, not a terminal
    con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET lock_configuration = true")


def check_user_sql(sql: str) -> tuple[str, bool]:
    """The query to run and whether a row cap applies, or Forbidden/BadRequest saying why not."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise errors.BadRequest(str(exc).strip()) from None
    if not statements:
        raise errors.BadRequest("the query is empty: send one SELECT statement")
    if len(statements) > 1:
        raise errors.Forbidden(f"only one read-only SELECT statement is allowed, not {len(statements)} statements")
    kind = statements[0].type.name
    if kind == "SELECT":
        return sql, True
    if kind == "EXPLAIN":
        inner = _EXPLAIN.sub("", statements[0].query, count=1)
        try:
            ok = [s.type.name for s in duckdb.extract_statements(inner)] == ["SELECT"]
        except duckdb.Error:
            ok = False
        if ok:
            return sql, False
        raise errors.Forbidden("only one read-only SELECT statement is allowed (EXPLAIN explains a SELECT only)")
    hint = " (read settings with SELECT * FROM duckdb_settings(), table columns with DESCRIBE)" \
        if kind in ("PRAGMA", "SET", "CALL") else ""
    raise errors.Forbidden(f"only one read-only SELECT statement is allowed, not {kind}{hint}")


def run_user_sql(copy: Materialized, sql: str, *, max_rows: int, timeout: float, version: int | str | None,
                 lock: Callable[[duckdb.DuckDBPyConnection], None]) -> UserResult:
    """One read-only SELECT from a user. Forbidden for anything else, QueryTimeout past `timeout`
    s, BadRequest for SQL errors, NotFound for an unknown version. A `version` (number or tag)
    other than the one `copy` holds runs on the Lance tables at that version, on a connection
    that ``lock`` locks down first (as it locked the copy)."""
    query, limited = check_user_sql(sql)
    hide = str(copy.lake.root)
    number = None
    if version is not None:
        try:
            number = copy.lake.resolve(version)
        except LakeError as exc:
            raise errors.NotFound(str(exc)) from None
    if number is None or number == copy.version:
        cur = copy.cursor()
        try:
            result = _execute(cur, query, limited, max_rows, timeout, None, hide)
        finally:
            cur.close()
        if number is None or result.version == number:  # else a refresh came in between
            return result
    try:
        con = connect(copy.lake, number)
    except LakeError as exc:
        raise errors.NotFound(str(exc)) from None
    try:
        lock(con)
        return _execute(con, query, limited, max_rows, timeout, number, hide)
    finally:
        con.close()


def _execute(con: duckdb.DuckDBPyConnection, query: str, limited: bool, max_rows: int, timeout: float,
             version: int | None, hide: str) -> UserResult:
    """Run a checked query on a locked-down connection in a READ ONLY transaction, interrupted
    after `timeout` s. ``version`` is the lake version con holds; None: a materialised copy's,
    read inside the transaction (a refresh cannot come between). ``hide`` is kept out of messages."""
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(timeout, stop)
    timer.daemon = True
    started = time.perf_counter()
    try:
        con.execute("BEGIN TRANSACTION READ ONLY")
        timer.start()
        if version is None:
            version = con.sql("SELECT version FROM snapshot_version").fetchall()[0][0]
        table = first_rows(con.sql(query), max_rows + 1 if limited else None)
    except duckdb.InterruptException:
        if not fired.is_set():
            raise errors.BadRequest("the query was interrupted") from None
        raise errors.QueryTimeout(f"the query ran longer than {timeout:g} s and was stopped "
                                  f"(add filters or a LIMIT, or aggregate)") from None
    except duckdb.PermissionException as exc:
        raise errors.Forbidden(f"{scrub(exc, hide)} (SQL here reads the lake's tables and views only)") from None
    except duckdb.TransactionException as exc:
        raise errors.Forbidden(f"only read-only SELECT statements are allowed; this one tries to write "
                               f"({scrub(exc, hide)})") from None
    except duckdb.Error as exc:
        raise errors.BadRequest(scrub(exc, hide)) from None
    finally:
        timer.cancel()
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
    seconds = time.perf_counter() - started
    truncated = table.num_rows > max_rows
    return UserResult(table.slice(0, max_rows) if truncated else table, truncated, seconds, int(version))


def scrub(exc: Exception, hide: str) -> str:
    """DuckDB's message without the folder `hide` or any quoted file path."""
    message = str(exc).strip().replace(hide, "<lake>")
    return _QUOTED_PATH.sub("", message)
