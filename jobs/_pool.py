"""A bounded, crash-isolating process pool.

``parallel_map(fn, items, workers)`` yields ``(item, result)`` as results arrive, with at most two
items per worker in flight, so memory does not grow with the number of items. A worker that dies
(a decoder crash, the OOM killer) breaks the whole pool; the items it may have held are retried
one at a time in fresh single-worker pools, and an item that kills its worker again yields
``WorkerCrashed`` as its result instead of stopping the run.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator


class WorkerCrashed(Exception):
    """The item crashed its worker process twice."""


def _pool(workers: int) -> ProcessPoolExecutor:
    # forkserver: children start from a clean process, not a fork of one holding Lance's threads
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"))


def parallel_map(fn: Callable[[Any], Any], items: Iterable[Any], workers: int) -> Iterator[tuple[Any, Any]]:
    """(item, fn(item)) for every item, in completion order; in-process when workers <= 1."""
    if workers <= 1:
        for item in items:
            yield item, fn(item)
        return
    pending = iter(items)
    running: dict[Future, Any] = {}
    pool = _pool(workers)
    try:
        while True:
            for item in pending:
                running[pool.submit(fn, item)] = item
                if len(running) >= 2 * workers:
                    break
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            suspects = []
            for future in done:
                item = running.pop(future)
                try:
                    yield item, future.result()
                except BrokenProcessPool:
                    suspects.append(item)
            if suspects:
                suspects.extend(running.values())  # the pool is broken: everything in it is lost
                running.clear()
                pool.shutdown(cancel_futures=True)
                yield from _isolate(fn, suspects)
                pool = _pool(workers)
    finally:
        pool.shutdown(cancel_futures=True)


def _isolate(fn: Callable[[Any], Any], items: list[Any]) -> Iterator[tuple[Any, Any]]:
    for item in items:
        with _pool(1) as pool:
            try:
                yield item, pool.submit(fn, item).result()
            except BrokenProcessPool:
                yield item, WorkerCrashed("processing this item crashed the worker process twice")
