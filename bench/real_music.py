"""Real recordings for the benches: free-licensed music from Debian's game-music packages.

    .venv/bin/python bench/real_music.py [--cache build/real] [--debs DIR] [--rubberband]

No recording is committed. This script fetches the packages with `apt-get download` (no root
needed), unpacks them with `dpkg -x` and copies the chosen tracks into the cache folder, one folder
per package with the package's `copyright` file beside its tracks, and writes `manifest.json`:
each track's file, title, package, package version, licence (as the package's debian/copyright
states it) and a short description of its style. A second run finds the cache and fetches nothing.

The set was chosen before any analysis was run on it, not by how well songlake does on it: five
orchestral game scores (Wesnoth), three electronic racing-game tracks (Extreme Tux Racer) and two
electronic game tunes (Frozen Bubble), all at least 54 s long.
`RECORDINGS` marks ten as the scored set (bench/invariance.py uses these by default) and two as
extras.

`--rubberband` also fetches Rubber Band (Debian's rubberband-cli and librubberband2, GPL-2+), the
time-stretcher and pitch-shifter bench/invariance.py prefers, into the cache's tools/ folder;
`rubberband()` finds it there or on PATH.

Without apt-get or without access to a Debian archive, the script says so and what to do:
download the packages named on a machine that has them (`apt-get download PACKAGE`, Debian 12
"bookworm" versions or later) and run this script with `--debs DIR` pointing at the .deb files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_CACHE = Path("build/real")


@dataclass(frozen=True)
class Recording:
    name: str  # file name in the cache, without folder
    package: str
    path: str  # inside the package
    style: str
    scored: bool = True  # in the ten-recording set the invariance bench scores


_WESNOTH = "usr/share/games/wesnoth/1.16/data/core/music/"
_ETR = "usr/share/games/etr/music/"
_FROZEN = "usr/share/games/frozen-bubble/snd/"
# Styles as the games present their music (no one has listened for drums here): Wesnoth's
# scores are orchestral, some with choir, percussion or folk instruments; the racing game's and
# Frozen Bubble's are electronic.
_ORCHESTRAL = "orchestral game score"
_ELECTRONIC = "electronic racing-game music"
_GAME_TUNE = "electronic game tune"
RECORDINGS = (
    Recording("elvish-theme.ogg", "wesnoth-1.16-music", _WESNOTH + "elvish-theme.ogg", _ORCHESTRAL),
    Recording("love_theme.ogg", "wesnoth-1.16-music", _WESNOTH + "love_theme.ogg", _ORCHESTRAL),
    Recording("wanderer.ogg", "wesnoth-1.16-music", _WESNOTH + "wanderer.ogg", _ORCHESTRAL),
    Recording("nunc_dimittis.ogg", "wesnoth-1.16-music", _WESNOTH + "nunc_dimittis.ogg", _ORCHESTRAL),
    Recording("battle.ogg", "wesnoth-1.16-music", _WESNOTH + "battle.ogg", _ORCHESTRAL),
    Recording("race1-jt.ogg", "extremetuxracer-data", _ETR + "race1-jt.ogg", _ELECTRONIC),
    Recording("spunkyrace-ks.ogg", "extremetuxracer-data", _ETR + "spunkyrace-ks.ogg", _ELECTRONIC),
    Recording("freezingpoint.ogg", "extremetuxracer-data", _ETR + "freezingpoint.ogg", _ELECTRONIC),
    Recording("frozen-mainzik-1p.ogg", "frozen-bubble-data", _FROZEN + "frozen-mainzik-1p.ogg", _GAME_TUNE),
    Recording("introzik.ogg", "frozen-bubble-data", _FROZEN + "introzik.ogg", _GAME_TUNE),
    Recording("traveling_minstrels.ogg", "wesnoth-1.16-music", _WESNOTH + "traveling_minstrels.ogg", _ORCHESTRAL,
              scored=False),
    Recording("start1-jt.ogg", "extremetuxracer-data", _ETR + "start1-jt.ogg", _ELECTRONIC, scored=False),
)
# What each package's debian/copyright says of the files these tracks come from ("Files: *" or
# the whole package); the copyright file itself is copied beside the tracks.
LICENCES = {
    "wesnoth-1.16-music": "GPL-2+",
    "extremetuxracer-data": "GPL-2+",
    "frozen-bubble-data": "GPL-2",
}


TOOL_PACKAGES = ("rubberband-cli", "librubberband2")


class FetchError(RuntimeError):
    pass


def rubberband(cache: Path = DEFAULT_CACHE, fetch: bool = False,
               debs: Path | None = None) -> tuple[list[str], dict] | None:
    """(command, environment) that runs the Rubber Band command line, or None where there is none.

    On PATH it is used as it is; else the copy in CACHE/tools (fetched here when ``fetch``)."""
    import os

    if shutil.which("rubberband"):
        return ["rubberband"], dict(os.environ)
    tools = cache / "tools"
    binary = tools / "usr/bin/rubberband"
    if not binary.exists() and fetch:
        with tempfile.TemporaryDirectory() as tmp:
            for package in TOOL_PACKAGES:
                _run(["dpkg-deb", "-x", str(_deb(package, Path(tmp), debs)), str(tools)], f"could not unpack {package}")
    if not binary.exists():
        return None
    libs = str((tools / "usr/lib/x86_64-linux-gnu").resolve())
    env = dict(os.environ, LD_LIBRARY_PATH=":".join(filter(None, (libs, os.environ.get("LD_LIBRARY_PATH")))))
    return [str(binary.resolve())], env


def ensure(cache: Path = DEFAULT_CACHE, debs: Path | None = None) -> list[dict]:
    """The manifest of the cached recordings, fetching what is missing; raises FetchError."""
    cache.mkdir(parents=True, exist_ok=True)
    manifest_path = cache / "manifest.json"
    manifest = {m["name"]: m for m in json.loads(manifest_path.read_text())} if manifest_path.exists() else {}
    missing = [r for r in RECORDINGS if r.name not in manifest or not (cache / manifest[r.name]["file"]).exists()]
    for package in dict.fromkeys(r.package for r in missing):
        wanted = [r for r in missing if r.package == package]
        version = _unpack(package, wanted, cache, debs)
        for r in wanted:
            manifest[r.name] = {**asdict(r), "file": f"{package}/{r.name}", "version": version,
                                "licence": LICENCES[package], "copyright": f"{package}/copyright"}
    out = [manifest[r.name] for r in RECORDINGS]
    manifest_path.write_text(json.dumps(out, indent=1) + "\n")
    return out


def _unpack(package: str, wanted: list[Recording], cache: Path, debs: Path | None) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        deb = _deb(package, Path(tmp), debs)
        tree = Path(tmp) / "tree"
        _run(["dpkg-deb", "-x", str(deb), str(tree)], f"could not unpack {deb.name}")
        version = _run(["dpkg-deb", "-f", str(deb), "Version"], f"could not read {deb.name}").strip()
        folder = cache / package
        folder.mkdir(exist_ok=True)
        shutil.copyfile(tree / "usr/share/doc" / package / "copyright", folder / "copyright")
        for r in wanted:
            source = tree / r.path
            if not source.exists():
                raise FetchError(f"{package} {version} has no {r.path}; "
                                 "this script expects Debian 12 (bookworm)'s layout")
            shutil.copyfile(source, folder / r.name)
    return version


def _deb(package: str, tmp: Path, debs: Path | None) -> Path:
    if debs is not None:
        found = sorted(debs.glob(f"{package}_*.deb"))
        if not found:
            raise FetchError(f"no {package}_*.deb in {debs}: download it with `apt-get download {package}`")
        return found[-1]
    if shutil.which("apt-get") is None:
        raise FetchError(_advice(package, "apt-get is not on this machine"))
    try:
        subprocess.run(["apt-get", "download", package], cwd=tmp, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        raise FetchError(_advice(package, (exc.stderr or "").strip().splitlines()[-1:] or "apt-get failed")) from exc
    return next(tmp.glob(f"{package}_*.deb"))


def _advice(package: str, why) -> str:
    return (f"could not fetch {package} ({why}). On a machine with a Debian archive run "
            f"`apt-get download {package}` (and the others this script names), copy the .deb files here and run "
            f"`python bench/real_music.py --debs FOLDER`; or run `apt-get update` first if the "
            f"package lists are missing.")


def _run(cmd: list[str], message: str) -> str:
    if shutil.which(cmd[0]) is None:
        raise FetchError(f"{message}: {cmd[0]} is not on this machine (it comes with dpkg, on Debian and Ubuntu)")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise FetchError(f"{message}: {done.stderr.strip()}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the recordings are kept")
    parser.add_argument("--debs", type=Path, help="a folder of already downloaded .deb files to use instead of apt-get")
    parser.add_argument("--rubberband", action="store_true", help="also fetch the Rubber Band command line")
    args = parser.parse_args()
    try:
        manifest = ensure(args.cache, args.debs)
        tool = rubberband(args.cache, fetch=True, debs=args.debs) if args.rubberband else None
    except FetchError as exc:
        sys.exit(f"real_music: {exc}")
    if tool:
        print(f"rubberband: {tool[0][0]}")
    for m in manifest:
        print(f"{m['file']:45s} {m['licence']:7s} {'scored' if m['scored'] else 'extra ':6s}  {m['style']}")


if __name__ == "__main__":
    main()
