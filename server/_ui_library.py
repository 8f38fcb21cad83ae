"""The library page's table: filters, sorting and paging turned into one parameterised query.

Filter values always travel as query parameters ($1, $2 ...); the sort column is taken from a
fixed list, so nothing a visitor types is spliced into SQL. The same filter renders the links of
the page (sortable headers, pager) so a view of the library is a plain, shareable URL.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlencode

PAGE_SIZE = 50
STEMS_STATUSES = ("done", "pending", "unavailable", "failed")
# Columns shown in the table, in order: (column, header).
COLUMNS = (
    ("title", "Title"), ("artist", "Artist"), ("album", "Album"), ("year", "Year"),
    ("primary_genre", "Genre"), ("key", "Key"), ("bpm", "BPM"), ("duration", "Length"),
    ("stems_status", "Stems"),
)
SORTABLE = frozenset(name for name, _ in COLUMNS) | {"ingested_at", "genre_confidence"}
_TEXT_COLUMNS = ("title", "artist", "album", "filename", "song_id")


MAX_PAGE = 10_000_000  # keeps OFFSET inside DuckDB's BIGINT whatever page a URL names


@dataclass(frozen=True)
class LibraryFilter:
    """One view of the library: what to match, how to order, which page."""

    q: str = ""
    genre: str = ""
    key: str = ""
    bpm_min: float | None = None
    bpm_max: float | None = None
    stems: str = ""
    sort: str = "title"
    order: str = "asc"
    page: int = 1

    def __post_init__(self):
        # Unknown sort columns or orders fall back to the default view rather than failing a page.
        if self.sort not in SORTABLE:
            object.__setattr__(self, "sort", "title")
        if self.order not in ("asc", "desc"):
            object.__setattr__(self, "order", "asc")
        object.__setattr__(self, "page", min(max(1, int(self.page)), MAX_PAGE))  # a page past the end is empty
        object.__setattr__(self, "q", self.q.strip())

    def where(self) -> tuple[str, list]:
        """The WHERE clause (or '') and its parameters."""
        clauses: list[str] = []
        params: list = []

        def param(value) -> str:
            params.append(value)
            return f"${len(params)}"

        if self.q:
            p = param(self.q.lower())
            clauses.append("(" + " OR ".join(f"contains(lower(coalesce({c}, '')), {p})" for c in _TEXT_COLUMNS) + ")")
        if self.genre:
            clauses.append(f"primary_genre = {param(self.genre)}")
        if self.key:
            clauses.append(f"key = {param(self.key)}")
        if self.bpm_min is not None:
            clauses.append(f"bpm >= {param(float(self.bpm_min))}")
        if self.bpm_max is not None:
            clauses.append(f"bpm <= {param(float(self.bpm_max))}")
        if self.stems:
            clauses.append(f"stems_status = {param(self.stems)}")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def page_query(self) -> tuple[str, list]:
        where, params = self.where()
        columns = ", ".join(["song_id", "filename", "genre_confidence", *(name for name, _ in COLUMNS)])
        order = "DESC" if self.order == "desc" else "ASC"
        offset = (self.page - 1) * PAGE_SIZE
        return (f"SELECT {columns} FROM songs{where} ORDER BY {self.sort} {order} NULLS LAST, song_id "
                f"LIMIT {PAGE_SIZE} OFFSET {offset}"), params

    def count_query(self) -> tuple[str, list]:
        where, params = self.where()
        return f"SELECT count(*) AS n FROM songs{where}", params

    def url(self, **changes) -> str:
        """The library URL of this view with some fields changed (only non-default values appear)."""
        view = replace(self, **changes)
        default = LibraryFilter()
        pairs = {name: getattr(view, name) for name in view.__dataclass_fields__
                 if getattr(view, name) != getattr(default, name) and getattr(view, name) is not None}
        return "/ui" + ("?" + urlencode(pairs) if pairs else "")

    def header_url(self, column: str) -> str:
        """Clicking a header sorts by it; clicking the sorted one flips the order."""
        order = "desc" if self.sort == column and self.order == "asc" else "asc"
        return self.url(sort=column, order=order, page=1)


def display_row(row: dict) -> dict:
    """A song row with its cells as display text."""
    out = dict(row)
    out["bpm"] = f"{row['bpm']:.1f}" if row.get("bpm") is not None else ""
    out["duration"] = duration_text(row.get("duration"))
    for name in ("title", "artist", "album", "year", "primary_genre", "key", "stems_status"):
        out[name] = "" if row.get(name) is None else str(row[name])
    return out


def duration_text(seconds: float | None) -> str:
    """m:ss, or '' when unknown."""
    if seconds is None:
        return ""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"
