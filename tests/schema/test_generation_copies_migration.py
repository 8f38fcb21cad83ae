"""Schema 12: a lake whose generations were added at schema 11 gains adherence's measurements
(loudness, genre, embedding) and the generation_copies table; its generations still read, with
the new columns NULL, at the new version and at the old one."""

from __future__ import annotations

from datetime import datetime, timezone

import lance
import pyarrow as pa

from songlake.schema import BatchWriter, Lake, connect, run, tables

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def test_a_schema_11_lake_migrates_and_its_generations_read_with_null_copy_checks(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:  # songlake at schema 11: no measurements, no copy checks
        patch.setattr(tables, "SCHEMA_VERSION", 11)
        added = {f.name for f in tables.ADHERENCE_V12_COLUMNS}
        patch.setitem(tables.TABLES, "adherence", pa.schema([f for f in tables.ADHERENCE if f.name not in added]))
        patch.delitem(tables.TABLES, "generation_copies")
        old = Lake.open(tmp_path / "lake", create=True)
        writer = BatchWriter(old)
        writer.add("generations", {"generation_id": "g1", "model": "clipgen", "conditioning": "{}", "added_at": NOW})
        writer.add("adherence", {"generation_id": "g1", "analysis_version": 3, "bpm": 120.0, "key": "C major",
                                 "analysis_failures": [], "adherence_reasons": [], "scored_at": NOW})
        written = writer.commit("generations", "one generation")
        assert old.schema_version() == 11 and not (old.tables_dir / "generation_copies.lance").exists()
    lake = Lake.open(old.root)
    assert lake.schema_version() == tables.SCHEMA_VERSION == 12
    assert [v.kind for v in lake.versions()][written:] == ["migrate"]
    assert lance.dataset(lake.uri("adherence")).schema.names == tables.ADHERENCE.names
    copies = lance.dataset(lake.uri("generation_copies"))
    assert copies.schema.names == tables.GENERATION_COPIES.names
    assert {name for index in copies.describe_indices() for name in index.field_names} == {"generation_id"}
    query = ("SELECT generation_id, key, loudness_lufs, primary_genre, embedding, copy_reference, nearest_song_id, "
             "copies_training, copy_reasons FROM generations")
    expected = [{"generation_id": "g1", "key": "C major", "loudness_lufs": None, "primary_genre": None,
                 "embedding": None, "copy_reference": None, "nearest_song_id": None, "copies_training": None,
                 "copy_reasons": ["copies_training: not checked (added before the copy check existed): "
                                  "run `songlake generations check-copies`"]}]
    assert run(connect(lake), query).to_pylist() == expected
    assert run(connect(lake, written), query).to_pylist() == expected  # the version before still reads
