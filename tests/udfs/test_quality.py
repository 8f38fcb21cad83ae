import numpy as np
import pyloudnorm
import pytest

from songlake import synth
from songlake.synth import SAMPLE_RATE as SR, encode
from songlake.udfs.audio import decode
from songlake.udfs.quality import assess, integrated_loudness


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_loudness_matches_the_reference_implementation(song, rate):
    reference = pyloudnorm.Meter(rate).integrated_loudness(song.samples.T.astype(np.float64))
    assert integrated_loudness(song.samples, rate) == pytest.approx(reference, abs=0.05)


def test_loudness_of_a_full_scale_sine():
    # BS.1770: a 997 Hz sine at 0 dBFS in both channels reads about -0.0 LUFS per channel + 3 dB
    t = np.arange(SR * 5) / SR
    sine = np.sin(2 * np.pi * 997 * t).astype(np.float32)
    assert integrated_loudness(np.stack([sine, sine]), SR) == pytest.approx(0.0, abs=0.2)


def test_genuine_320_is_not_a_transcode():
    audio = decode(encode(synth.broadband(15), "mp3", kbps=320))
    quality = assess(audio)
    assert not quality.suspected_transcode and quality.bandwidth_hz > 19500
    assert "bitrate_below_320" not in quality.quality_flags


def test_128_reencoded_at_320_is_a_transcode():
    low = decode(encode(synth.broadband(15), "mp3", kbps=128))
    quality = assess(decode(encode(low.samples, "mp3", kbps=320)))
    assert quality.suspected_transcode and quality.bandwidth_hz < 17800
    assert "suspected_transcode" in quality.quality_flags


def test_genuine_128_is_low_bitrate_but_not_a_transcode():
    quality = assess(decode(encode(synth.broadband(15), "mp3", kbps=128)))
    assert not quality.suspected_transcode
    assert "bitrate_below_320" in quality.quality_flags


def test_lossless_file_from_a_lossy_source_is_a_transcode(song):
    low = decode(encode(song.samples, "mp3", kbps=128))
    assert assess(decode(encode(low.samples, "flac"))).suspected_transcode
    assert not assess(decode(encode(song.samples, "flac"))).suspected_transcode


def test_sparse_music_without_high_frequencies_is_not_a_transcode():
    clicks = synth.click_track(100, 15)
    assert not assess(decode(encode(clicks, "mp3", kbps=320))).suspected_transcode


def test_clipping_and_peak(song):
    clean = assess(decode(encode(song.samples, "wav")))
    assert clean.clipping_ratio == 0 and clean.peak_dbfs == pytest.approx(-6.02, abs=0.1)
    clipped = assess(decode(encode(np.clip(song.samples * 6, -1, 1), "wav")))
    assert clipped.clipping_ratio > 0.001 and "clipped" in clipped.quality_flags


def test_silence_ratio_and_mostly_silent(song):
    padded = np.concatenate([song.samples, np.zeros((2, song.samples.shape[1] * 2), np.float32)], axis=1)
    quality = assess(decode(encode(padded, "wav")))
    assert quality.silence_ratio == pytest.approx(2 / 3, abs=0.05)
    assert "mostly_silent" in quality.quality_flags


def test_mono_and_length_flags(song):
    mono = assess(decode(encode(song.samples[:1], "wav")))
    assert mono.is_mono and "mono" in mono.quality_flags and "shorter_than_2min" in mono.quality_flags
    dual = assess(decode(encode(np.stack([song.samples[0], song.samples[0]]), "wav")))
    assert dual.is_mono
    long = assess(decode(encode(np.tile(song.samples, (1, 19)), "wav")))  # 19 x 21 s > 6 min
    assert "longer_than_6min" in long.quality_flags and not long.is_mono


def test_digital_silence_is_measured_not_crashed():
    quality = assess(decode(encode(np.zeros((2, SR * 3), np.float32), "wav")))
    assert quality.loudness_lufs is None and quality.peak_dbfs is None
    assert quality.silence_ratio == 1.0 and quality.bandwidth_hz is None and not quality.suspected_transcode
