import json
from datetime import datetime, timedelta, timezone

import pytest

from songlake.schema import BatchWriter, Lake, connect, run
from songlake.schema.labels import write_labels
from songlake.schema.report import (TRAINING_MEASUREMENT, collection_report, record_training_throughput,
                                    recorded_training_throughput, training_approach)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
# 20 songs: pop 5 (25 %), rock 4 (20 %), hip-hop 3 (15 %), jazz 2 (10 %), electronic 2 (10 %),
# other 4 (20 %: two classical, two without a genre)
GENRES = (["pop"] * 5 + ["rock"] * 4 + ["hip-hop"] * 3 + ["jazz"] * 2 + ["electronic"] * 2 + ["classical"] * 2
          + [None] * 2)
# 16 years: 1960s-80s 4 (25 %), 1990s-2000s 5 (31.25 %), 2010s 6 (37.5 %), 2020s+ 1 (6.25 %), 4 unknown
YEARS = [1955, 1970, 1985, 1989, 1990, 1995, 2000, 2005, 2009, 2010, 2012, 2014, 2016, 2018, 2019, 2024] + [None] * 4


def _lake(root) -> Lake:
    """20 songs of 180 s with genres, years, quality measurements and the stages' timings."""
    lake = Lake.open(root, create=True)
    writer = BatchWriter(lake)
    for i, (genre, year) in enumerate(zip(GENRES, YEARS)):
        sid = f"s{i:03d}"
        writer.add("tracks", {
            "song_id": sid, "file_sha256": sid * 4, "filename": f"{sid}.mp3", "title": f"Song {i}",
            "format": "flac" if i == 0 else "mp3", "bitrate_kbps": 128 if i in (1, 2) else 320,
            "duration": 100.0 if i == 3 else 180.0, "year": year, "artist": "A", "license": "CC-BY",
            "suspected_transcode": i == 4, "clipping_ratio": 0.01 if i == 5 else 0.0,
            "quality_flags": [], "ingested_at": T0})
        writer.add("genres", {"song_id": sid, "model": "prior", "primary_genre": genre,
                              "genre_confidence": 0.9 if genre else 0.0, "tag_suspicious": False, "predicted_at": T0})
        if i < 10:  # ten songs analysed in 9 s each, separated in 18 s on cuda:0, embedded untimed
            writer.add("stage_runs", _run(sid, "analyze", 9.0))
            writer.add("stage_runs", _run(sid, "embed", 0.0))
            writer.add("stage_runs", _run(sid, "separate", 17.0))
            writer.add("separations", {"song_id": sid, "model": "htdemucs", "status": "done", "device": "cuda:0",
                                       "seconds": 18.0, "duration": 180.0, "separated_at": T0})
    writer.add("stage_runs", _run("s010", "analyze", 50.0, status="failed"))  # failures do not count
    writer.commit("test", "songs")
    return lake


def _run(sid: str, stage: str, seconds: float, status: str = "done") -> dict:
    return {"song_id": sid, "stage": stage, "status": status, "stage_version": "v", "worker": "w", "attempts": 1,
            "seconds": seconds, "finished_at": T0 + timedelta(minutes=1)}


@pytest.fixture(scope="module")
def report_lake(tmp_path_factory) -> Lake:
    return _lake(tmp_path_factory.mktemp("report") / "lake")


@pytest.fixture(scope="module")
def report(report_lake) -> dict:
    return collection_report(connect(report_lake), report_lake)


def test_the_report_has_the_documented_keys_and_is_json(report):
    assert set(report) == {"lake_version", "generated_at", "songs", "audio_hours", "genre_balance", "genre_unknown",
                           "era_balance", "era_unknown_year", "quality", "training", "estimates", "labels",
                           "annotation_queue"}
    assert set(report["estimates"]) == {"storage_bytes", "storage_by_table", "bytes_per_song", "bytes_per_audio_hour",
                                        "storage_for", "processing", "training"}
    json.dumps(report)
    assert report["songs"] == 20
    assert report["audio_hours"] == pytest.approx((19 * 180 + 100) / 3600, abs=1e-3)


