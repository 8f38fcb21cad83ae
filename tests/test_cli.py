import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from songlake.cli import main
from songlake.synth import encode, tag_id3


def songlake(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "songlake.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def folder(write, song, other_song):
    first = write("a/first.mp3", encode(song.samples, "mp3"))
    tag_id3(first, title="First", artist="Ann", year="1999")
    second = write("a/second.mp3", encode(other_song.samples, "mp3"))
    tag_id3(second, title="Second", artist="Bo", year="2011")
    return first.parent


def test_the_readme_first_command_runs_the_demo(tmp_path):
    lake = tmp_path / "songlake-data"
    done = songlake("ingest", "--lake", str(lake), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "6 ingested" in done.stderr and "lake version" in done.stderr
    out = songlake("sql", "select title, artist, year, bpm, key, duration from songs order by bpm",
                   "--lake", str(lake), "--format", "json", cwd=tmp_path)
    rows = json.loads(out.stdout)
    assert len(rows) == 6 and all(r["title"] and r["artist"] and r["year"] and r["key"] for r in rows)
    assert [r["bpm"] for r in rows] == sorted(r["bpm"] for r in rows)
    assert all(25 < r["duration"] < 40 for r in rows)


def test_exit_status(cli, folder, write, tmp_path):
    lake = str(tmp_path / "lake")
    assert cli("ingest", str(folder), "--lake", lake, "--workers", "1").exit_code == 0
    assert cli("ingest", str(folder), "--lake", lake, "--workers", "1").exit_code == 0  # already there
    bad = write("bad/broken.mp3", b"\x00" * 1000)
    result = cli("ingest", str(bad.parent), "--lake", lake, "--workers", "1")
    assert result.exit_code == 1 and "broken.mp3" in result.output and "not audio" in result.output
    assert cli("ingest", str(tmp_path / "missing"), "--lake", lake).exit_code == 2
    assert cli("ingest", str(folder), "--lake", lake, "--workers", "0").exit_code == 2


def test_sql_formats(cli, folder, tmp_path):
    lake = str(tmp_path / "lake")
    cli("ingest", str(folder), "--lake", lake, "--workers", "1")
    query = "select title, year, quality_flags from songs order by title"
    as_json = json.loads(cli("sql", query, "--lake", lake, "--format", "json").output)
    assert [r["title"] for r in as_json] == ["First", "Second"] and as_json[0]["year"] == 1999
    lines = cli("sql", query, "--lake", lake, "--format", "jsonl").output.splitlines()
    assert [json.loads(line)["title"] for line in lines] == ["First", "Second"]
    rows = list(csv.DictReader(io.StringIO(cli("sql", query, "--lake", lake, "--format", "csv").output)))
    assert rows[1]["title"] == "Second" and json.loads(rows[1]["quality_flags"]) == ["shorter_than_2min"]
    table = cli("sql", query, "--lake", lake).output
    assert "First" in table and "2 rows" in table
    assert "1 row (cut" in cli("sql", query, "--lake", lake, "--max-rows", "1").output


def test_sql_errors_are_messages_not_tracebacks(cli, folder, tmp_path):
    lake = str(tmp_path / "lake")
    cli("ingest", str(folder), "--lake", lake, "--workers", "1")
    result = cli("sql", "select nonsense from songs", "--lake", lake)
    assert result.exit_code == 1 and "nonsense" in result.output and "Traceback" not in result.output
    result = cli("sql", "select 1", "--lake", str(tmp_path / "nolake"))
    assert result.exit_code == 1 and "no songlake lake" in result.output


def test_versions_tags_and_time_travel(cli, folder, write, song, tmp_path):
    lake = str(tmp_path / "lake")
    from songlake.schema import Lake

    cli("ingest", str(folder / "first.mp3"), "--lake", lake, "--workers", "1")
    assert cli("tag", "first-cut", "--lake", lake).exit_code == 0
    first_cut = Lake.open(lake).version()
    cli("ingest", str(folder), "--lake", lake, "--workers", "1")
    count = "select count(*) as n from songs"
    assert json.loads(cli("sql", count, "--lake", lake, "--format", "json").output) == [{"n": 2}]
    assert json.loads(cli("sql", count, "--lake", lake, "--version", str(first_cut), "--format", "json").output) == [{"n": 1}]
    assert json.loads(cli("sql", count, "--lake", lake, "--version", "first-cut", "--format", "json").output) == [{"n": 1}]
    history = cli("versions", "--lake", lake).output
    assert "first-cut" in history and "init" in history and "ingested 1 songs" in history
    result = cli("sql", count, "--lake", lake, "--version", "999")
    assert result.exit_code == 1 and f"versions 1 to {Lake.open(lake).version()}" in result.output


def _version_column(output: str) -> list[int]:
    """The version numbers of a `songlake versions` table, top to bottom."""
    return [int(m.group(1)) for m in re.finditer(r"^\W*(\d+)\s+\W?\s*\d{4}-\d\d-\d\d ", output, re.MULTILINE)]


def test_versions_are_paged_newest_first(tmp_path):
    from songlake.schema import Lake

    lake = Lake.open(tmp_path / "lake", create=True)
    for n in range(2, 31):  # versions 2..30 after the lake's first
        lake.record("label", f"change {n}")
    lake.tag("checkpoint", 12)
    runner = CliRunner()

    def versions(*args: str):
        result = runner.invoke(main, ["versions", "--lake", str(lake.root), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    first = versions()
    assert _version_column(first.stdout) == list(range(30, 10, -1))  # the newest 20
    assert "songlake versions --before 11" in first.stderr
    assert "checkpoint" in first.stdout and "change 30" in first.stdout
    assert _version_column(versions("--limit", "5").stdout) == [30, 29, 28, 27, 26]
    back = versions("--limit", "5", "--before", "26")
    assert _version_column(back.stdout) == [25, 24, 23, 22, 21] and "--before 21" in back.stderr
    last = versions("--before", "4")
    assert _version_column(last.stdout) == [3, 2, 1] and "init" in last.stdout and "older" not in last.stderr
    assert "no versions before 1" in versions("--before", "1").stderr
    assert runner.invoke(main, ["versions", "--lake", str(lake.root), "--limit", "0"]).exit_code == 2


def test_similar(cli, folder, write, song, tmp_path):
    lake = str(tmp_path / "lake")
    write("a/near-duplicate.mp3", encode(song.samples, "mp3", kbps=160))  # same music, other encoding
    cli("ingest", str(folder), "--lake", lake, "--workers", "1")
    first = json.loads(cli("sql", "select song_id from songs where title = 'First'", "--lake", lake, "--format", "json").output)[0]
    hits = json.loads(cli("similar", first["song_id"], "-k", "2", "--lake", lake, "--format", "json").output)
    assert [h["rank"] for h in hits] == [1, 2]
    assert hits[0]["title"] is None and hits[0]["similarity"] > 0.99  # the re-encode comes first
    assert hits[1]["title"] == "Second" and hits[1]["similarity"] < hits[0]["similarity"]
    result = cli("similar", "0" * 32, "--lake", lake)
    assert result.exit_code == 1 and "no song" in result.output


def test_show_prints_the_nested_document(cli, folder, tmp_path):
    lake = str(tmp_path / "lake")
    cli("ingest", str(folder), "--lake", lake, "--workers", "1")
    first = json.loads(cli("sql", "select song_id from songs where title = 'First'", "--lake", lake, "--format", "json").output)[0]
    document = json.loads(cli("show", first["song_id"], "--lake", lake).output)
    assert document["basic_info"]["title"] == "First" and document["basic_info"]["year"] == 1999
    theory = document["music_theory"]
    assert theory["harmonic_analysis"]["key"] == "C major"
    assert len(theory["harmonic_analysis"]["roman_numerals"]) == len(theory["harmonic_analysis"]["chords"])
    assert theory["rhythmic_analysis"]["time_signature"] == "4/4"
    assert theory["genre_analysis"]["primary_genre"] and document["structure"]["sections"]
    assert document["audio_stems"]["status"] == "unavailable"  # no Demucs weights on this machine
    result = cli("show", "f" * 32, "--lake", lake)
    assert result.exit_code == 1 and "no song" in result.output
