"""Untrusted SQL: the one gateway for POST /sql.

A user's query runs only when it is exactly one SELECT (or EXPLAIN of one), in a READ ONLY
transaction (DuckDB 2 has data-modifying CTEs: ``WITH d AS (DELETE ...) SELECT`` is a SELECT),
on a database whose file access, extension loading and settings are locked (``lock_down``):
no temporary folder either (a query over the memory limit fails instead of spilling, and
``read_text('.tmp/x')`` has nothing it may read), and no setting that names a folder. It is
stopped by ``interrupt()`` after the time limit, whether DuckDB is still planning or already
streaming rows, and its answer is cut at max_rows rows or max_bytes bytes of Arrow data,
whichever comes first (``truncated``); its error messages never show a path.

``run_user_sql`` runs it on the server's materialised copy (schema.materialized) when it asks
for the version held, and on a locked-down reader of the Lance tables (schema.query.connect)
when it asks for another version or a tag (slower, same rules; the tables that hold paths are
read redacted, server.redact, as the copy holds them).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Callable

import duckdb
import pyarrow as pa

from songlake.schema import tables
from songlake.schema.errors import LakeError
from songlake.schema.materialized import Materialized
from songlake.schema.query import connect
from songlake.schema.reader import table_rows
from songlake.server import errors, redact

_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(K|M|G|T)i?B$", re.IGNORECASE)
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(ANALY[SZ]E\s+)?", re.IGNORECASE)
_QUOTED_PATH = re.compile(r'\s*"+(?:[A-Za-z]:\\|/|~|\w+://)[^"]*"+')
_BATCH_ROWS = 1024  # rows per Arrow batch read from DuckDB: the byte cap is checked this often


class Overtime(Exception):
    """A query ran past the quick budget it was given (not past its time limit): run it again
    where slow queries run (server.limits.SqlLanes)."""


@dataclass(frozen=True)
class UserResult:
    """What a user query returned: at most max_rows rows, whether more were cut, at which lake
    version, and the monotonic time by which its answer must be encoded (the time limit's end)."""

    table: pa.Table
    truncated: bool
    seconds: float
    version: int
    deadline: float = float("inf")


def lock_down(con: duckdb.DuckDBPyConnection, memory_limit: str = "4GB", threads: int | None = None) -> None:
    """No files, no network, no extensions, fixed memory and threads; then freeze the settings so
    no statement can undo it. Python-registered Arrow data and native tables still work."""
    if not _MEMORY.match(memory_limit):
        raise ValueError(f"memory_limit is a size like '4GB' or '512MiB', not {memory_limit!r}")
    con.execute("SET temp_directory = ''")  # before external access goes: DuckDB allows reads of its temp folder
    con.execute("SET secret_directory = ''")  # would show the home folder in duckdb_settings()
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


def check_version(version) -> int | str | None:
    """A query's `version` as the client sent it: a whole number, a tag name, or nothing.
    Anything else (a list, an object, 1.5, true) is refused rather than guessed at."""
    if version is None or (isinstance(version, int) and not isinstance(version, bool)):
        return version
    if isinstance(version, str) and 0 < len(version) <= 200:
        return version
    raise errors.BadRequest(f"version is a lake version number (a whole number) or a tag name, "
                            f"not {_kind(version)}")


def run_user_sql(copy: Materialized, sql: str, *, max_rows: int, timeout: float, version: int | str | None,
                 lock: Callable[[duckdb.DuckDBPyConnection], None], max_bytes: int = 32 << 20,
                 deadline: float | None = None, budget: float | None = None) -> UserResult:
    """One read-only SELECT from a user. Forbidden for anything else, QueryTimeout past `timeout`
    s (or at `deadline`, time.monotonic, when the time started earlier), BadRequest for SQL
    errors, NotFound for an unknown version, PayloadTooLarge when not even the first row fits in
    `max_bytes`; Overtime when it is still running after `budget` s (None: no budget). A
    `version` (number or tag) other than the one `copy` holds runs on the Lance tables at that
    version, on a connection that ``lock`` locks down first (as it locked the copy)."""
    deadline = time.monotonic() + timeout if deadline is None else deadline
    query, limited = check_user_sql(sql)
    version = check_version(version)
    hide = str(copy.lake.root)
    number = None
    if version is not None:
        try:
            number = copy.lake.resolve(version)
        except (LakeError, ValueError, OverflowError) as exc:
            raise errors.NotFound(redact.text(str(exc).replace(hide, "<lake>"))) from None
    if number is None or number == copy.version:
        cur = copy.cursor()
        try:
            result = _execute(cur, query, limited, max_rows, max_bytes, timeout, deadline, budget, None, hide)
        finally:
            cur.close()
        if number is None or result.version == number:  # else a refresh came in between
            return result
    try:
        con = connect(copy.lake, number)
        _redact_tables(con, copy.lake, number)
    except LakeError as exc:
        raise errors.NotFound(scrub(exc, hide)) from None
    try:
        lock(con)
        return _execute(con, query, limited, max_rows, max_bytes, timeout, deadline, budget, number, hide)
    finally:
        con.close()


def _redact_tables(con: duckdb.DuckDBPyConnection, lake, number: int) -> None:
    """Replace the tables of a reader at an older version that hold paths by redacted copies,
    read whole: the scalar ones. Not analysis (its beat and chord lists are most of the lake's
    rows; its failed_stages are redacted in the server's copy of the newest version)."""
    state = lake.state(number)
    for name in redact.HIDDEN:
        if name == "analysis":
            continue
        if name == "commits":
            rows = lake.catalog.dataset().to_table(filter=f"version <= {int(number)}")
            con.register("lake_catalog", redact.rows("commits", rows))
        elif name in state.table_versions:
            rows = table_rows(lake.table_at(name, state), tables.TABLES[name]).read_all()
            con.register(f"lake_{name}", redact.rows(name, rows))


def _execute(con: duckdb.DuckDBPyConnection, query: str, limited: bool, max_rows: int, max_bytes: int,
             timeout: float, deadline: float, budget: float | None, version: int | None, hide: str) -> UserResult:
    """Run a checked query on a locked-down connection in a READ ONLY transaction, interrupted
    at `deadline` (time.monotonic, `timeout` s after the query came) or after `budget` s
    (Overtime). ``version`` is the lake version con holds; None: a materialised copy's, read
    inside the transaction (a refresh cannot come between). ``hide`` is kept out of messages."""
    fired = threading.Event()
    left = max(0.0, deadline - time.monotonic())
    overtime = budget is not None and budget < left

    def stop() -> None:
        fired.set()
        con.interrupt()

    def stopped() -> Exception:
        if not fired.is_set():
            return errors.BadRequest("the query was interrupted")
        if overtime:
            return Overtime()
        return errors.QueryTimeout(f"the query ran longer than {timeout:g} s and was stopped "
                                   f"(add filters or a LIMIT, or aggregate)")

    timer = threading.Timer(budget if overtime else left, stop)
    timer.daemon = True
    started = time.perf_counter()
    try:
        con.execute("BEGIN TRANSACTION READ ONLY")
        timer.start()
        if version is None:
            version = con.sql("SELECT version FROM snapshot_version").fetchall()[0][0]
        table, truncated = _fetch(con.sql(query), max_rows if limited else None, max_bytes)
    except duckdb.InterruptException:
        raise stopped() from None
    except (OSError, pa.ArrowException) as exc:  # raised by the Arrow stream DuckDB's rows come through
        if fired.is_set() or "INTERRUPT" in str(exc):
            raise stopped() from None
        raise errors.BadRequest(scrub(exc, hide)) from None
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
    return UserResult(table, truncated, seconds, int(version), deadline)


def _fetch(relation: duckdb.DuckDBPyRelation, max_rows: int | None, max_bytes: int) -> tuple[pa.Table, bool]:
    """The relation's first rows, streamed: at most max_rows (None: no row cap) and max_bytes of
    Arrow data; whether rows were left out. DuckDB stops producing rows once the reader is closed."""
    reader = relation.to_arrow_reader(_BATCH_ROWS)
    batches: list[pa.RecordBatch] = []
    rows = size = 0
    cut = False
    try:
        for batch in reader:
            if max_rows is not None and rows + batch.num_rows > max_rows:
                batch, cut = batch.slice(0, max_rows - rows), True
            if size + batch.nbytes > max_bytes:
                batch, cut = batch.slice(0, _fitting(batch, max_bytes - size)), True
                if rows + batch.num_rows == 0:
                    raise errors.PayloadTooLarge(
                        f"the first row of the answer is larger than the answer limit of {max_bytes / 1048576:g} MB "
                        f"(select fewer or shorter columns, e.g. left(text, 1000))")
            batches.append(batch)
            rows += batch.num_rows
            size += batch.nbytes
            if cut:
                break
    finally:
        reader.close()
    return pa.Table.from_batches(batches, schema=reader.schema), cut


def _fitting(batch: pa.RecordBatch, budget: int) -> int:
    """How many of the batch's first rows fit in `budget` bytes (binary search over slices)."""
    low, high = 0, batch.num_rows
    while low < high:
        middle = (low + high + 1) // 2
        if batch.slice(0, middle).nbytes <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def _kind(value) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, float):
        return f"{value:g} (not a whole number)"
    if isinstance(value, (list, dict)):
        return f"a JSON {'list' if isinstance(value, list) else 'object'}"
    if isinstance(value, str):
        return "an empty or over-long text"
    return type(value).__name__


def scrub(exc: Exception | str, hide: str) -> str:
    """DuckDB's message without the folder `hide`, any quoted file path, or any absolute path."""
    message = str(exc).strip().replace(hide, "<lake>")
    return redact.text(_QUOTED_PATH.sub("", message))
