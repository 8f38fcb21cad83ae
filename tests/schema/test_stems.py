from datetime import datetime, timezone

import numpy as np
import pytest

from songlake.schema import BatchWriter, Lake, LakeError
from songlake.schema import stems as stems_module
from songlake.schema.stems import STEMS, decode_part, encode_part, export_stems, has_stems, read_stem, stem_rows

RATE = 8000  # small parts keep the tests fast; the lake stores whatever rate the model has


def _audio(seconds: float, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.5 * rng.uniform(-1, 1, (channels, round(seconds * RATE)))).astype(np.float32)


def _quantised(samples: np.ndarray) -> np.ndarray:
    """What 16-bit PCM keeps of float samples."""
    return (np.clip(np.round(samples * 32768), -32768, 32767) / 32768).astype(np.float32)


def _parts(samples: np.ndarray, part_seconds: float = 1.0) -> list[np.ndarray]:
    step = round(part_seconds * RATE)
    return [samples[:, i:i + step] for i in range(0, samples.shape[1], step)]


def _write_stems(lake: Lake, song_id: str, by_stem: dict[str, np.ndarray], model: str = "tiny",
                 parts_limit: int | None = None, separated: bool = True) -> int:
    """Stems rows (and, with separated, a done separations row) as one lake version."""
    writer = BatchWriter(lake, flush_rows=2)  # parts spread over several fragments
    for stem, samples in by_stem.items():
        for row in list(stem_rows(song_id, stem, model, _parts(samples), RATE))[:parts_limit]:
            writer.add("stems", row)
    if separated:
        duration = next(iter(by_stem.values())).shape[1] / RATE
        writer.add("separations", {"song_id": song_id, "model": model, "status": "done", "duration": duration,
                                   "separated_at": datetime.now(timezone.utc)})
    return writer.commit("separate", f"stems of {song_id}")


def _song(seconds: float = 3.5, seed: int = 0) -> dict[str, np.ndarray]:
    return {stem: _audio(seconds, seed=seed + i) for i, stem in enumerate(STEMS)}


# --- one part ------------------------------------------------------------------------------

@pytest.mark.parametrize("codec", ["flac", "wav"])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("length", [1, 4607, 4608, 4609, 10_001])
def test_a_part_round_trips_to_its_16_bit_samples(codec, channels, length):
    samples = _audio(length / RATE, channels)[:, :length]
    decoded = decode_part(encode_part(samples, RATE, codec))
    assert decoded.dtype == np.float32 and decoded.shape == (channels, length)
    np.testing.assert_array_equal(decoded, _quantised(samples))
    assert np.abs(decoded - samples).max() <= 0.5 / 32768 + 1e-9  # within half a 16-bit step


def test_flac_is_smaller_than_wav_for_music_like_audio():
    t = np.arange(RATE * 2) / RATE
    tone = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)]).astype(np.float32)
    assert len(encode_part(tone, RATE, "flac")) < 0.5 * len(encode_part(tone, RATE, "wav"))


def test_samples_beyond_full_scale_are_clipped():
    decoded = decode_part(encode_part(np.array([[2.0, -2.0, 1.0, -1.0]], dtype=np.float32), RATE))
    np.testing.assert_array_equal(decoded, [[32767 / 32768, -1.0, 32767 / 32768, -1.0]])


def test_an_empty_part_decodes_to_no_samples():
    assert decode_part(encode_part(np.zeros((2, 0), dtype=np.float32), RATE)).shape == (2, 0)


@pytest.mark.parametrize("samples, codec, rate, message", [
    (np.zeros((100, 2), np.float32), "flac", RATE, r"\(channels, n\)"),
    (np.zeros(100, np.float32), "flac", RATE, r"\(channels, n\)"),
    (np.full((2, 10), np.nan, np.float32), "flac", RATE, "NaN"),
    (np.zeros((2, 10), np.int16), "flac", RATE, "floats"),
    (np.zeros((2, 10), np.float32), "mp3", RATE, "unknown stem codec"),
    (np.zeros((2, 10), np.float32), "flac", 0, "sample_rate"),
])
def test_bad_parts_are_refused_with_the_likely_cause(samples, codec, rate, message):
    with pytest.raises(ValueError, match=message):
        encode_part(samples, rate, codec)


# --- rows ----------------------------------------------------------------------------------