def test_genre_balance_against_the_targets(report):
    got = {g["genre"]: (g["songs"], g["share"], g["status"]) for g in report["genre_balance"]}
    assert list(got) == ["pop", "rock", "hip-hop", "jazz", "electronic", "other"]
    assert got == {"pop": (5, 0.25, "ok"), "rock": (4, 0.2, "ok"), "hip-hop": (3, 0.15, "ok"),
                   "jazz": (2, 0.1, "ok"), "electronic": (2, 0.1, "ok"), "other": (4, 0.2, "over")}
    assert report["genre_balance"][0] == {"genre": "pop", "songs": 5, "share": 0.25, "target_min": 0.25,
                                         "target_max": 0.3, "status": "ok"}
    assert report["genre_unknown"] == 2


def test_era_balance_against_the_targets(report):
    got = {e["era"]: (e["songs"], e["share"], e["target"], e["status"]) for e in report["era_balance"]}
    assert got == {"1960s-80s": (4, 0.25, 0.2, "over"), "1990s-2000s": (5, 0.3125, 0.3, "ok"),
                   "2010s": (6, 0.375, 0.4, "ok"), "2020s+": (1, 0.0625, 0.1, "under")}
    assert report["era_unknown_year"] == 4


def test_quality_checks(report):
    quality = report["quality"]
    checks = {c["name"]: (c["passed"], c["failed"], c["unknown"]) for c in quality["checks"]}
    assert checks == {"bitrate >= 320 kbps": (18, 2, 0), "2-6 minutes": (19, 1, 0),
                      "no suspected transcode": (19, 1, 0), "not clipped": (19, 1, 0)}
    assert quality["compliant"] == 15 and quality["share"] == 0.75


def test_quality_compliance_view_names_the_failed_checks(report_lake):
    rows = run(connect(report_lake), "SELECT song_id, compliant, failed_checks FROM quality_compliance "
                                     "WHERE NOT compliant").to_pylist()
    assert rows == [
        {"song_id": "s001", "compliant": False, "failed_checks": ["bitrate >= 320 kbps"]},
        {"song_id": "s002", "compliant": False, "failed_checks": ["bitrate >= 320 kbps"]},
        {"song_id": "s003", "compliant": False, "failed_checks": ["2-6 minutes"]},
        {"song_id": "s004", "compliant": False, "failed_checks": ["no suspected transcode"]},
        {"song_id": "s005", "compliant": False, "failed_checks": ["not clipped"]},
    ]


def test_processing_estimates_come_from_the_recorded_seconds(report):
    processing = report["estimates"]["processing"]
    stages = processing["stages"]
    analysed = 9 * 180 + 100  # audio seconds of the ten analysed songs (s003 is 100 s long)
    assert stages["analyze"] == {"measured": True, "source": "stage_runs", "runs": 10,
                                 "audio_hours": round(analysed / 3600, 4),
                                 "seconds_per_audio_hour": round(90 / analysed * 3600, 2)}
    # separation comes from the separations table (seconds against the audio separated)
    assert stages["separate"]["source"] == "separations" and stages["separate"]["seconds_per_audio_hour"] == 360.0
    assert stages["separate"]["devices"] == ["cuda:0"]
    assert stages["embed"] == {"measured": False,
                               "why": "the 10 finished 'embed' runs in stage_runs record no processing time"}
    assert not stages["ingest"]["measured"] and "ingest" in stages["ingest"]["why"]
    assert processing["not_measured"] == ["ingest", "embed", "genre"]
    assert processing["measured"] is True
    total = round(90 / analysed * 3600, 2) + 360.0
    assert processing["seconds_per_audio_hour"] == pytest.approx(total)
    mean = (19 * 180 + 100) / 20
    assert processing["mean_song_seconds"] == mean
    assert processing["seconds_per_song"] == pytest.approx(total * mean / 3600, abs=1e-3)
    assert processing["songs_per_hour"] == pytest.approx(3600 / (total * mean / 3600), abs=0.01)
    assert processing["hours_for"][1000] == pytest.approx(1000 * total * mean / 3600 / 3600, abs=0.01)


def test_storage_is_the_lake_folder_scaled_per_song(report, report_lake):
    estimates = report["estimates"]
    on_disk = sum(p.stat().st_size for p in report_lake.root.rglob("*") if p.is_file())
    assert estimates["storage_bytes"] == on_disk > 0
    assert estimates["bytes_per_song"] == round(on_disk / 20)
    assert estimates["storage_for"] == {n: round(on_disk / 20 * n) for n in (1000, 10000, 100000)}
    assert set(estimates["storage_by_table"]) >= {"tracks", "labels", "catalog"}


