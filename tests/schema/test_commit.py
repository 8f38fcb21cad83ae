"""The committer: staged sets become one version, concurrent committers lose nothing, a killed
committer loses no fragment and doubles none, and versions survive compaction."""

import json
import multiprocessing
import subprocess
import sys
import textwrap
from datetime import datetime, timezone

import lance
import pytest

from songlake.schema import BatchWriter, Lake, connect, run
from songlake.schema.catalog import COMPACT_AT
from songlake.schema.optimize import compact_small, optimize


def _track(song_id: str) -> dict:
    return {"song_id": song_id, "file_sha256": f"sha-{song_id}", "filename": f"{song_id}.mp3", "title": song_id,
            "quality_flags": [], "ingested_at": datetime.now(timezone.utc)}


def _stage(lake: Lake, *song_ids: str, meta: dict | None = None) -> str:
    writer = BatchWriter(lake)
    for sid in song_ids:
        writer.add("tracks", _track(sid))
    return writer.stage("ingest", f"{len(song_ids)} songs", meta=meta or {"songs": list(song_ids)})


def _titles(lake: Lake, version=None) -> list[str]:
    return [r["title"] for r in run(connect(lake, version), "SELECT title FROM lake_tracks ORDER BY title").to_pylist()]


@pytest.fixture
def lake(tmp_path):
    return Lake.open(tmp_path / "lake", create=True)


def test_staged_sets_are_invisible_until_one_commit_makes_them_one_version(lake):
    _stage(lake, "a", "b")
    _stage(lake, "c")
    assert _titles(lake) == [] and lake.version() == 1 and lake.pending() == 2
    seen = []
    version = lake.commit_staged(on_committed=lambda number, metas: seen.append((number, metas)))
    assert version == lake.version() == 2 and lake.pending() == 0
    assert _titles(lake) == ["a", "b", "c"]
    assert seen == [(2, [{"songs": ["a", "b"]}, {"songs": ["c"]}])]
    head = lake.head()
    assert head.kind == "ingest" and head.counts == {"tracks": 3} and "2 batches" in head.message


def test_min_age_waits_for_more_sets_and_a_held_lock_is_not_waited_for(lake):
    _stage(lake, "a")
    assert lake.commit_staged(min_age=60) is None and lake.pending() == 1
    with lake.staging.lock():  # another committer (this thread re-enters; another process would not)
        pass
    assert lake.commit_staged(min_age=0) == 2


def _committer(root: str, worker: int, sets: int) -> None:
    lake = Lake(root)
    for n in range(sets):
        _stage(lake, f"w{worker}-{n}")
        if n % 2:
            lake.commit_staged(wait=False)
        else:  # direct commits interleave with the staged ones
            writer = BatchWriter(lake)
            writer.add("tracks", _track(f"direct-w{worker}-{n}"))
            writer.commit("label", "direct")


def test_many_processes_commit_at_once_and_lose_nothing(lake):
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_committer, args=(str(lake.root), w, 6)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    while lake.pending():
        lake.commit_staged(wait=True)
    expected = sorted([f"w{w}-{n}" for w in range(4) for n in range(6)]
                      + [f"direct-w{w}-{n}" for w in range(4) for n in range(0, 6, 2)])
    assert _titles(lake) == expected  # every row once
    history = lake.versions()
    assert [v.version for v in history] == list(range(1, len(history) + 1))  # no gaps, no repeats
    for older, newer in zip(history, history[1:]):  # each version contains the one before it
        assert all(newer.table_versions[t] >= n for t, n in older.table_versions.items())
    assert len(history) <= 1 + 12 + 12  # direct commits, plus at most one per staged set


_CRASH = textwrap.dedent("""
    import os, sys
    from songlake.schema import Lake, lake as lake_module
    from songlake.schema.catalog import Catalog
    from songlake.schema._commit import Staging
    where = sys.argv[2]
    if where == "before_tables":
        lake_module._append = lambda *a, **k: os._exit(9)
    elif where == "between_tables":
        real, calls = lake_module._append, []
        def once(*a, **k):
            calls.append(1)
            if len(calls) == 2:
                os._exit(9)
            return real(*a, **k)
        lake_module._append = once
    elif where == "before_catalog":
        Catalog.append = lambda self, row: os._exit(9)
    elif where == "before_follow_ups":
        pass
    def die(number, metas):
        os._exit(9)
    Lake(sys.argv[1]).commit_staged(on_committed=die if where == "before_follow_ups" else None)
    """)


@pytest.mark.parametrize("where", ["before_tables", "between_tables", "before_catalog", "before_follow_ups"])
def test_a_killed_committer_loses_no_fragment_and_doubles_none(lake, where):
    writer = BatchWriter(lake)
    for sid in ("a", "b"):
        writer.add("tracks", _track(sid))
        writer.add("stage_runs", {"song_id": sid, "stage": "ingest", "status": "done",
                                  "finished_at": datetime.now(timezone.utc)})
    writer.stage("ingest", "two songs", meta={"release": ["a", "b"]})
    _stage(lake, "c")
    died = subprocess.run([sys.executable, "-c", _CRASH, str(lake.root), where], capture_output=True, text=True)
    assert died.returncode == 9, died.stderr
    assert lake.staging.intent() is not None  # the commit it left half done
    if where != "before_follow_ups":
        assert _titles(lake) == []  # nothing visible that the catalog does not record
    seen = []
    version = lake.commit_staged(wait=True, on_committed=lambda number, metas: seen.extend(metas))
    assert version == lake.version() == 2  # one version, recorded once
    assert _titles(lake) == ["a", "b", "c"]  # nothing lost, nothing doubled
    runs = run(connect(lake), "SELECT count(*) AS n FROM lake_stage_runs").to_pylist()
    assert runs == [{"n": 2}]
    assert {"release": ["a", "b"]} in seen  # the follow-ups ran (again, for before_follow_ups)
    assert lake.pending() == 0 and lake.staging.intent() is None


