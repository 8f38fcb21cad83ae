"""The ledger: what is queued, who holds what, and which workers are alive.

Huey delivers a task at most once: a worker killed mid-task takes the task with it. The ledger
is how songlake finds such work again. Every unit of work is a (stage, key) pair, the key a
song_id (a file path for ingest):

- ``queued``: marked when a task is enqueued, unmarked when a worker takes the task (a key
  another worker holds is that worker's to finish);
- ``claims``: set atomically by the worker that takes the key (set-if-absent, so two workers
  never hold the same key) and released only after the lake commit that finishes it. A worker
  that stages its rows for the committer hands its claims to the staged set (holder
  ``staged:<token>``); the committer releases them once the set is visible;
- ``workers``: each worker's heartbeat (host, pid, last seen).

A claim held by a dead worker (its process is gone on this host, or its heartbeat is stale) is
lost work: ``resume`` releases it and queues the key again. Because claims are released only
after the commit, and every stage looks at the lake after claiming, a key is never done twice.

The ledger lives beside the queue: a SQLite file in the lake folder for the embedded default,
the same Redis database as the queue when scaled out.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol

HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 20.0  # a heartbeat older than this means the worker is gone


@dataclass(frozen=True)
class Claim:
    stage: str
    key: str
    worker: str
    since: float
    options: dict  # the task's options, so resume can queue the key again as it was


@dataclass(frozen=True)
class WorkerInfo:
    worker: str
    host: str
    pid: int
    stages: tuple[str, ...]
    seen: float

    def alive(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        if self.host == socket.gethostname():
            return pid_alive(self.pid) and now - self.seen < STALE_SECONDS
        return now - self.seen < STALE_SECONDS


def worker_name(n: int = 0) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{n}"


class Ledger(Protocol):
    def mark_queued(self, stage: str, keys: Iterable[str]) -> None: ...
    def unmark_queued(self, stage: str, keys: Iterable[str]) -> None: ...
    def queued(self, stage: str) -> list[str]: ...
    def claim(self, stage: str, keys: Iterable[str], worker: str, options: dict | None = None) -> list[str]: ...
    def release(self, stage: str, keys: Iterable[str]) -> None: ...
    def transfer(self, stage: str, keys: Iterable[str], holder: str) -> None: ...
    def claims(self, stage: str) -> list[Claim]: ...
    def heartbeat(self, info: WorkerInfo) -> None: ...
    def workers(self) -> list[WorkerInfo]: ...
    def forget_worker(self, worker: str) -> None: ...
    def set_flag(self, name: str) -> bool: ...
    def clear_flag(self, name: str) -> None: ...
    def has_flag(self, name: str) -> bool: ...


STAGED = "staged:"  # the holder-name prefix of claims handed to a staged set


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped by its parent) is dead too
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


class SqliteLedger:
    """The embedded ledger: one SQLite file (WAL), shared by the worker processes on this host."""

    _DDL = (
        "CREATE TABLE IF NOT EXISTS queued (stage TEXT, key TEXT, since REAL, PRIMARY KEY (stage, key))",
        "CREATE TABLE IF NOT EXISTS claims (stage TEXT, key TEXT, worker TEXT, since REAL, options TEXT, "
        "PRIMARY KEY (stage, key))",
        "CREATE TABLE IF NOT EXISTS workers (worker TEXT PRIMARY KEY, info TEXT)",
        "CREATE TABLE IF NOT EXISTS flags (name TEXT PRIMARY KEY, since REAL)",
    )

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (a worker's heartbeat runs in its own thread), made after fork."""
        if getattr(self._local, "pid", None) != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            _wal(conn)
            for statement in self._DDL:
                conn.execute(statement)
            self._local.conn, self._local.pid = conn, os.getpid()
        return self._local.conn

    def _write(self, sql: str, rows: list[tuple]) -> None:
        if rows:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany(sql, rows)

    def mark_queued(self, stage, keys):
        now = time.time()
        self._write("INSERT OR IGNORE INTO queued VALUES (?, ?, ?)", [(stage, k, now) for k in keys])

    def unmark_queued(self, stage, keys):
        self._write("DELETE FROM queued WHERE stage = ? AND key = ?", [(stage, k) for k in keys])

    def queued(self, stage):
        return [k for (k,) in self.db.execute("SELECT key FROM queued WHERE stage = ?", (stage,))]

    def claim(self, stage, keys, worker, options=None):
        keys = list(keys)
        now, extra = time.time(), json.dumps(options or {})
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR IGNORE INTO claims VALUES (?, ?, ?, ?, ?)",
                                [(stage, k, worker, now, extra) for k in keys])
            held = {k for (k,) in self.db.execute("SELECT key FROM claims WHERE stage = ? AND worker = ?", (stage, worker))}
            self.db.executemany("DELETE FROM queued WHERE stage = ? AND key = ?", [(stage, k) for k in keys])
        return [k for k in keys if k in held]

    def release(self, stage, keys):
        self._write("DELETE FROM claims WHERE stage = ? AND key = ?", [(stage, k) for k in keys])

    def transfer(self, stage, keys, holder):
        now = time.time()
        self._write("UPDATE claims SET worker = ?, since = ? WHERE stage = ? AND key = ?",
                    [(holder, now, stage, k) for k in keys])

    def claims(self, stage):
        rows = self.db.execute("SELECT stage, key, worker, since, options FROM claims WHERE stage = ?", (stage,))
        return [Claim(*row[:4], json.loads(row[4])) for row in rows]

    def heartbeat(self, info):
        self._write("INSERT OR REPLACE INTO workers VALUES (?, ?)", [(info.worker, _dump(info))])

    def workers(self):
        return [_load(info) for (info,) in self.db.execute("SELECT info FROM workers")]

    def forget_worker(self, worker):
        self._write("DELETE FROM workers WHERE worker = ?", [(worker,)])

    def set_flag(self, name):
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db.execute("INSERT OR IGNORE INTO flags VALUES (?, ?)", (name, time.time())).rowcount == 1

    def clear_flag(self, name):
        self._write("DELETE FROM flags WHERE name = ?", [(name,)])

    def has_flag(self, name):
        return self.db.execute("SELECT 1 FROM flags WHERE name = ?", (name,)).fetchone() is not None


