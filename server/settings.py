"""The server's settings, from the environment (``songlake serve`` options override them).

Every request the server takes is bounded: the bytes it reads, the audio it decodes, the time
it spends and the bytes it answers. The limits are here, each with what a client gets past it
(the README's "Limits" table says the same).

| variable                      | default | meaning (and what a client gets past it)                           |
|-------------------------------|---------|--------------------------------------------------------------------|
| SONGLAKE_READS                | open    | `open`: anyone may read; `token`: reads need a token too (401)     |
| SONGLAKE_UPLOAD_MAX_MB        | 200     | the largest file one upload may carry, MB (that file refused, 413  |
|                               |         | when nothing else was accepted)                                    |
| SONGLAKE_UPLOAD_MAX_FILES     | 100     | files per upload request (400, nothing kept)                       |
| SONGLAKE_UPLOAD_TIMEOUT       | 600     | seconds a whole upload request may take to arrive (408, nothing    |
|                               |         | kept)                                                              |
| SONGLAKE_UPLOAD_SWEEP         | 300     | seconds between sweeps of LAKE/uploads for files no job owns       |
| SONGLAKE_CLIP_MAX_MB          | 20      | the largest clip POST /search/similar takes, MB (413)              |
| SONGLAKE_CLIP_MAX_SECONDS     | 60      | seconds of a clip that are decoded and embedded (the rest is not   |
|                               |         | read; the answer says how much was used)                           |
| SONGLAKE_CLIP_TIMEOUT         | 20      | seconds to decode and embed a clip (408)                           |
| SONGLAKE_CLIP_CONCURRENCY     | 2       | clips embedded at once (low CPU priority); others wait up to       |
|                               |         | CLIP_TIMEOUT, then 503 with Retry-After                            |
| SONGLAKE_WAVEFORM_CONCURRENCY | 2       | songs decoded at once for GET /songs/{id}/waveform (low CPU        |
|                               |         | priority); others wait up to CLIP_TIMEOUT, then 503                |
| SONGLAKE_GENERATION_CONCURRENCY | 1     | POST /generations requests analysed at once (low CPU priority);    |
|                               |         | others wait up to GENERATION_WAIT, then 503 with Retry-After       |
| SONGLAKE_GENERATION_WAIT      | 60      | seconds a POST /generations request waits for its turn             |
| SONGLAKE_SQL_TIMEOUT          | 5       | seconds a POST /sql query may take, running and encoding (400)     |
| SONGLAKE_SQL_MAX_ROWS         | 10000   | rows a POST /sql answer carries at most (cut, `truncated: true`)   |
| SONGLAKE_SQL_MAX_MB           | 32      | MB a POST /sql answer carries at most (cut, `truncated: true`; 413 |
|                               |         | when not even its first row fits)                                  |
| SONGLAKE_SQL_CONCURRENCY      | 4       | POST /sql queries run at once in their first SQL_QUICK_SECONDS;    |
|                               |         | others wait up to SQL_TIMEOUT, then 503 with Retry-After           |
| SONGLAKE_SQL_QUICK_SECONDS    | 0.25    | a query still running after this long is stopped and run again in  |
|                               |         | the slow lane, so quick queries never queue behind slow ones; a    |
|                               |         | query text that overran once goes straight to the slow lane        |
| SONGLAKE_SQL_SLOW_CONCURRENCY | 1       | queries run at once in the slow lane, at low CPU priority; others  |
|                               |         | wait up to SQL_TIMEOUT, then 503 with Retry-After                  |
| SONGLAKE_SQL_THREADS          | 1       | DuckDB threads per query: 1 runs each query on the thread that     |
|                               |         | asks, so the slow lane's low priority covers all of its work       |
| SONGLAKE_JSON_MAX_KB          | 1024    | the largest JSON request body, KB (413); also each text field of   |
|                               |         | POST /generations (400; a conditioning lists every beat and chord) |
| SONGLAKE_MAX_CONNECTIONS      | 512     | connections (open or busy) the server holds at once; past them a   |
|                               |         | request gets 503 at once; idle keep-alive connections close at 5 s |
| SONGLAKE_SNAPSHOT_INTERVAL    | 1       | seconds between checks for a new lake version                      |
| SONGLAKE_HOST, _PORT          | 127.0.0.1, 8470 | where `songlake serve` listens                             |

Writes (uploads, labels) always need an API token (``songlake token create NAME``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class ServerSettings:
    reads: str = "open"
    upload_max_mb: float = 200.0
    upload_max_files: int = 100
    upload_timeout: float = 600.0
    upload_sweep: float = 300.0
    clip_max_mb: float = 20.0
    clip_max_seconds: float = 60.0
    clip_timeout: float = 20.0
    clip_concurrency: int = 2
    waveform_concurrency: int = 2
    generation_concurrency: int = 1
    generation_wait: float = 60.0
    sql_timeout: float = 5.0
    sql_max_rows: int = 10_000
    sql_max_mb: float = 32.0
    sql_concurrency: int = 4
    sql_quick_seconds: float = 0.25
    sql_slow_concurrency: int = 1
    sql_threads: int = 1
    json_max_kb: int = 1024
    max_connections: int = 512
    snapshot_interval: float = 1.0
    host: str = "127.0.0.1"
    port: int = 8470

    def __post_init__(self):
        if self.reads not in ("open", "token"):
            raise ValueError(f"SONGLAKE_READS must be 'open' or 'token', not {self.reads!r}")
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name not in ("reads", "host") and not value > 0:
                raise ValueError(f"{_variable(spec.name)} must be positive, got {value}")

    @property
    def upload_max_bytes(self) -> int:
        return int(self.upload_max_mb * 1024 * 1024)

    @property
    def clip_max_bytes(self) -> int:
        return int(self.clip_max_mb * 1024 * 1024)

    @property
    def sql_max_bytes(self) -> int:
        return int(self.sql_max_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "ServerSettings":
        env = os.environ if env is None else env
        found: dict = {}
        for spec in fields(cls):
            variable = _variable(spec.name)
            raw = env.get(variable)
            if raw:
                kind = type(spec.default)
                try:
                    found[spec.name] = kind(raw)
                except ValueError:
                    raise ValueError(f"{variable} must be a {kind.__name__}, got {raw!r}") from None
        found.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**found)


def _variable(name: str) -> str:
    return f"SONGLAKE_{name.upper()}"
