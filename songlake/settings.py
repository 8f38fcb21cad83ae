"""Settings, in one typed place. Each comes from the environment and can be overridden by a
command-line option of the same meaning.

| variable          | default           | meaning                                            |
|-------------------|-------------------|----------------------------------------------------|
| SONGLAKE_LAKE     | ./songlake-data   | the lake folder                                    |
| SONGLAKE_WORKERS  | number of CPUs    | worker processes for ingest                        |
| SONGLAKE_MAX_ROWS | 10000             | rows `songlake sql` prints at most (0: no limit)   |
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

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        return cls(
            lake=Path(env.get("SONGLAKE_LAKE", "songlake-data")),
            workers=_positive_int(env, "SONGLAKE_WORKERS", os.cpu_count() or 1),
            max_rows=_positive_int(env, "SONGLAKE_MAX_ROWS", 10_000, allow_zero=True),
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
