"""Query results for the wire: JSON rows, CSV text or an Arrow IPC stream.

``encode(result, fmt)`` turns a user query's result (server.sandbox.UserResult) into the body of
POST /sql. JSON is strict (no NaN, times as ISO text, bytes as base64); CSV writes nested values
as JSON text; Arrow keeps the types and carries ``truncated`` and ``version`` in the schema's
metadata.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from datetime import date, datetime, time as clock, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from songlake.server import errors
from songlake.server.sandbox import UserResult

FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8",
           "arrow": "application/vnd.apache.arrow.stream"}  # encode() formats and their media types


def encode(result: UserResult, fmt: str) -> dict | bytes:
    """A user query's result as a JSON-ready dict ("json"), CSV bytes ("csv", nested values as
    JSON text) or an Arrow IPC stream ("arrow", with truncated/version in the schema metadata)."""
    table = result.table
    if fmt == "json":
        return {"columns": table.column_names, "types": [str(t) for t in table.schema.types],
                "rows": _json_rows(table), "row_count": table.num_rows, "truncated": result.truncated,
                "version": result.version, "seconds": round(result.seconds, 4)}
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.column_names)
        for row in _json_rows(table):
            writer.writerow(["" if v is None else json.dumps(v, separators=(",", ":")) if isinstance(v, (list, dict))
                             else str(v).lower() if isinstance(v, bool) else v for v in row])
        return out.getvalue().encode("utf-8")
    if fmt == "arrow":
        meta = {b"songlake.truncated": str(result.truncated).lower().encode(),
                b"songlake.version": str(result.version).encode()}
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema.with_metadata({**(table.schema.metadata or {}), **meta})) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes()
    raise errors.BadRequest(f"unknown result format {fmt!r}: {', '.join(FORMATS)}")


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
