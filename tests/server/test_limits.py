"""The SQL lanes: a query that overruns the quick lane's budget is run again in the slow lane,
and the same text goes straight there the next time."""

import asyncio
import os
import threading

from songlake.server.limits import SLOW_NICE, SqlLanes
from songlake.server.sandbox import Overtime


def test_a_query_that_overran_goes_straight_to_the_slow_lane():
    lanes = SqlLanes(quick=2, slow=1, quick_seconds=0.1, wait=1.0)
    calls: list[float | None] = []

    def heavy(budget):
        calls.append(budget)
        if budget is not None:
            raise Overtime()
        return "answer"

    try:
        assert asyncio.run(lanes.run(heavy, "SELECT  big\nFROM t")) == "answer"
        assert calls == [0.1, None]  # quick lane first, then the slow lane
        calls.clear()
        assert asyncio.run(lanes.run(heavy, "SELECT big FROM t")) == "answer"  # same text, other spacing
        assert calls == [None]
        calls.clear()
        assert asyncio.run(lanes.run(heavy, "SELECT other FROM t")) == "answer"
        assert calls == [0.1, None]  # a new text still gets the quick lane first
    finally:
        lanes.close()


def test_the_slow_lane_runs_at_low_priority():
    lanes = SqlLanes(quick=1, slow=1, quick_seconds=0.1, wait=1.0)

    def niceness(budget):
        if budget is not None:
            raise Overtime()
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    try:
        assert asyncio.run(lanes.run(niceness, "SELECT 1")) >= min(SLOW_NICE, 19) - 1
    finally:
        lanes.close()
