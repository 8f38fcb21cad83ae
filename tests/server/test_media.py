"""Audio over HTTP: Range requests answered byte-exact, the original file from its Lance blob,
stems as a WAV computed part by part, waveform peaks. Served by a minimal Litestar app over the
media functions, so these tests pin the functions, not the API's routing."""

from __future__ import annotations

import io
import wave
from datetime import datetime, timezone

import numpy as np
import pytest
from litestar import Litestar, Request, Response, get
from litestar.params import FromPath
from litestar.response import Stream
from litestar.testing import TestClient

from songlake.schema import BatchWriter, Lake, connect
from songlake.schema.stems import STEMS, read_stem, stem_layout, stem_rows
from songlake.server import errors, media
from songlake.server.media import parse_range, wav_header

RATE = 8000


def _app(lake: Lake) -> Litestar:
    @get("/original/{song_id:str}", sync_to_thread=True)
    def original(song_id: FromPath[str], request: Request) -> Stream:
        return media.original_audio(lake, song_id, request.headers.get("range"))

    @get("/stem/{song_id:str}/{stem:str}", sync_to_thread=True)
    def stem(song_id: FromPath[str], stem: FromPath[str], request: Request) -> Stream:
        return media.stem_audio(lake, song_id, stem, request.headers.get("range"))

    def refuse(request: Request, exc: errors.ServerError) -> Response:
        headers = {"Content-Range": f"bytes */{exc.size}"} if isinstance(exc, errors.RangeNotSatisfiable) else None
        return Response({"error": str(exc), "status": exc.status_code}, status_code=exc.status_code, headers=headers)

    return Litestar([original, stem], exception_handlers={errors.ServerError: refuse})


@pytest.fixture(scope="module")
def real(served_lake):
    """The served lake (3 ingested songs with stems), its songs, and a client over it."""
    lake = Lake.open(served_lake)
    songs = connect(lake).sql("SELECT song_id, filename, duration, stems_status FROM songs ORDER BY song_id").fetchall()
    with TestClient(_app(lake)) as client:
        yield lake, songs, client


@pytest.fixture
def parted(tmp_path):
    """A lake whose song 'parted' has stereo stems in 1 s parts at 8 kHz (3.5 s: 4 parts), and
    whose song 'plain' was ingested but never separated."""
    lake = Lake.open(tmp_path / "lake", create=True)
    rng = np.random.default_rng(3)
    writer = BatchWriter(lake, flush_rows=3)
    samples = {}
    for stem in STEMS:
        samples[stem] = (0.6 * rng.uniform(-1, 1, (2, int(3.5 * RATE)))).astype(np.float32)
        parts = [samples[stem][:, i:i + RATE] for i in range(0, samples[stem].shape[1], RATE)]
        for row in stem_rows("parted", stem, "tiny", parts, RATE):
            writer.add("stems", row)
    now = datetime.now(timezone.utc)
    writer.add("separations", {"song_id": "parted", "model": "tiny", "status": "done", "duration": 3.5,
                               "separated_at": now})
    for song in ("parted", "plain"):
        writer.add("tracks", {"song_id": song, "file_sha256": song * 4, "ingested_at": now})
    writer.commit("ingest", "stems in small parts")
    with TestClient(_app(lake)) as client:
        yield lake, client


# --- Range parsing -----------------------------------------------------------------------------

@pytest.mark.parametrize("header, expected", [
    (None, None), ("", None),
    ("bytes=0-99", (0, 99)), ("bytes=100-199", (100, 199)), ("bytes=0-", (0, 999)), ("bytes=990-", (990, 999)),
    ("bytes=-500", (500, 999)), ("bytes=-5000", (0, 999)), ("bytes=900-5000", (900, 999)),
    ("bytes=999-999", (999, 999)),
    ("BYTES = 5 - 6", (5, 6)),
    ("bytes=0-1,5-6", None),  # several ranges: the whole body with 200
    ("items=0-5", None), ("bytes=abc", None), ("bytes=-", None), ("bytes=9-3", None),  # ignored, per RFC 7233
])
def test_parse_range(header, expected):
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_a_range_past_the_end_is_not_satisfiable(header):
    with pytest.raises(errors.RangeNotSatisfiable) as caught:
        parse_range(header, 1000)
    assert caught.value.size == 1000 and caught.value.status_code == 416


