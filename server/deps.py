"""The values the app hands to handlers by dependency injection, as annotated types.

A handler names what it needs (``lake: LakeDep``); app.py provides each from the app's state,
where the lifespan put it.
"""

from __future__ import annotations

from typing import Any

from litestar.di import NamedDependency

from songlake.jobs.queue import Queue
from songlake.schema import Lake
from songlake.server.auth import TokenStore
from songlake.server.limits import Gates
from songlake.server.settings import ServerSettings
from songlake.server.snapshot import Snapshot
from songlake.server.uploads import JobStore

LakeDep = NamedDependency[Lake]
QueueDep = NamedDependency[Queue]
SnapshotDep = NamedDependency[Snapshot]
JobsDep = NamedDependency[JobStore]
TokensDep = NamedDependency[TokenStore]
SettingsDep = NamedDependency[ServerSettings]
GatesDep = NamedDependency[Gates]
NAMES = ("lake", "queue", "snapshot", "jobs", "tokens", "settings", "gates")
