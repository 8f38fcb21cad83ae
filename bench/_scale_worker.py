"""bench/scale.py's worker processes: Huey on Redis, writing synthetic songs through the real write path.

    python bench/_scale_worker.py LAKE REDIS_URL NAME INDEX

Each task writes one set of songs' rows with ``BatchWriter``, stages them (no commit) and then
calls ``songlake.jobs.commit.commit_round``, as a pipeline task does; an idle worker commits
what is staged, as ``songlake worker`` does. So the lake gets one version per commit round,
whoever runs it, not one per task.

Every commit round a worker makes is pushed to the Redis list ``NAME:commits`` (its time, the
compaction after it), and a commit that fails to ``NAME:errors``. The bench pauses the workers
through the key ``NAME:pause`` (each acknowledges in the set ``NAME:paused``) and stops them
with ``NAME:stop``.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

from huey import RedisHuey

sys.path.insert(0, str(Path(__file__).resolve().parent))

TASK = "scale.write_songs"
_state: dict = {}


def make_huey(name: str, url: str) -> tuple[RedisHuey, object]:
    """The bench's Huey (its own name on the Redis) and its one task."""
    huey = RedisHuey(name, url=url, blocking=True, read_timeout=1)
    return huey, huey.task(name=TASK)(write_songs)


def _process(lake_root: str, url: str, name: str) -> dict:
    """This process's lake, real pipeline queue (for commit_round's follow-ups) and Redis client."""
    if not _state:
        import redis

        from songlake.jobs.queue import Queue
        from songlake.schema import Lake

        _state.update(lake=Lake.open(lake_root), queue=Queue.open(lake_root, url=url),
                      redis=redis.Redis.from_url(url), name=name)
    return _state


def write_songs(lake_root: str, url: str, name: str, seed: int, first: int, count: int) -> dict:
    """The task: write songs first .. first+count-1, stage them, then take a commit round."""
    import _scale_rows

    from songlake.schema import BatchWriter

    state = _process(lake_root, url, name)
    started = time.perf_counter()
    writer = BatchWriter(state["lake"])
    _scale_rows.write_songs(writer, seed, first, count)
    rows = time.perf_counter()
    writer.stage("ingest", f"synthetic songs {first}-{first + count - 1}")
    staged = time.perf_counter()
    commit(state, min_age=None)
    return {"songs": count, "rows_s": rows - started, "stage_s": staged - rows, "task_s": time.perf_counter() - started}


def commit(state: dict, min_age: float | None) -> int | None:
    """One commit round as the pipeline makes it (commit_round; then compact_small, timed apart).
    min_age None: the pipeline's interval (after a task); 0: commit now (an idle worker)."""
    from songlake.jobs import commit as committer
    from songlake.schema.optimize import compact_small

    lake, queue, r, name = state["lake"], state["queue"], state["redis"], state["name"]
    options = {} if min_age is None else {"min_age": min_age}
    started = time.perf_counter()
    try:
        version = committer.commit_round(queue, lake, compact=False, **options)
    except Exception:
        r.rpush(f"{name}:errors", traceback.format_exc())
        return None
    if version is None:
        return None
    took = time.perf_counter() - started
    started = time.perf_counter()
    try:
        merged = compact_small(lake)
    except Exception:
        r.rpush(f"{name}:errors", "compact_small: " + traceback.format_exc())
        merged = {}
    r.rpush(f"{name}:commits", json.dumps({"version": version, "commit_s": took, "compact_s": time.perf_counter() - started,
                                           "merged": {t: list(ab) for t, ab in merged.items()}}))
    return version


def main(lake_root: str, url: str, name: str, index: int) -> None:
    huey, _ = make_huey(name, url)
    state = _process(lake_root, url, name)
    r = state["redis"]
    while not r.exists(f"{name}:stop"):
        if r.exists(f"{name}:pause"):
            r.sadd(f"{name}:paused", index)
            time.sleep(0.1)
            continue
        r.srem(f"{name}:paused", index)
        task = huey.dequeue()  # waits up to a second
        if task is not None:
            huey.execute(task)
        elif state["lake"].pending():
            commit(state, min_age=0.0)  # idle: nobody else's work will join this version


if __name__ == "__main__":
    import _scale_worker  # Huey names a task by its module: the bench registers it as _scale_worker's

    _scale_worker.main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
