import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from songlake.cli import main
from songlake.synth import encode, tag_id3


def songlake(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "240"}  # rich wraps messages at 80 columns when it does not know the width
    return subprocess.run([sys.executable, "-m", "songlake.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


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


# --- hostile and unlucky inputs: special files, a read-only lake, a locked lake -----------------

def test_fifos_devices_and_sockets_are_refused_without_being_read(write, song, tmp_path):
    import socket

    folder = write("mixed/good.mp3", encode(song.samples, "mp3")).parent
    os.mkfifo(folder / "pipe.mp3")  # no writer: opening it to read would block forever
    named_fifo = tmp_path / "named.fifo"
    os.mkfifo(named_fifo)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "socket.mp3"))
    lake = tmp_path / "lake"
    try:
        done = songlake("ingest", str(folder), str(named_fifo), "/dev/zero", "--lake", str(lake), "--workers", "1",
                        "--no-stems", timeout=300)  # a hang fails here instead of never returning
    finally:
        server.close()
    assert done.returncode == 1, done.stderr
    assert "1 ingested" in done.stderr and "4 refused" in done.stderr, done.stderr
    out = songlake("sql", "select filename, reason, file_sha256 from ingest_errors order by filename",
                   "--lake", str(lake), "--format", "json")
    rows = json.loads(out.stdout)
    assert {r["filename"]: r["reason"] for r in rows} == {
        "named.fifo": "cannot read the file: it is a named pipe (FIFO), not a regular file",
        "pipe.mp3": "cannot read the file: it is a named pipe (FIFO), not a regular file",
        "socket.mp3": "cannot read the file: it is a socket, not a regular file",
        "zero": "cannot read the file: it is a character device, not a regular file",
    }
    assert all(r["file_sha256"] is None for r in rows)
    for name in ("pipe.mp3", "named.fifo", "socket.mp3", "zero"):
        assert re.search(rf"refused {re.escape(name)}: cannot read the file: it is a", done.stderr), name


def _read_only(lake: Path) -> list[str]:
    """A command prefix that runs a command with lake really read-only: as root (whom file modes
    do not stop), a read-only bind mount in a private mount namespace, which vanishes with the
    command; otherwise the folder's write permission taken away. Writes then fail with EROFS or
    EACCES from the kernel, as on a read-only mount or a lake another user owns."""
    import shutil

    if os.geteuid() != 0:
        for path in [lake, *lake.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return []
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare: no honest way to make the lake read-only")
    prefix = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', str(lake)]
    probe = subprocess.run([*prefix, "touch", str(lake / "probe")], capture_output=True, text=True)
    if "Read-only file system" not in probe.stderr:
        pytest.skip(f"cannot mount the lake read-only here: {probe.stderr.strip()}")
    return prefix


def _one_line_error(done: subprocess.CompletedProcess, *words: str) -> None:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert all(w in lines[0] for w in words), lines[0]


def test_a_read_only_lake_is_read_and_writing_commands_say_why_they_cannot(folder, tmp_path):
    import shutil

    from songlake.jobs import ingest
    from songlake.schema import Lake

    lake = Lake.open(tmp_path / "lake", create=True)
    ingest(lake, [folder / "first.mp3"], workers=1, separate=False)
    shutil.rmtree(lake.staging.dir)  # as a lake copied without its lock files: readers must not make them
    sid = json.loads(songlake("sql", "select song_id from songs", "--lake", str(lake.root), "--format", "json").stdout)[0]["song_id"]
    prefix = _read_only(lake.root)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, sys.executable, "-m", "songlake.cli", *args, "--lake", str(lake.root)],
                              capture_output=True, text=True, timeout=300)

    try:
        count = run("sql", "select count(*) as n from songs", "--format", "json")
        assert count.returncode == 0 and json.loads(count.stdout) == [{"n": 1}], count.stderr
        assert run("versions").returncode == 0
        shown = run("show", sid)
        assert shown.returncode == 0 and json.loads(shown.stdout)["basic_info"]["title"] == "First", shown.stderr
        for args in (("status",), ("ingest", str(folder), "--workers", "1"), ("tag", "nope"),
                     ("serve", "--port", "1")):
            _one_line_error(run(*args), "cannot be written", f"songlake {args[0]}")
    finally:
        for path in [lake.root, *lake.root.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    assert Lake.open(lake.root).tags() == {}


def test_a_locked_lake_is_explained_and_still_read(folder, tmp_path):
    from songlake.jobs import ingest
    from songlake.schema import Lake

    lake = Lake.open(tmp_path / "lake", create=True)
    ingest(lake, [folder / "first.mp3"], workers=1, separate=False)
    env = {**os.environ, "SONGLAKE_LOCK_WAIT": "0.5"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "songlake.cli", *args, "--lake", str(lake.root)], env=env,
                              capture_output=True, text=True, timeout=300)

    with lake.staging.lock():  # as a committer that hangs would hold it
        for args in (("tag", "nope"), ("ingest", str(folder), "--workers", "1")):
            done = run(*args)
            assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
            assert "waiting up to 0.5 s" in done.stderr and f"process {os.getpid()}" in done.stderr
            assert "is locked" in done.stderr.splitlines()[-1]
        count = run("sql", "select count(*) as n from songs", "--format", "json")
        assert json.loads(count.stdout) == [{"n": 1}]
        assert run("status").returncode == 0
    assert run("tag", "now-free").returncode == 0
