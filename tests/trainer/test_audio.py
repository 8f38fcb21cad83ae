"""LakeAudio: clips of the mix (from the original file) and the stems, sample-exact."""

from __future__ import annotations

import pickle
from datetime import datetime, timezone

import numpy as np
import pytest

from songlake.schema import BatchWriter, Lake, LakeError
from songlake.schema.lookup import originals
from songlake.schema.stems import read_stem, stem_rows
from songlake.trainer.audio import LakeAudio
from songlake.udfs.separation import decode_stream


@pytest.fixture(scope="module")
def lake(trainer_lake) -> Lake:
    return Lake.open(trainer_lake)


@pytest.fixture(scope="module")
def song_id(lake) -> str:
    from songlake.schema.query import connect

    with connect(lake) as con:
        return con.sql("SELECT song_id FROM songs ORDER BY duration DESC LIMIT 1").fetchall()[0][0]


def _whole_mix(lake: Lake, song_id: str) -> np.ndarray:
    return np.concatenate(list(decode_stream(originals(lake, [song_id])[song_id], 44100, 2)), axis=1)


@pytest.mark.parametrize("start", [0.0, 1.2345, 7.0])
def test_a_mix_clip_is_the_decoded_file_sample_for_sample(lake, song_id, start):
    """The clip is decoded with libsndfile after a seek; it equals FFmpeg decoding the whole file
    (the decode the separation used), so the mix lines up with the stems."""
    whole = _whole_mix(lake, song_id)
    audio = LakeAudio(lake.root, lake.version())
    clip = audio.read(song_id, ["mix"], start, 2.0)["mix"]
    handles = audio._handles
    assert handles.index(song_id, handles.original(song_id)) is not None  # a CBR MP3: read through its frame index
    first = round(start * 44100)
    assert clip.shape == (2, 88200) and clip.dtype == np.float32
    np.testing.assert_allclose(clip, whole[:, first:first + 88200], atol=1e-5)
    assert np.abs(clip).max() > 0.01


def test_stem_clips_equal_the_stems_and_share_the_mix_clock(lake, song_id):
    audio = LakeAudio(lake.root, lake.version())
    clip = audio.read(song_id, ["mix", "vocals", "drums", "bass", "other"], 3.0, 2.5)
    assert {c.shape for c in clip.values()} == {(2, round(2.5 * 44100))}
    for stem in ("vocals", "drums", "bass", "other"):
        np.testing.assert_array_equal(clip[stem], read_stem(lake, song_id, stem, 3.0, 5.5))
    assert audio.has_stems(song_id)


def test_a_clip_past_the_end_is_padded_with_silence(lake, song_id):
    audio = LakeAudio(lake.root, lake.version())
    duration = audio.duration(song_id)
    clip = audio.read(song_id, ["mix", "drums"], duration - 1.5, 2.0)  # the song's last second is a fade
    tail = round(1.5 * 44100)
    for track in clip.values():
        assert track.shape == (2, 88200)
        assert not track[:, tail + 10:].any()
    assert np.abs(clip["mix"][:, :11025]).max() > 0.001


@pytest.mark.parametrize("codec", ["flac", "wav"])
def test_clips_spanning_stem_parts_are_joined_exactly(lake_for_test, codec):
    """Stems are stored as parts; a clip across part boundaries is stitched sample for sample,
    from FLAC parts (decoded from the clip's first sample) and WAV parts (the clip's bytes only)."""
    lake = Lake.open(lake_for_test)
    from songlake.schema.query import connect

    with connect(lake) as con:
        sid, duration = con.sql("SELECT song_id, duration FROM songs ORDER BY song_id LIMIT 1").fetchall()[0]
    rate, part = 44100, 44100 * 3 // 2  # 1.5 s parts
    n = round(duration * rate)
    rng = np.random.default_rng(0)
    signal = {stem: (rng.standard_normal((2, n)) * 0.1).astype(np.float32) for stem in ("vocals", "drums", "bass", "other")}
    writer = BatchWriter(lake)
    for stem, samples in signal.items():
        parts = [samples[:, i:i + part] for i in range(0, n, part)]
        for row in stem_rows(sid, stem, "test-parts", parts, rate, codec=codec):
            writer.add("stems", row)
    writer.add("separations", {"song_id": sid, "model": "test-parts", "status": "done", "message": None,
                               "device": "cpu", "seconds": 1.0, "duration": n / rate, "stem_stats": None,
                               "is_instrumental": False, "separated_at": datetime.now(timezone.utc)})
    version = writer.commit("separate", "stems in 1.5 s parts")
    clip = LakeAudio(lake.root, version).read(sid, ["bass", "other"], 1.0, 4.0)  # parts 0 to 3
    tail = LakeAudio(lake.root, version).read(sid, ["drums"], n / rate - 1.0, 2.0)["drums"]  # past the end
    expected_tail = np.round(signal["drums"][:, n - rate:] * 32768) / 32768
    np.testing.assert_allclose(tail[:, :rate], expected_tail, atol=1e-6)
    assert not tail[:, rate:].any()
    for stem in ("bass", "other"):
        expected = np.round(signal[stem][:, 44100:44100 * 5] * 32768) / 32768
        np.testing.assert_allclose(clip[stem], expected, atol=1e-6)


def test_another_sample_rate_is_resampled_per_clip(lake, song_id):
    audio = LakeAudio(lake.root, lake.version())
    clip = audio.read(song_id, ["mix", "bass"], 2.0, 2.0, sample_rate=16000)
    assert clip["mix"].shape == clip["bass"].shape == (2, 32000)
    import soxr

    full = audio.read(song_id, ["mix"], 2.0, 2.0)["mix"]
    expected = soxr.resample(full.T, 44100, 16000).T
    inner = slice(200, 31800)  # away from the clip's edges, where the filter sees padding
    np.testing.assert_allclose(clip["mix"][:, inner], expected[:, inner], atol=2e-3)


def test_the_reader_pickles_without_lance_handles(lake, song_id):
    audio = LakeAudio(lake.root, lake.version())
    audio.read(song_id, ["mix"], 0.0, 0.5)
    assert audio._open is not None
    copy = pickle.loads(pickle.dumps(audio))
    assert copy._open is None and copy.version == audio.version
    np.testing.assert_array_equal(copy.read(song_id, ["drums"], 1.0, 0.5)["drums"],
                                  audio.read(song_id, ["drums"], 1.0, 0.5)["drums"])


def test_bad_requests_are_refused_with_the_reason(lake, song_id):
    audio = LakeAudio(lake.root, lake.version())
    with pytest.raises(ValueError, match="unknown track 'piano'"):
        audio.read(song_id, ["piano"], 0.0, 1.0)
    with pytest.raises(ValueError, match="starts at a time >= 0"):
        audio.read(song_id, ["mix"], -1.0, 1.0)
    with pytest.raises(LakeError, match="not in the lake"):
        audio.read("0" * 32, ["mix"], 0.0, 1.0)
    before_stems = next(v.version for v in lake.versions() if v.kind == "ingest")
    with pytest.raises(LakeError, match="has no vocals stem"):
        LakeAudio(lake.root, before_stems).read(song_id, ["vocals"], 0.0, 1.0)
