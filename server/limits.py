"""How many expensive requests run at once: a gate per kind of work, and two lanes for SQL.

A request that finds every slot of its gate taken waits up to the gate's `wait` seconds, then
gets 503 with Retry-After instead of piling up: with the slots bounded, the server's memory and
CPU under a flood of hostile requests are those of `slots` requests, and the cheap reads keep
their speed.

User SQL takes two lanes (``SqlLanes``), because a query's cost is known only by running it:
every query starts in the quick lane with a short budget (SONGLAKE_SQL_QUICK_SECONDS); the few
still running then are stopped and run again in the slow lane, whose few slots run on threads
of low CPU priority. A query text that overran once goes straight to the slow lane next time
(the server remembers the last few thousand), so a client repeating a heavy query does not spend
the quick lane's budget again and again. So a quick query never waits behind slow ones, and slow
ones (a hostile client's among them) take turns, without starving the rest of the server of CPU.
DuckDB runs each query on the thread that asks for it (SONGLAKE_SQL_THREADS, 1 by default), so
the low priority covers all of a slow query's work. Clips for similarity search are embedded,
waveforms drawn and posted generations analysed on low-priority threads too.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable, TypeVar

import anyio

from songlake.server.errors import Busy
from songlake.server.sandbox import Overtime

T = TypeVar("T")
SLOW_NICE = 19  # how much lower the slow lane's threads run (Linux thread niceness: the lowest)
REMEMBERED = 4096  # query texts that overran, sent straight to the slow lane


class Gate:
    """At most `slots` holders at once; a caller waits at most `wait` s for a slot, then Busy."""

    def __init__(self, what: str, slots: int, wait: float):
        self.what = what
        self.slots = slots
        self.wait = wait
        self._semaphore: anyio.Semaphore | None = None  # made on first use, inside the event loop

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._semaphore is None:
            self._semaphore = anyio.Semaphore(self.slots)
        try:
            with anyio.fail_after(self.wait):
                await self._semaphore.acquire()
        except TimeoutError:
            raise Busy(f"the server is busy: {self.slots} {self.what} already running; try again shortly",
                       retry_after=math.ceil(self.wait)) from None
        try:
            yield
        finally:
            self._semaphore.release()


class LowPriority:
    """Threads of low CPU priority for heavy work (slow queries, clip embedding), so the cheap
    reads keep the CPU when both want it. Their own threads: the low priority never reaches
    other work (it cannot be undone without privileges). A cancelled request leaves its work to
    end at its own time limit; the number of threads still bounds how much runs."""

    def __init__(self, threads: int, name: str):
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=name, initializer=_lower_priority)

    async def run(self, work: Callable[..., T], *args) -> T:
        return await asyncio.wrap_future(self._pool.submit(work, *args))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class SqlLanes:
    """The quick lane and the slow lane of user SQL (see the module's docstring)."""

    def __init__(self, quick: int, slow: int, quick_seconds: float, wait: float):
        self.quick = Gate("SQL queries", quick, wait)
        self.slow = Gate("slow SQL queries", slow, wait)
        self.quick_seconds = quick_seconds
        self._slow_threads = LowPriority(slow, "songlake-slow-sql")
        self._overran: OrderedDict[bytes, None] = OrderedDict()

    async def run(self, work: Callable[[float | None], T], text: str = "") -> T:
        """work(budget) in the quick lane with budget quick_seconds; when it raises Overtime,
        work(None) again in the slow lane. A `text` (the query) that overran before goes to the
        slow lane at once."""
        key = hashlib.blake2b(" ".join(text.split()).encode(), digest_size=16).digest()
        if key not in self._overran:
            async with self.quick.slot():
                try:
                    return await anyio.to_thread.run_sync(work, self.quick_seconds)
                except Overtime:
                    self._remember(key)
        else:
            self._overran.move_to_end(key)
        async with self.slow.slot():
            return await self._slow_threads.run(work, None)

    def _remember(self, key: bytes) -> None:
        self._overran[key] = None
        while len(self._overran) > REMEMBERED:
            self._overran.popitem(last=False)

    def close(self) -> None:
        self._slow_threads.close()


class Lane:
    """A gate in front of low-priority threads: at most `slots` run, the rest wait, then Busy."""

    def __init__(self, what: str, slots: int, wait: float, name: str):
        self.gate = Gate(what, slots, wait)
        self._threads = LowPriority(slots, name)

    async def run(self, work: Callable[..., T], *args) -> T:
        async with self.gate.slot():
            return await self._threads.run(work, *args)

    def close(self) -> None:
        self._threads.close()


def _lower_priority() -> None:
    try:  # on Linux, a thread id as the "process" sets that thread's niceness only
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SLOW_NICE)
    except (OSError, AttributeError):
        pass


class Gates:
    """The server's gates, sized from its settings: user SQL (two lanes), and clip embedding,
    waveforms and the analysis of posted generations (each a whole decode, on low-priority
    threads)."""

    def __init__(self, settings):
        self.sql = SqlLanes(settings.sql_concurrency, settings.sql_slow_concurrency, settings.sql_quick_seconds,
                            settings.sql_timeout)
        self.clips = Lane("clip searches", settings.clip_concurrency, settings.clip_timeout, "songlake-clips")
        self.waveforms = Lane("waveforms being drawn", settings.waveform_concurrency, settings.clip_timeout,
                              "songlake-waveforms")
        self.generations = Lane("generation requests being analysed", settings.generation_concurrency,
                                settings.generation_wait, "songlake-generations")

    def close(self) -> None:
        self.sql.close()
        self.clips.close()
        self.waveforms.close()
        self.generations.close()