def test_an_empty_resource_has_no_satisfiable_range():
    with pytest.raises(errors.RangeNotSatisfiable):
        parse_range("bytes=0-", 0)
    assert parse_range(None, 0) is None


# --- the original file -------------------------------------------------------------------------

def _spans(size: int) -> list[tuple[str, int, int]]:
    """Range headers and the inclusive spans they ask for: first bytes, middle, suffix, open-ended."""
    middle = size // 2
    return [("bytes=0-0", 0, 0), ("bytes=0-99", 0, 99), (f"bytes={middle}-{middle + 4096}", middle, middle + 4096),
            ("bytes=-500", size - 500, size - 1), (f"bytes={middle + 1}-", middle + 1, size - 1),
            (f"bytes={size - 10}-{size + 100}", size - 10, size - 1), (f"bytes=0-{size - 1}", 0, size - 1)]


def test_the_original_is_the_uploaded_file_with_ranges_byte_exact(real, served_lake):
    lake, songs, client = real
    song_id, filename = songs[0][0], songs[0][1]
    uploaded = (served_lake.parent / "music" / filename).read_bytes()
    whole = client.get(f"/original/{song_id}")
    assert whole.status_code == 200 and whole.content == uploaded
    assert whole.headers["content-type"] == "audio/mpeg"
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-length"] == str(len(uploaded))
    size = len(uploaded)
    for header, first, last in _spans(size):
        part = client.get(f"/original/{song_id}", headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == uploaded[first:last + 1], header
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert part.headers["content-length"] == str(last - first + 1)
        assert part.headers["content-type"] == "audio/mpeg"


def test_original_edge_cases(real):
    lake, songs, client = real
    song_id = songs[1][0]
    size = int(client.get(f"/original/{song_id}").headers["content-length"])
    refused = client.get(f"/original/{song_id}", headers={"Range": f"bytes={size}-"})
    assert refused.status_code == 416 and refused.headers["content-range"] == f"bytes */{size}"
    several = client.get(f"/original/{song_id}", headers={"Range": "bytes=0-9,20-29"})
    assert several.status_code == 200 and len(several.content) == size
    missing = client.get("/original/no-such-song")
    assert missing.status_code == 404 and "no song no-such-song" in missing.json()["error"]
    assert str(lake.root) not in missing.json()["error"]


# --- stems as WAV ------------------------------------------------------------------------------

def _wav_samples(body: bytes) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(io.BytesIO(body)) as reader:
        params = reader.getparams()
        pcm = np.frombuffer(reader.readframes(params.nframes), dtype="<i2")
    return params, pcm.reshape(-1, params.nchannels).T.astype(np.float32) / 32768.0


def test_a_stem_is_one_wav_with_read_stems_samples(real):
    lake, songs, client = real
    song_id = next(s[0] for s in songs if s[3] == "done")
    for stem in STEMS:
        response = client.get(f"/stem/{song_id}/{stem}")
        assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
        layout = stem_layout(lake, song_id, stem)
        params, samples = _wav_samples(response.content)
        assert (params.nchannels, params.sampwidth, params.framerate, params.nframes) == \
               (layout.channels, 2, layout.sample_rate, layout.num_samples)
        assert len(response.content) == 44 + layout.num_samples * layout.channels * 2
        assert response.headers["content-length"] == str(len(response.content))
        np.testing.assert_array_equal(samples, read_stem(lake, song_id, stem))


def test_stem_ranges_are_byte_exact_slices_of_the_whole_wav(real):
    lake, songs, client = real
    song_id = next(s[0] for s in songs if s[3] == "done")
    whole = client.get(f"/stem/{song_id}/drums").content
    size = len(whole)
    headers = _spans(size) + [("bytes=0-43", 0, 43), ("bytes=40-47", 40, 47), ("bytes=43-44", 43, 44),
                              ("bytes=1001-2002", 1001, 2002), ("bytes=3-", 3, size - 1)]
    for header, first, last in headers:
        part = client.get(f"/stem/{song_id}/drums", headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == whole[first:last + 1], header
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert client.get(f"/stem/{song_id}/drums", headers={"Range": f"bytes={size}-"}).status_code == 416


def test_a_range_decodes_only_the_parts_it_touches(parted, monkeypatch):
    lake, client = parted
    whole = client.get("/stem/parted/vocals").content
    params, samples = _wav_samples(whole)
    assert (params.nchannels, params.framerate, params.nframes) == (2, RATE, 28_000)
    np.testing.assert_array_equal(samples, read_stem(lake, "parted", "vocals"))
    reads = []

    def counting(lake_, song_id, stem, start=0.0, end=None, version=None):
        reads.append((round(start * RATE), round(end * RATE)))
        return read_stem(lake_, song_id, stem, start, end, version)

    monkeypatch.setattr(media, "read_stem", counting)
    block = 4  # 16-bit stereo: bytes per sample frame
    inside = (44 + 2 * RATE * block + 10, 44 + 2 * RATE * block + 5000)  # within part 2
    across = (44 + RATE * block - 3, 44 + 3 * RATE * block + 1)  # the last byte of part 0 to part 3's first frame
    for first, last in (inside, across, (0, 50), (44 + 3 * RATE * block, len(whole) - 1)):
        reads.clear()
        part = client.get("/stem/parted/vocals", headers={"Range": f"bytes={first}-{last}"})
        assert part.status_code == 206 and part.content == whole[first:last + 1]
        frames = ((max(first, 44) - 44) // block, (last - 44) // block + 1)
        touched = [(max(frames[0], p * RATE), min(frames[1], (p + 1) * RATE, 28_000))
                   for p in range(4) if p * RATE < frames[1] and (p + 1) * RATE > frames[0]]
        assert reads == touched, (first, last)
    assert reads == [(3 * RATE, 28_000)]  # the tail: one (short) part


def test_missing_stems_say_why(parted, real):
    lake, client = parted
    plain = client.get("/stem/plain/vocals")
    assert plain.status_code == 404 and "stems_status: pending" in plain.json()["error"]
    assert "no song nobody" in client.get("/stem/nobody/vocals").json()["error"]
    piano = client.get("/stem/parted/piano")
    assert piano.status_code == 404 and "vocals, drums, bass, other" in piano.json()["error"]


def test_the_wav_header_is_standard():
    header = wav_header(44100, 2, 1000)
    assert len(header) == 44
    with wave.open(io.BytesIO(header + bytes(4000))) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate(), reader.getnframes()) == \
               (2, 2, 44100, 1000)


# --- waveform ----------------------------------------------------------------------------------

def test_waveform_peaks_cover_the_song_and_are_cached(real, monkeypatch):
    lake, songs, _ = real
    song_id, duration = songs[0][0], songs[0][2]
    media._waveform.cache_clear()
    from songlake.udfs import audio

    decoded = []
    real_decode = audio.decode
    monkeypatch.setattr(audio, "decode", lambda data: decoded.append(len(data)) or real_decode(data))
    shape = media.waveform(lake, song_id, points=300)
    assert shape["duration"] == pytest.approx(duration, abs=0.05) and shape["sample_rate"] in (44100, 48000)
    peaks = np.array(shape["peaks"])
    assert peaks.shape == (300, 2) and (peaks[:, 0] <= peaks[:, 1]).all()
    assert peaks.max() > 0.05 and peaks.min() < -0.05 and np.abs(peaks).max() <= 1.5
    assert media.waveform(lake, song_id, points=300) == shape
    assert len(decoded) == 1  # the second answer came from the cache
    with pytest.raises(errors.NotFound):
        media.waveform(lake, "nobody")
    with pytest.raises(errors.BadRequest):
        media.waveform(lake, song_id, points=0)
