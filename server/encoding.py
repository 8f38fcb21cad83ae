"""Query results for the wire: JSON rows, CSV text or an Arrow IPC stream.

``encode(result, fmt, max_bytes)`` turns a user query's result (server.sandbox.UserResult) into
the body of POST /sql, at most `max_bytes` long: JSON and CSV are written row by row and stop
before the row that would pass the cap (``truncated`` then says rows were left out); the Arrow
stream carries the rows the query's own byte cap let through. Encoding is part of the query's
time: past the result's deadline it stops with QueryTimeout. JSON is strict (no NaN, times as
ISO text, bytes as base64); CSV writes nested values as JSON text; Arrow keeps the types and
carries ``truncated`` and ``version`` in the schema's metadata.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import time
from dataclasses import dataclass
from datetime import date, datetime, time as clock, timedelta
from decimal import Decimal

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from songlake.server import errors
from songlake.server.sandbox import UserResult

FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8",
           "arrow": "application/vnd.apache.arrow.stream"}  # encode() formats and their media types
_CHUNK = 1000  # rows converted at a time, between checks of the deadline
_TAIL = 256  # bytes kept for the JSON answer's closing fields


@dataclass(frozen=True)
class Encoded:
    body: bytes
    rows: int
    truncated: bool


def encode(result: UserResult, fmt: str, max_bytes: int | None = None) -> Encoded:
    """A user query's result as a JSON object ("json": columns, types, rows, row_count,
    truncated, version, seconds), CSV ("csv", nested values as JSON text) or an Arrow IPC stream
    ("arrow", truncated/version in the schema metadata), at most max_bytes long (None: no cap)."""
    if fmt not in FORMATS:
        raise errors.BadRequest(f"unknown result format {fmt!r}: {', '.join(FORMATS)}")
    limit = max_bytes if max_bytes is not None else 1 << 62
    if fmt == "arrow":
        return _arrow(result)
    head, rows = (_json_head(result), _json_lines) if fmt == "json" else (_csv_head(result), _csv_lines)
    parts, size, count, cut = [head], len(head), 0, False
    for line in rows(result):
        if size + len(line) + _TAIL > limit:
            cut = True
            break
        parts.append(line)
        size += len(line)
        count += 1
    truncated = result.truncated or cut
    if count == 0 and result.table.num_rows > 0:
        raise errors.PayloadTooLarge(f"the first row of the answer is larger than the answer limit of "
                                     f"{limit / 1048576:g} MB (select fewer or shorter columns)")
    if fmt == "json":
        if count:
            parts[-1] = parts[-1].rstrip(b",")
        parts.append(b"]," + msgspec.json.encode({"row_count": count, "truncated": truncated, "version": result.version,
                                                   "seconds": round(result.seconds, 4)})[1:])
    return Encoded(b"".join(parts), count, truncated)


def _chunks(result: UserResult):
    """The result's rows as JSON-safe lists, a chunk at a time, stopping at the deadline."""
    table = result.table
    for start in range(0, table.num_rows, _CHUNK):
        if time.monotonic() > result.deadline:
            raise errors.QueryTimeout("the query ran longer than its time limit while its answer was written "
                                      "and was stopped (add filters or a LIMIT, or select fewer columns)")
        yield from _json_rows(table.slice(start, _CHUNK))


def _json_head(result: UserResult) -> bytes:
    table = result.table
    return msgspec.json.encode({"columns": table.column_names, "types": [str(t) for t in table.schema.types]})[:-1] \
        + b',"rows":['


_ENCODER = msgspec.json.Encoder()


def _json_lines(result: UserResult):
    for row in _chunks(result):
        try:
            yield _ENCODER.encode(row) + b","
        except (OverflowError, TypeError):  # integers past 64 bits (HUGEINT)
            yield json.dumps(row, separators=(",", ":"), default=str).encode() + b","


def _csv_head(result: UserResult) -> bytes:
    return _csv_line(result.table.column_names)


def _csv_lines(result: UserResult):
    for row in _chunks(result):
        yield _csv_line(["" if v is None else json.dumps(v, separators=(",", ":")) if isinstance(v, (list, dict))
                         else str(v).lower() if isinstance(v, bool) else v for v in row])


def _csv_line(values: list) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue().encode("utf-8")


def _arrow(result: UserResult) -> Encoded:
    if time.monotonic() > result.deadline:
        raise errors.QueryTimeout("the query ran longer than its time limit and was stopped")
    table = result.table
    meta = {b"songlake.truncated": str(result.truncated).lower().encode(),
            b"songlake.version": str(result.version).encode()}
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema.with_metadata({**(table.schema.metadata or {}), **meta})) as writer:
        writer.write_table(table)
    return Encoded(sink.getvalue().to_pybytes(), table.num_rows, result.truncated)


def _json_rows(table: pa.Table) -> list[list]:
    columns = [_json_column(column) for column in table.columns]
    return [list(row) for row in zip(*columns)] if columns else []


def _json_column(column: pa.ChunkedArray) -> list:
    """A column as JSON-safe Python values. Plain columns (strings, numbers without NaN, lists and
    structs of them) convert in Arrow's fast path; the rest value by value."""
    values = column.to_pylist()
    if _plain(column.type) and not any(_has_nan(leaf) for chunk in column.chunks for leaf in _float_leaves(chunk)):
        return values
    return [_json_value(v) for v in values]


def _plain(kind: pa.DataType) -> bool:
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _plain(kind.value_type)
    if pa.types.is_struct(kind):
        return all(_plain(kind.field(i).type) for i in range(kind.num_fields))
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)
            or pa.types.is_boolean(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind))


def _float_leaves(array: pa.Array):
    kind = array.type
    if pa.types.is_floating(kind):
        yield array
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        yield from _float_leaves(array.flatten())
    elif pa.types.is_struct(kind):
        for child in array.flatten():
            yield from _float_leaves(child)


def _has_nan(array: pa.Array) -> bool:
    if pa.types.is_float16(array.type):
        array = array.cast(pa.float32())
    return pc.any(pc.invert(pc.is_finite(array))).as_py() is True


def _json_value(value):
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, (datetime, date, clock)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "months") and hasattr(value, "days") and hasattr(value, "nanoseconds"):  # an interval
        return {"months": value.months, "days": value.days, "nanoseconds": value.nanoseconds}
    return str(value)