class RedisLedger:
    """The scaled-out ledger: hashes in the queue's Redis database (HSETNX makes claims atomic)."""

    def __init__(self, url: str, prefix: str = "songlake"):
        import redis

        self.url = url
        self.prefix = prefix
        self._client = None
        self._pid = -1
        self._redis = redis

    @property
    def r(self):
        if self._client is None or self._pid != os.getpid():
            self._client = self._redis.Redis.from_url(self.url)
            self._pid = os.getpid()
        return self._client

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def mark_queued(self, stage, keys):
        keys = list(keys)
        if keys:
            now = time.time()
            self.r.hset(self._key("queued", stage), mapping={k: now for k in keys})

    def unmark_queued(self, stage, keys):
        keys = list(keys)
        if keys:
            self.r.hdel(self._key("queued", stage), *keys)

    def queued(self, stage):
        return [k.decode() for k in self.r.hkeys(self._key("queued", stage))]

    def claim(self, stage, keys, worker, options=None):
        value = json.dumps([worker, time.time(), options or {}])
        keys = list(keys)
        mine = [k for k in keys if self.r.hsetnx(self._key("claims", stage), k, value)]
        self.unmark_queued(stage, keys)
        return mine

    def release(self, stage, keys):
        keys = list(keys)
        if keys:
            self.r.hdel(self._key("claims", stage), *keys)

    def transfer(self, stage, keys, holder):
        name, now = self._key("claims", stage), time.time()
        for key in keys:
            value = self.r.hget(name, key)
            if value is not None:
                options = json.loads(value)[2]
                self.r.hset(name, key, json.dumps([holder, now, options]))

    def claims(self, stage):
        found = []
        for key, value in self.r.hgetall(self._key("claims", stage)).items():
            worker, since, options = json.loads(value)
            found.append(Claim(stage, key.decode(), worker, since, options))
        return found

    def heartbeat(self, info):
        self.r.hset(self._key("workers"), info.worker, _dump(info))

    def workers(self):
        return [_load(v) for v in self.r.hvals(self._key("workers"))]

    def forget_worker(self, worker):
        self.r.hdel(self._key("workers"), worker)

    def set_flag(self, name):
        return bool(self.r.set(self._key("flag", name), time.time(), nx=True))

    def clear_flag(self, name):
        self.r.delete(self._key("flag", name))

    def has_flag(self, name):
        return bool(self.r.exists(self._key("flag", name)))


def _dump(info: WorkerInfo) -> str:
    return json.dumps({"worker": info.worker, "host": info.host, "pid": info.pid,
                       "stages": list(info.stages), "seen": info.seen})


def _load(raw: str | bytes) -> WorkerInfo:
    data = json.loads(raw)
    return WorkerInfo(data["worker"], data["host"], data["pid"], tuple(data["stages"]), data["seen"])


def _wal(conn: sqlite3.Connection, wait: float = 60.0) -> None:
    """Switch a connection's database to WAL. Switching a new database upgrades a read lock to a
    write lock, for which SQLite does not wait (its busy timeout does not apply): two processes
    opening a fresh lake's ledger at once would see 'database is locked'. So wait here."""
    deadline = time.monotonic() + wait
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)
