"""The read gateway's materialised copy: the same names and rows as a Reader over the Lance
tables, and a refresh that reads only the catalog rows newer than the version it holds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from songlake import sql as sql_files
from songlake.schema import Lake, Reader
from songlake.schema.catalog import Catalog
from songlake.schema.labels import write_labels
from songlake.schema.materialized import Materialized

_spec = importlib.util.spec_from_file_location(
    "_synthetic_lake", Path(__file__).resolve().parents[2] / "bench" / "_synthetic_lake.py")
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)


@pytest.fixture
def lake(tmp_path) -> Lake:
    return synthetic.build(str(tmp_path / "lake"), 60)


def _rows(run, name: str) -> list[str]:
    """Every row of a view or table, order-free (as sorted text)."""
    return sorted(repr(sorted(row.items())) for row in run(f"SELECT * FROM {name}").to_pylist())


def test_the_copy_answers_every_public_name_as_the_reader_does(lake):
    labelled = Reader(lake).run("SELECT min(song_id) FROM songs").column(0)[0].as_py()
    write_labels(lake, labelled, {"primary_genre": "jazz"}, author="tester")
    copy = Materialized(lake)
    reader = Reader(lake, lake.version())
    assert copy.version == reader.version == lake.version()
    for name in (*sql_files.VIEWS, "lake_commits", "lake_tracks", "lake_labels"):
        assert _rows(copy.run, name) == _rows(reader.run, name), name
    assert len(copy.vectors()) == 60


class _Watched(Catalog):
    """The catalog, noting the filter of every read of its rows."""

    def __init__(self, uri: str, filters: list):
        super().__init__(uri)
        self.filters = filters

    def dataset(self):
        ds, filters = super().dataset(), self.filters

        class Noting:
            def __getattr__(self, name):
                return getattr(ds, name)

            def to_table(self, *args, **kwargs):
                filters.append(kwargs.get("filter"))
                return ds.to_table(*args, **kwargs)

        return Noting()


def test_a_refresh_reads_only_the_newer_catalog_rows(lake):
    copy = Materialized(lake)
    held = copy.version
    synthetic.build(str(lake.root), 5, seed=1)
    synthetic.build(str(lake.root), 5, seed=2)
    filters: list = []
    lake.catalog = _Watched(lake.catalog.uri, filters)
    assert copy.refresh() == held + 2 and copy.last_refresh_kind == "incremental"
    assert filters == [f"version > {held} AND version <= {held + 2}"]
    versions = copy.run("SELECT version FROM lake_commits ORDER BY version").column(0).to_pylist()
    assert versions == list(range(1, held + 3))
    assert copy.run("SELECT count(*) FROM songs").column(0)[0].as_py() == 70 and len(copy.vectors()) == 70


def test_a_background_compaction_leaves_the_refresh_incremental(lake):
    from songlake.schema import BatchWriter
    from songlake.schema.optimize import compact_small

    copy = Materialized(lake)
    for n in range(4):  # small commits, then a compaction merges them, then one more commit
        writer = BatchWriter(lake)
        for table, row in synthetic._song(f"extra{n:02d}", 1000 + n, synthetic.np.random.default_rng(n),
                                          synthetic.datetime.now(synthetic.timezone.utc)).items():
            writer.add(table, row)
        writer.commit("ingest", f"extra song {n}")
    assert compact_small(lake, threshold=2)  # rewrote fragments: the rows are the same
    writer = BatchWriter(lake)
    writer.add("labels", {"song_id": "extra00", "field": "title", "value": '"Renamed"', "author": "t",
                          "labeled_at": synthetic.datetime.now(synthetic.timezone.utc)})
    writer.commit("label", "a label after the compaction")
    assert copy.refresh() == lake.version() and copy.last_refresh_kind == "incremental"
    reader = Reader(lake, lake.version())
    for name in ("songs", "lake_tracks", "lake_analysis", "lake_commits"):
        assert _rows(copy.run, name) == _rows(reader.run, name), name
    assert copy.run("SELECT title FROM songs WHERE song_id = 'extra00'").to_pylist() == [{"title": "Renamed"}]
