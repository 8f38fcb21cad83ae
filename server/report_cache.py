"""The collection report, computed once per lake version and shared by the API and the dashboard.

schema.report computes it from the named views; that reads every song, so the server keeps the
newest report and computes it again only when the materialised copy holds a newer version.
"""

from __future__ import annotations

import threading

from songlake.schema.materialized import Materialized
from songlake.schema.report import collection_report


class ReportCache:
    """The report of the version a materialised copy holds, kept until the copy moves."""

    def __init__(self, copy: Materialized):
        self.copy = copy
        self._lock = threading.Lock()  # one computation per version, however many requests wait for it
        self._held: tuple[int, dict] | None = None

    def get(self) -> dict:
        with self._lock:
            version = self.copy.version
            if self._held is None or self._held[0] != version:
                cur = self.copy.cursor()
                try:
                    self._held = (version, collection_report(cur, self.copy.lake))
                finally:
                    cur.close()
            return self._held[1]