def test_versions_and_tags_survive_compaction_of_the_catalog_and_the_tables(lake):
    for n in range(COMPACT_AT + 8):  # enough commits for the catalog to compact itself
        writer = BatchWriter(lake)
        writer.add("tracks", _track(f"s{n:03d}"))
        writer.commit("ingest", f"song {n}")
        if n == 5:
            lake.tag("six-songs")
    assert len(lake.catalog.dataset().get_fragments()) < COMPACT_AT
    before = {v: _titles(lake, v) for v in (2, 7, 20, lake.version())}
    report = optimize(lake, cleanup=False)
    assert report.compacted["tracks"][1] == 1
    lake.catalog.compact()
    assert len(lake.catalog.dataset().get_fragments()) <= 2
    assert {v: _titles(lake, v) for v in before} == before  # same rows at every version
    assert _titles(lake, "six-songs") == [f"s{n:03d}" for n in range(6)]
    assert lake.resolve("six-songs") == 7 and lake.history(3)[0].version == lake.version()
    assert [v.version for v in lake.history(3, before=10)] == [9, 8, 7]
    assert lake.history(3, before=10)[2].tags == ("six-songs",)


def test_background_compaction_merges_small_fragments_and_keeps_lookups_indexed(lake):
    from songlake.schema import lookup

    for n in range(20):
        _stage(lake, f"s{n:02d}")
        lake.commit_staged()
    assert len(lance.dataset(lake.uri("tracks")).get_fragments()) == 20
    merged = compact_small(lake, threshold=16)
    assert merged["tracks"] == (20, 1)
    assert lookup.present(lake, ["s03", "s19", "nope"]) == {"s03", "s19"}  # the version before the merge
    lake.record("optimize", "after compaction")  # the next version records the merged table
    assert len(lake.table_at("tracks", lake.head()).get_fragments()) == 1
    assert lookup.present(lake, ["s03", "s19", "nope"]) == {"s03", "s19"}
    stats = lance.dataset(lake.uri("tracks")).describe_indices()
    assert {n for i in stats for n in i.field_names} >= {"song_id", "file_sha256"}


def test_a_schema_5_lake_with_tags_and_cleaned_versions_migrates(tmp_path):
    from songlake.schema import tables

    root = tmp_path / "lake"
    tables_dir = root / "tables"
    tables_dir.mkdir(parents=True)
    versions = {name: lance.write_dataset(schema.empty_table(), str(tables_dir / f"{name}.lance"), schema=schema).version
                for name, schema in tables.TABLES.items()}

    def legacy(kind, changed):
        row = {"committed_at": datetime.now(timezone.utc), "kind": kind, "message": kind, "schema_version": 5,
               "table_versions": json.dumps(changed), "counts": "{}"}
        import pyarrow as pa
        data = pa.Table.from_pylist([row], schema=tables.COMMITS)
        uri = str(tables_dir / "commits.lance")
        mode = "append" if (tables_dir / "commits.lance").exists() else "create"
        return lance.write_dataset(data, uri, schema=tables.COMMITS, mode=mode)

    legacy("init", versions)
    for n in range(4):  # four ingests; each legacy row lists only the table it changed
        import pyarrow as pa
        ds = lance.write_dataset(pa.Table.from_pylist([_track(f"old{n}")], schema=tables.TRACKS),
                                 str(tables_dir / "tracks.lance"), mode="append")
        catalog = legacy("ingest", {"tracks": ds.version})
        if n == 1:  # version 3 tagged, as songlake 5 did: on the catalog and every table
            catalog.tags.create("kept", catalog.version)
    catalog.cleanup_old_versions(versions=[2], error_if_tagged_old_versions=False)  # optimize removed version 2

    lake = Lake.open(root)
    assert lake.schema_version() == tables.SCHEMA_VERSION and not (tables_dir / "commits.lance").exists()
    history = lake.versions()
    steps = tables.SCHEMA_VERSION - 5  # one lake version per migration step from schema 5
    assert [v.version for v in history] == list(range(1, 6 + steps))  # the history reads whole, numbers kept
    assert [v.kind for v in history] == ["init", "ingest", "ingest", "ingest", "ingest"] + ["migrate"] * steps
    assert lake.resolve("kept") == 3 and _titles(lake, "kept") == ["old0", "old1"]
    assert _titles(lake, 4) == ["old0", "old1", "old2"]
    assert history[3].table_versions["tracks"] == history[2].table_versions["tracks"] + 1
    assert history[3].table_versions["labels"] == versions["labels"]  # filled in from earlier rows
    with pytest.raises(Exception, match="removed"):
        lake.state(2)
    assert _titles(lake) == ["old0", "old1", "old2", "old3"]
