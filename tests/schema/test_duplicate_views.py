"""The duplicates views over hand-made pairs: groups are the connected pairs, the preferred copy
follows the documented rules in order, and the server's materialised copy recomputes a whole
group when a pair or a choice changes it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from songlake.schema import BatchWriter, Lake, Reader
from songlake.schema.labels import write_labels
from songlake.schema.materialized import Materialized

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _track(song_id: str, fmt: str = "mp3", bandwidth: float = 16000.0, duration: float = 200.0,
           transcode: bool = False, flags: tuple[str, ...] = ()) -> dict:
    return {"song_id": song_id, "file_sha256": song_id * 2, "filename": f"{song_id}.{fmt}", "format": fmt,
            "bandwidth_hz": bandwidth, "duration": duration, "suspected_transcode": transcode,
            "quality_flags": list(flags), "ingested_at": T0}


def _pair(a: str, b: str, minutes: int = 0) -> dict:
    a, b = sorted((a, b))
    return {"song_a": a, "song_b": b, "kind": "same_audio", "score": 0.9, "offset_seconds": 0.0,
            "shared_seconds": 190.0, "speed": 1.0, "method": "fingerprint", "found_at": T0 + timedelta(minutes=minutes)}


def _groups(run) -> dict[str, tuple[str, bool]]:
    rows = run("SELECT song_id, duplicate_group, is_preferred_copy FROM songs").to_pylist()
    return {r["song_id"]: (r["duplicate_group"], r["is_preferred_copy"]) for r in rows}


def _preferred(run, group_of: str) -> str:
    groups = _groups(run)
    return next(s for s, (g, p) in groups.items() if p and g == groups[group_of][0])


@pytest.mark.parametrize("better,worse", [
    (_track("b", "flac", bandwidth=15000.0), _track("a", "mp3", bandwidth=20000.0)),  # lossless first
    (_track("b", bandwidth=19000.0), _track("a", bandwidth=16000.0)),  # then the true bandwidth
    (_track("b"), _track("a", transcode=True)),  # then not a transcode
    (_track("b"), _track("a", flags=("clipped",))),  # then not clipped
    (_track("b", duration=240.0), _track("a", duration=200.0)),  # then the longer
])
def test_each_rule_decides_when_the_ones_before_tie(tmp_path, better, worse):
    lake = Lake.open(tmp_path / "lake", create=True)
    writer = BatchWriter(lake)
    writer.add("tracks", worse)
    writer.add("tracks", better)
    writer.add("duplicate_pairs", _pair("a", "b"))
    writer.commit("test", "a pair")
    assert _groups(Reader(lake).run) == {"a": ("a", False), "b": ("a", True)}


def test_groups_are_connected_pairs_and_other_songs_stand_alone(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    writer = BatchWriter(lake)
    for sid in ("a", "b", "c", "d", "e"):
        writer.add("tracks", _track(sid))
    writer.add("duplicate_pairs", _pair("a", "b"))
    writer.add("duplicate_pairs", _pair("c", "b"))  # a - b - c: one group through b
    writer.add("duplicate_pairs", _pair("a", "b", minutes=5))  # found again: still one pair
    writer.commit("test", "pairs")
    reader = Reader(lake)
    groups = _groups(reader.run)
    assert {s: g for s, (g, _) in groups.items()} == {"a": "a", "b": "a", "c": "a", "d": "d", "e": "e"}
    assert sum(p for s, (g, p) in groups.items() if g == "a") == 1
    assert groups["d"] == ("d", True)
    assert reader.run("SELECT count(*) FROM duplicates").column(0)[0].as_py() == 2


def test_the_materialised_copy_recomputes_the_whole_group(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    writer = BatchWriter(lake)
    writer.add("tracks", _track("a", duration=240.0))  # the longest: preferred
    for sid in ("b", "c"):
        writer.add("tracks", _track(sid))
    writer.add("duplicate_pairs", _pair("b", "c"))
    writer.commit("test", "b and c")
    copy = Materialized(lake)
    assert _preferred(copy.run, "b") == "b"
    writer = BatchWriter(lake)
    writer.add("duplicate_pairs", _pair("a", "c"))  # a joins; b's row changes though no row names b
    writer.commit("test", "a and c")
    copy.refresh()
    assert copy.last_refresh_kind == "incremental"
    assert _groups(copy.run) == _groups(Reader(lake).run)
    assert _preferred(copy.run, "b") == "a"
    write_labels(lake, "c", {"duplicate_choice": "preferred"}, author="ana")  # a label on c changes a's row
    copy.refresh()
    assert _groups(copy.run) == _groups(Reader(lake).run)
    assert _preferred(copy.run, "a") == "c"
