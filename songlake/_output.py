"""Printing query results: an aligned table for people, CSV, JSON and JSON lines for programs."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime

import pyarrow as pa
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "csv", "json", "jsonl")


def plain(value):
    """A value as JSON can hold it: times as ISO text, bytes as hex, floats to 6 places."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def _cell(value, width: int = 60) -> str:
    if value is None:
        return "∅"
    if isinstance(value, (list, dict)):
        text = json.dumps(plain(value))
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(plain(value))
    return text if len(text) <= width else text[: width - 1] + "…"


def console() -> Console:
    """Standard output; wide when it is not a terminal, so piped tables are not folded."""
    import sys

    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 250)


def render(table: pa.Table, fmt: str, console: Console, truncated: bool = False) -> None:
    rows = table.to_pylist()
    if fmt == "json":
        console.file.write(json.dumps([plain(r) for r in rows], indent=2) + "\n")
    elif fmt == "jsonl":
        for row in rows:
            console.file.write(json.dumps(plain(row)) + "\n")
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(table.column_names)
        for row in rows:
            writer.writerow([json.dumps(plain(v)) if isinstance(v, (list, dict)) else plain(v) for v in row.values()])
        console.file.write(buffer.getvalue())
    else:
        out = Table(show_lines=False, header_style="bold")
        for name in table.column_names:
            out.add_column(name, no_wrap=True, overflow="ellipsis")
        for row in rows:
            out.add_row(*(_cell(v) for v in row.values()))
        console.print(out)
        note = f"{len(rows)} row{'s' if len(rows) != 1 else ''}"
        console.print(f"[dim]{note}{' (cut at the row limit; --max-rows to change)' if truncated else ''}[/dim]")
