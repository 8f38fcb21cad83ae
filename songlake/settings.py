"""Settings, in one typed place. Each comes from the environment and can be overridden by a
command-line option of the same meaning.

| variable           | default         | meaning                                                  |
|--------------------|-----------------|----------------------------------------------------------|
| SONGLAKE_LAKE      | ./songlake-data | the lake folder                                          |
| SONGLAKE_WORKERS   | number of CPUs  | worker processes for ingest                              |
| SONGLAKE_MAX_ROWS  | 10000           | rows `songlake sql` prints at most (0: no limit)         |
| SONGLAKE_LOCK_WAIT | 30              | seconds a writing command waits for the lake's commit    |
|                    |                 | lock before it stops and says which process holds it     |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    lake: Path
    workers: int
    max_rows: int
    lock_wait: float = 30.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        return cls(
            lake=Path(env.get("SONGLAKE_LAKE", "songlake-data")),
            workers=_positive_int(env, "SONGLAKE_WORKERS", os.cpu_count() or 1),
            max_rows=_positive_int(env, "SONGLAKE_MAX_ROWS", 10_000, allow_zero=True),
            lock_wait=_seconds(env, "SONGLAKE_LOCK_WAIT", 30.0),
        )


def _positive_int(env, name: str, default: int, allow_zero: bool = False) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < (0 if allow_zero else 1):
        raise ValueError(f"{name} must be {'0 or more' if allow_zero else 'at least 1'}, got {value}")
    return value


def _seconds(env, name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 <= value < float("inf"):
        raise ValueError(f"{name} must be 0 or more seconds, got {raw}")
    return value