def test_stem_rows_number_the_parts_and_count_their_samples():
    samples = _audio(2.5)
    rows = list(stem_rows("song", "bass", "tiny", _parts(samples), RATE))
    assert [(r["part"], r["start_sample"], r["num_samples"]) for r in rows] == [(0, 0, 8000), (1, 8000, 8000), (2, 16000, 4000)]
    assert {(r["song_id"], r["stem"], r["model"], r["sample_rate"], r["channels"], r["codec"]) for r in rows} == \
        {("song", "bass", "tiny", RATE, 2, "flac")}
    np.testing.assert_array_equal(np.concatenate([decode_part(r["data"]) for r in rows], axis=1), _quantised(samples))
    with pytest.raises(ValueError, match="unknown stem 'piano'"):
        next(stem_rows("song", "piano", "tiny", _parts(samples), RATE))


# --- reading from the lake -----------------------------------------------------------------

@pytest.fixture
def lake(tmp_path):
    return Lake.open(tmp_path / "lake", create=True)


def test_read_stem_returns_any_range_across_part_boundaries(lake):
    song = _song(3.5)
    _write_stems(lake, "s1", song)
    drums = _quantised(song["drums"])
    np.testing.assert_array_equal(read_stem(lake, "s1", "drums"), drums)
    np.testing.assert_array_equal(read_stem(lake, "s1", "drums", 0.5, 2.25), drums[:, 4000:18000])
    np.testing.assert_array_equal(read_stem(lake, "s1", "drums", 1.0, 2.0), drums[:, 8000:16000])
    np.testing.assert_array_equal(read_stem(lake, "s1", "drums", 3.0, 99.0), drums[:, 24000:])
    assert read_stem(lake, "s1", "drums", 5.0).shape == (2, 0)  # past the end: nothing
    with pytest.raises(ValueError, match="time range"):
        read_stem(lake, "s1", "drums", 2.0, 1.0)


def test_read_stem_decodes_only_the_parts_it_needs(lake, monkeypatch):
    _write_stems(lake, "s1", _song(3.5))
    decoded = []
    real = stems_module.decode_part
    monkeypatch.setattr(stems_module, "decode_part", lambda data: decoded.append(1) or real(data))
    read_stem(lake, "s1", "vocals", 1.25, 2.5)  # parts 1 and 2 of 0..3
    assert len(decoded) == 2


def test_no_stems_is_an_error_that_points_at_stems_status(lake):
    before = lake.version()
    _write_stems(lake, "s1", _song(1.5))
    assert has_stems(lake, "s1") and not has_stems(lake, "other-song") and not has_stems(lake, "s1", before)
    with pytest.raises(LakeError, match="stems_status"):
        read_stem(lake, "other-song", "vocals")
    with pytest.raises(LakeError, match="no vocals stem"):
        read_stem(lake, "s1", "vocals", version=before)
    with pytest.raises(ValueError, match="unknown stem"):
        read_stem(lake, "s1", "guitar")


def test_the_newest_complete_separation_is_read(lake):
    first, second = _song(2.5, seed=0), _song(2.5, seed=10)
    _write_stems(lake, "s1", first)
    _write_stems(lake, "s1", second)  # separated again (forced): the new run counts
    np.testing.assert_array_equal(read_stem(lake, "s1", "bass"), _quantised(second["bass"]))
    _write_stems(lake, "s1", _song(2.5, seed=20), parts_limit=1, separated=False)  # an attempt that failed midway
    np.testing.assert_array_equal(read_stem(lake, "s1", "bass"), _quantised(second["bass"]))
    _write_stems(lake, "s1", _song(2.5, seed=30), model="other-model", separated=False)  # never marked done
    np.testing.assert_array_equal(read_stem(lake, "s1", "bass"), _quantised(second["bass"]))


def test_export_writes_one_file_per_stem_with_the_same_samples(lake, tmp_path):
    song = _song(2.5)
    _write_stems(lake, "s1", song)
    paths = export_stems(lake, "s1", tmp_path / "out")
    assert [p.name for p in paths] == [f"s1_{stem}.flac" for stem in STEMS]
    for stem, path in zip(STEMS, paths):
        np.testing.assert_array_equal(decode_part(path.read_bytes()), _quantised(song[stem]))
    wav = export_stems(lake, "s1", tmp_path / "wav", codec="wav")
    np.testing.assert_array_equal(decode_part(wav[0].read_bytes()), _quantised(song["vocals"]))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)  # no leftovers


def test_export_of_a_song_without_stems_writes_nothing(lake, tmp_path):
    with pytest.raises(LakeError, match="no vocals stem"):
        export_stems(lake, "missing", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_stems_written_before_their_separation_row_are_read_too(lake):
    song = _song(1.5)
    _write_stems(lake, "s1", song, separated=False)  # e.g. written by a tool that records no separation
    np.testing.assert_array_equal(read_stem(lake, "s1", "other"), _quantised(song["other"]))
