"""A non-editable install into a fresh virtual environment works: the wheel carries every room
and the .sql files, and the command runs from anywhere."""

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    done = subprocess.run(list(map(str, args)), cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


def test_wheel_installs_into_a_fresh_venv_and_runs(tmp_path, song):
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", ROOT)
    wheel = next((tmp_path / "dist").glob("songlake-*.whl"))
    venv = tmp_path / "fresh"
    run(sys.executable, "-m", "venv", venv)
    fresh_python = venv / "bin" / "python"
    site = run(fresh_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    # The dependencies come from this environment (no network needed); songlake itself only from the wheel.
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(fresh_python, "-m", "pip", "install", "--no-deps", "--no-index", wheel)

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = run(fresh_python, "-c", "import songlake.schema, songlake.sql; print(songlake.schema.__file__)", cwd=work)
    assert where.stdout.startswith(str(venv)), "songlake must come from the fresh venv, not the checkout"
    assert "ingest" in run(venv / "bin" / "songlake", "--help", cwd=work).stdout

    from songlake.synth import encode

    (work / "one.mp3").write_bytes(encode(song.samples, "mp3"))
    run(venv / "bin" / "songlake", "ingest", work / "one.mp3", "--lake", work / "lake", "--workers", "1", cwd=work)
    out = run(venv / "bin" / "songlake", "sql", "select key from songs", "--lake", work / "lake", "--format", "csv", cwd=work)
    assert out.stdout.splitlines() == ["key", "C major"]
