"""What the server never shows: where files live on its disk.

The lake records where each file came from (``tracks.path``, ``ingest_errors.path``: the
folder a user ingested from, or ``LAKE/uploads/<job>/`` for an upload), and reasons written by
the pipeline can quote a path. That is the command line's business; over HTTP a client gets the
file's own name, never the server's folders. So everything a client can read is redacted once,
on its way in: the server's copy of the lake (schema.materialized's ``conform`` hook, and the
tables of an older version a query asks for) holds the path columns as NULL and the free-text
columns with every absolute path cut to its last component; job details and error messages go
through ``text``. Data redacted at the source is safe from any SQL a client writes over it,
which a filter on the answers would not be (``upper(path)``).
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

# An absolute POSIX path's folders: '/' after the start or a character that cannot continue a
# name or a URL ('http://host/a/' is left alone), then one or more 'name/'. Replaced by what
# came before it, so '/srv/lake/uploads/1f2e/song.mp3' becomes 'song.mp3'. RE2 syntax (Arrow).
_FOLDERS = r"""(^|[^\w.:/~-])/(?:[^/\s'"]+/)+"""
_FOLDERS_RE = re.compile(_FOLDERS)

# Per table (the catalog as "commits"): columns made NULL, text columns and lists of text redacted.
HIDDEN = {
    "tracks": {"null": ("path",)},
    "ingest_errors": {"null": ("path",), "text": ("reason",)},
    "stage_runs": {"text": ("reason",)},
    "separations": {"text": ("message",)},
    "analysis": {"text_list": ("failed_stages",)},
    "commits": {"text": ("message",)},
}


def text(message: str | None) -> str | None:
    """The message with every absolute path cut to its last component."""
    if not message:
        return message
    return _FOLDERS_RE.sub(r"\1", message)


def rows(name: str, data: pa.Table | pa.RecordBatchReader) -> pa.Table | pa.RecordBatchReader:
    """A table's rows as the server may show them (the schema unchanged)."""
    hide = HIDDEN.get(name)
    if hide is None:
        return data
    if isinstance(data, pa.Table):
        return pa.Table.from_batches([batch(name, b) for b in data.to_batches()], schema=data.schema)
    return pa.RecordBatchReader.from_batches(data.schema, (batch(name, b) for b in data))


def batch(name: str, data: pa.RecordBatch) -> pa.RecordBatch:
    hide = HIDDEN.get(name)
    if hide is None:
        return data
    columns = list(data.columns)
    for i, column in enumerate(data.schema.names):
        if column in hide.get("null", ()):
            columns[i] = pa.nulls(data.num_rows, data.schema.field(i).type)
        elif column in hide.get("text", ()):
            columns[i] = _text_array(columns[i])
        elif column in hide.get("text_list", ()):
            columns[i] = _text_lists(columns[i])
    return pa.RecordBatch.from_arrays(columns, schema=data.schema)


def _text_lists(lists: pa.Array) -> pa.Array:
    if len(lists) == 0 or not pa.types.is_list(lists.type):
        return lists
    offsets = lists.offsets.to_numpy()
    start, end = int(offsets[0]), int(offsets[-1])
    items = _text_array(lists.values.slice(start, end - start))
    return pa.ListArray.from_arrays(pa.array(offsets - start, pa.int32()), items, type=lists.type,
                                    mask=lists.is_null() if lists.null_count else None)


def _text_array(values: pa.Array) -> pa.Array:
    if len(values) == 0 or not pa.types.is_string(values.type):
        return values
    return pc.replace_substring_regex(values, _FOLDERS, r"\1")
