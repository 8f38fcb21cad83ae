"""Demo songs: a handful of synthesised, tagged MP3s, so the first command shows the whole path
working on a fresh machine with no music of its own."""

from __future__ import annotations

from pathlib import Path

from songlake import synth

DEMO_SONGS = [
    # title, artist, year, genre, spec
    ("Harbour Lights", "The Synthetics", 1984, "Pop", synth.SongSpec("C", "major", 118, (1, 5, 6, 4), seed=1)),
    ("Night Drive", "Oscillator Club", 2012, "Electronic", synth.SongSpec("A", "minor", 126, (1, 6, 3, 7), seed=2)),
    ("Slow River", "Hollow Pines", 1997, "Folk", synth.SongSpec("G", "major", 84, (1, 4, 1, 5), seed=3)),
    ("Concrete", "Block Theory", 2019, "Hip-Hop", synth.SongSpec("F", "minor", 92, (1, 4, 5, 1), seed=4)),
    ("Amplifier", "Static Youth", 2003, "Rock", synth.SongSpec("E", "major", 146, (1, 4, 5, 4), seed=5)),
    ("Blue Hour", "Trio Numerico", 1961, "Jazz", synth.SongSpec("Bb", "major", 104, (2, 5, 1, 6), seed=6)),
]


def make_demo_songs(folder: Path, seconds: float = 30.0) -> list[Path]:
    """Write the demo songs as tagged 320 kbps MP3s into folder (kept if already there)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, (title, artist, year, genre, spec) in enumerate(DEMO_SONGS, start=1):
        path = folder / f"{number:02d} {artist} - {title}.mp3"
        paths.append(path)
        if path.exists():
            continue
        bars = max(4, round(seconds / (60.0 / spec.bpm * spec.beats_per_bar)))
        song = synth.render_song(synth.SongSpec(**{**spec.__dict__, "bars": bars}))
        path.write_bytes(synth.encode_mp3(song.samples, song.sample_rate, 320))
        synth.tag_id3(path, title=title, artist=artist, album="songlake demo", year=year, genre=genre,
                      track=f"{number}/{len(DEMO_SONGS)}")
    return paths
