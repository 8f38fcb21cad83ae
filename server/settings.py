"""The server's settings, from the environment (``songlake serve`` options override them).

| variable                   | default   | meaning                                                    |
|----------------------------|-----------|------------------------------------------------------------|
| SONGLAKE_READS             | open      | `open`: anyone may read; `token`: reads need a token too   |
| SONGLAKE_UPLOAD_MAX_MB     | 200       | the largest file one upload may carry, in MB               |
| SONGLAKE_SQL_TIMEOUT       | 5         | seconds a POST /sql query may run before it is stopped     |
| SONGLAKE_SQL_MAX_ROWS      | 10000     | rows a POST /sql answer carries at most                    |
| SONGLAKE_SNAPSHOT_INTERVAL | 1         | seconds between checks for a new lake version              |
| SONGLAKE_HOST, _PORT       | 127.0.0.1, 8470 | where `songlake serve` listens                       |

Writes (uploads, labels) always need an API token (``songlake token create NAME``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSettings:
    reads: str = "open"
    upload_max_mb: float = 200.0
    sql_timeout: float = 5.0
    sql_max_rows: int = 10_000
    snapshot_interval: float = 1.0
    host: str = "127.0.0.1"
    port: int = 8470

    def __post_init__(self):
        if self.reads not in ("open", "token"):
            raise ValueError(f"SONGLAKE_READS must be 'open' or 'token', not {self.reads!r}")
        for name in ("upload_max_mb", "sql_timeout", "snapshot_interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.sql_max_rows < 1:
            raise ValueError(f"sql_max_rows must be at least 1, got {self.sql_max_rows}")

    @property
    def upload_max_bytes(self) -> int:
        return int(self.upload_max_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "ServerSettings":
        env = os.environ if env is None else env
        found: dict = {}
        for name, variable, kind in (
            ("reads", "SONGLAKE_READS", str), ("upload_max_mb", "SONGLAKE_UPLOAD_MAX_MB", float),
            ("sql_timeout", "SONGLAKE_SQL_TIMEOUT", float), ("sql_max_rows", "SONGLAKE_SQL_MAX_ROWS", int),
            ("snapshot_interval", "SONGLAKE_SNAPSHOT_INTERVAL", float), ("host", "SONGLAKE_HOST", str),
            ("port", "SONGLAKE_PORT", int),
        ):
            raw = env.get(variable)
            if raw:
                try:
                    found[name] = kind(raw)
                except ValueError:
                    raise ValueError(f"{variable} must be a {kind.__name__}, got {raw!r}") from None
        found.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**found)