def test_training_is_unmeasured_until_a_throughput_is_recorded(tmp_path):
    lake = _lake(tmp_path / "lake")
    training = collection_report(connect(lake), lake)["estimates"]["training"]
    assert training["audio_hours"] == pytest.approx((19 * 180 + 100) / 3600, abs=1e-3)
    assert training["gpu_hours_per_epoch"]["measured"] is False
    assert "measurements/training.json" in training["gpu_hours_per_epoch"]["why"]
    record_training_throughput(lake, audio_seconds=36_000.0, gpu_seconds=600.0, gpu="H200", model="tiny")
    throughput = recorded_training_throughput(lake)
    assert throughput["measured"] is True and throughput["audio_seconds_per_gpu_second"] == 60.0
    assert throughput["gpu"] == "H200"
    training = collection_report(connect(lake), lake)["estimates"]["training"]
    audio_hours = (19 * 180 + 100) / 3600
    assert training["gpu_hours_per_epoch"] == pytest.approx(audio_hours / 60, abs=1e-3)
    mean = (19 * 180 + 100) / 20
    assert training["gpu_hours_per_epoch_for"][10000] == pytest.approx(10000 * mean / 3600 / 60, abs=1e-3)


def test_a_malformed_training_measurement_says_what_is_wrong(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    path = lake.root / TRAINING_MEASUREMENT
    path.parent.mkdir(parents=True)
    path.write_text('{"audio_seconds_per_gpu_second": -1}')
    assert "not a positive number" in recorded_training_throughput(lake)["why"]
    path.write_text("not json")
    assert "is not a JSON object" in recorded_training_throughput(lake)["why"]
    with pytest.raises(ValueError, match="positive durations"):
        record_training_throughput(lake, audio_seconds=0, gpu_seconds=10)


def test_an_empty_lake_reports_what_it_cannot_measure(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    report = collection_report(connect(lake), lake)
    json.dumps(report)
    assert report["songs"] == 0 and report["audio_hours"] == 0.0
    assert all(g["songs"] == 0 and g["share"] == 0.0 and g["status"] == "under" for g in report["genre_balance"])
    assert report["quality"] == {"compliant": 0, "share": 0.0, "checks": [
        {"name": name, "passed": 0, "failed": 0, "unknown": 0}
        for name in ("bitrate >= 320 kbps", "2-6 minutes", "no suspected transcode", "not clipped")]}
    estimates = report["estimates"]
    assert estimates["storage_bytes"] > 0
    assert estimates["bytes_per_song"]["measured"] is False and "no songs" in estimates["bytes_per_song"]["why"]
    assert estimates["storage_for"]["measured"] is False
    assert estimates["processing"]["measured"] is False and "no stage" in estimates["processing"]["why"]
    assert report["training"] == {"approach": "not enough songs", "songs": 0,
                                  "description": report["training"]["description"],
                                  "next": {"approach": "fine-tuning", "songs_needed": 1000}}
    assert report["labels"] == {"songs": 0, "changes": 0, "by_field": {}} and report["annotation_queue"] == 0


@pytest.mark.parametrize("songs, approach, following", [
    (999, "not enough songs", {"approach": "fine-tuning", "songs_needed": 1}),
    (1000, "fine-tuning", {"approach": "hybrid", "songs_needed": 4000}),
    (5000, "hybrid", {"approach": "custom training", "songs_needed": 5000}),
    (10000, "custom training", None),
    (250000, "custom training", None),
])
def test_training_approach_by_collection_size(songs, approach, following):
    got = training_approach(songs)
    assert (got["approach"], got["songs"], got["next"]) == (approach, songs, following)


def test_labels_count_and_move_the_balance(tmp_path):
    lake = _lake(tmp_path / "lake")
    write_labels(lake, "s018", {"primary_genre": "pop", "year": 2021}, author="ana")  # was unknown genre and year
    write_labels(lake, "s019", {"artist": "B"}, author="ana")
    write_labels(lake, "s019", {"artist": "C"}, author="ben")
    report = collection_report(connect(lake), lake)
    assert report["labels"] == {"songs": 2, "changes": 4, "by_field": {"artist": 1, "primary_genre": 1, "year": 1}}
    pop = report["genre_balance"][0]
    assert (pop["genre"], pop["songs"], pop["share"], pop["status"]) == ("pop", 6, 0.3, "ok")
    assert report["genre_unknown"] == 1 and report["era_unknown_year"] == 3
    assert report["lake_version"] == lake.version()
