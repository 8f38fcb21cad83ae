import json
import random
import time
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from demucs.apply import BagOfModels, apply_model
from demucs.hdemucs import HDemucs
from demucs.htdemucs import HTDemucs
from demucs.pretrained import SOURCES, demucs_unittest

from songlake.synth import SAMPLE_RATE as SR, encode
from songlake.udfs.audio import UnreadableAudio
from songlake.udfs.quality import integrated_loudness
from songlake.udfs.separation import (STEMS, SeparationSettings, Separator, StemMeter, StemStats, WeightsUnavailable,
                                      decode_stream, is_instrumental, load_model, pick_device)

CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and torch threads waiting on each other crawl
    (ten times slower) when other processes share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def hdemucs() -> HDemucs:
    """demucs' own unit-test model: HDemucs with 4 channels, random weights, 40 s segment."""
    torch.manual_seed(0)
    return demucs_unittest().eval()


@pytest.fixture(scope="module")
def htdemucs() -> HTDemucs:
    """A tiny HTDemucs trained (nominally) on 1-second segments: it always takes 44100 samples."""
    torch.manual_seed(1)
    return HTDemucs(sources=SOURCES, channels=8, depth=3, t_layers=1, nfft=512, segment=Fraction(1)).eval()


def noise(seconds: float, seed: int = 0, rate: int = SR) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((2, int(seconds * rate)))).astype(np.float32)


def reference(model, mix: np.ndarray, segment=None, shifts=0) -> dict[str, np.ndarray]:
    """demucs.apply.apply_model on the whole mix, by stem name."""
    random.seed(0)  # the Separator draws its shifts from Random(0), in apply_model's order
    out = apply_model(model, torch.from_numpy(mix)[None], shifts=shifts, split=True, overlap=0.25, segment=segment)
    return {stem: out[0, list(model.sources).index(stem)].numpy() for stem in STEMS}


def assert_stems_close(got: dict, want: dict, atol: float = 1e-5) -> None:
    for stem in STEMS:
        assert got[stem].shape == want[stem].shape, stem
        np.testing.assert_allclose(got[stem], want[stem], atol=atol, err_msg=stem)


# --- separation equals demucs' apply_model ----------------------------------------------------

@pytest.mark.parametrize("seconds", [0.02, 0.7, 1.0, 2.3])
def test_htdemucs_matches_apply_model(htdemucs, seconds):
    mix = noise(seconds)
    settings = SeparationSettings(batch_size=2, part_seconds=0.5)
    assert_stems_close(Separator(htdemucs, settings, CPU).separate_array(mix), reference(htdemucs, mix))


def test_htdemucs_with_a_shorter_segment_matches_apply_model(htdemucs):
    mix = noise(1.6, seed=1)
    settings = SeparationSettings(segment=0.6, batch_size=3)
    assert_stems_close(Separator(htdemucs, settings, CPU).separate_array(mix), reference(htdemucs, mix, segment=0.6))


@pytest.mark.parametrize("shifts", [0, 2])
def test_hdemucs_matches_apply_model_with_shifts(hdemucs, shifts):
    # HDemucs' windows are as long as they come (no fixed input length) and its forward pass draws
    # no random numbers, so apply_model's shifts follow the same seed as the Separator's
    mix = noise(2.2, seed=2)
    settings = SeparationSettings(segment=1.0, shifts=shifts, batch_size=4, part_seconds=1.0)
    assert_stems_close(Separator(hdemucs, settings, CPU).separate_array(mix),
                       reference(hdemucs, mix, segment=1.0, shifts=shifts))


def test_a_bag_of_models_from_a_model_folder_matches_apply_model(tmp_path):
    torch.manual_seed(3)
    for sig in ("aaaa1111", "bbbb2222"):
        member = HDemucs(channels=4, sources=SOURCES)
        args, kwargs = member._init_args_kwargs
        torch.save({"klass": HDemucs, "args": args, "kwargs": kwargs, "state": member.state_dict()},
                   tmp_path / f"{sig}.th")
    bag_weights = [[1.0, 1.0, 0.5, 1.0], [1.0, 0.5, 1.0, 3.0]]
    (tmp_path / "tinybag.yaml").write_text(yaml.safe_dump({"models": ["aaaa1111", "bbbb2222"],
                                                           "weights": bag_weights}))
    settings = SeparationSettings(model="tinybag", model_dir=tmp_path, segment=1.0)
    bag = load_model(settings)
    assert isinstance(bag, BagOfModels) and load_model(settings) is bag  # loaded once per process
    mix = noise(1.5, seed=3)
    assert_stems_close(Separator(bag, settings, CPU).separate_array(mix), reference(bag, mix, segment=1.0))


# --- streaming, parts and batching ------------------------------------------------------------

@pytest.mark.parametrize("seconds", [0.01, 0.5, 1.0, 2.75])
def test_parts_are_exactly_part_seconds_and_cover_the_input(htdemucs, seconds):
    mix = noise(seconds, seed=4)
    parts = list(Separator(htdemucs, SeparationSettings(part_seconds=0.25), CPU).separate([mix]))
    lengths = [part["vocals"].shape[1] for part in parts]
    assert sum(lengths) == mix.shape[1]
    assert all(n == SR // 4 for n in lengths[:-1]) and 0 < lengths[-1] <= SR // 4
    for part in parts:
        assert list(part) == list(STEMS)
        assert all(part[stem].shape == (2, part["vocals"].shape[1]) and part[stem].dtype == np.float32
                   for stem in STEMS)


def test_a_stream_of_odd_blocks_gives_the_whole_arrays_stems(htdemucs):
    mix = noise(2.4, seed=5)
    cuts = np.cumsum(np.random.default_rng(5).integers(1, 20000, size=40))
    blocks = np.split(mix, cuts[cuts < mix.shape[1]], axis=1)
    separator = Separator(htdemucs, SeparationSettings(part_seconds=0.3, batch_size=2), CPU)
    parts = list(separator.separate(iter(blocks)))
    streamed = {stem: np.concatenate([part[stem] for part in parts], axis=1) for stem in STEMS}
    assert_stems_close(streamed, separator.separate_array(mix), atol=1e-6)


def test_batch_size_does_not_change_the_stems(htdemucs):
    mix = noise(3.1, seed=6)
    one = Separator(htdemucs, SeparationSettings(batch_size=1), CPU).separate_array(mix)
    four = Separator(htdemucs, SeparationSettings(batch_size=4), CPU).separate_array(mix)
    assert_stems_close(four, one)


def test_empty_stream_gives_no_parts(htdemucs):
    separator = Separator(htdemucs, SeparationSettings(), CPU)
    assert list(separator.separate([])) == []
    assert all(stem.shape == (2, 0) for stem in separator.separate_array(np.zeros((2, 0), np.float32)).values())


def test_memory_does_not_grow_with_the_stream():
    # an 8 kHz unit-test model and 1 s windows: the peak of traced (numpy) memory while streaming
    # 20 s and 100 s must be the same; the 100 s stems alone would take 26 MB
    torch.manual_seed(7)
    model = HDemucs(channels=4, sources=SOURCES, samplerate=8000).eval()
    separator = Separator(model, SeparationSettings(segment=1.0, batch_size=2, part_seconds=2.0), CPU)

    def peak_bytes(seconds: int) -> int:
        blocks = (noise(1.0, seed=i, rate=8000) for i in range(seconds))
        tracemalloc.start()
        for _ in separator.separate(blocks):
            pass
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    short, long = peak_bytes(20), peak_bytes(100)
    assert long < 1.15 * short and long < 6e6


def test_sources_map_to_stems_by_name_and_extra_ones_join_other():
    torch.manual_seed(8)
    six = HDemucs(channels=4, sources=["drums", "bass", "other", "vocals", "guitar", "piano"]).eval()
    mix = noise(0.5, seed=8)
    stems = Separator(six, SeparationSettings(segment=1.0), CPU).separate_array(mix)
    out = apply_model(six, torch.from_numpy(mix)[None], shifts=0, overlap=0.25, segment=1.0)[0].numpy()
    np.testing.assert_allclose(stems["vocals"], out[3], atol=1e-6)
    np.testing.assert_allclose(stems["other"], out[2] + out[4] + out[5], atol=1e-5)


# --- bad input --------------------------------------------------------------------------------

def test_bad_input_names_the_cause(htdemucs):
    separator = Separator(htdemucs, SeparationSettings(), CPU)
    with pytest.raises(ValueError, match="transposed"):
        separator.separate_array(noise(0.1).T)
    with pytest.raises(ValueError, match="trained on"):
        Separator(htdemucs, SeparationSettings(segment=2.0), CPU)
    with pytest.raises(ValueError, match="needs"):
        Separator(HDemucs(channels=4, sources=["drums", "bass", "rest"]), SeparationSettings(), CPU)
    with pytest.raises(ValueError, match="overlap"):
        SeparationSettings(overlap=1.0)


# --- settings, device, weights ----------------------------------------------------------------

def test_settings_from_the_environment():
    settings = SeparationSettings.from_env({"SONGLAKE_DEMUCS_MODEL": "htdemucs_ft", "SONGLAKE_MODEL_DIR": "/w",
                                            "SONGLAKE_SEGMENT": "5.5", "SONGLAKE_SHIFTS": "2",
                                            "SONGLAKE_SEPARATION_BATCH": "8", "SONGLAKE_DEVICE": "cpu"})
    assert settings == SeparationSettings(model="htdemucs_ft", model_dir=Path("/w"),
                                          segment=5.5, shifts=2, batch_size=8, device="cpu")
    assert settings.key() == "htdemucs_ft"
    assert SeparationSettings.from_env({}) == SeparationSettings()
    with pytest.raises(ValueError, match="SONGLAKE_SHIFTS"):
        SeparationSettings.from_env({"SONGLAKE_SHIFTS": "two"})


def test_pick_device():
    assert pick_device("cpu") == CPU
    assert pick_device("auto").type in {"cpu", "cuda", "mps"}
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("gpu please")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            pick_device("cuda")


def tiny_member() -> tuple[HDemucs, list, dict]:
    torch.manual_seed(10)
    member = HDemucs(channels=4, sources=SOURCES).eval()
    return member, *member._init_args_kwargs


def test_weights_load_offline_from_the_hugging_face_cache(monkeypatch, tmp_path):
    # the layout demucs.hf downloads into: a bag yaml and one safetensors file per member
    from huggingface_hub import constants
    from safetensors.torch import save_file

    member, args, kwargs = tiny_member()
    snapshot = tmp_path / "models--adefossez--Demucs-tinyhf" / "snapshots" / "rev1"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("rev1")
    (snapshot / "tinyhf.yaml").write_text(yaml.safe_dump({"models": ["dddd4444"]}))
    save_file(member.state_dict(), snapshot / "dddd4444.safetensors",
              metadata={"klass": "demucs.hdemucs.HDemucs", "args": json.dumps(args), "kwargs": json.dumps(kwargs)})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bag = load_model(SeparationSettings(model="tinyhf"))
    assert isinstance(bag, BagOfModels)
    for name, tensor in member.state_dict().items():
        assert torch.equal(bag.models[0].state_dict()[name], tensor)


def test_weights_load_offline_from_the_torch_hub_cache(monkeypatch, tmp_path):
    # demucs' legacy download: <signature>-<checksum>.th in torch hub's checkpoints folder
    member, args, kwargs = tiny_member()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save({"klass": HDemucs, "args": args, "kwargs": kwargs, "state": member.state_dict()},
               tmp_path / "hub" / "checkpoints" / "eeee5555.th")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load_model(SeparationSettings(model="eeee5555"))
    assert isinstance(model, HDemucs) and not model.training


def test_missing_weights_fail_fast_and_say_how_to_provide_them(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(WeightsUnavailable, match="SONGLAKE_MODEL_DIR") as raised:
        load_model(SeparationSettings(model="songlake_no_such_model"))
    assert time.perf_counter() - started < 5
    assert "songlake_no_such_model" in str(raised.value) and "cache" in str(raised.value)
    with pytest.raises(WeightsUnavailable, match=str(tmp_path)):
        load_model(SeparationSettings(model="htdemucs", model_dir=tmp_path))
    with pytest.raises(WeightsUnavailable, match="not a folder"):
        load_model(SeparationSettings(model="htdemucs", model_dir=tmp_path / "absent"))


# --- decoding ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3"])
def test_decode_stream_yields_blocks_of_the_whole_file(fmt):
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(int(2.5 * SR)) / SR)).astype(np.float32)
    blocks = list(decode_stream(encode(np.stack([tone, -tone]), fmt), SR, block_seconds=1.0))
    assert all(block.shape == (2, SR) and block.dtype == np.float32 for block in blocks[:-1])
    audio = np.concatenate(blocks, axis=1)
    assert abs(audio.shape[1] - tone.size) < 0.06 * SR  # MP3 adds encoder delay and padding
    if fmt != "mp3":
        np.testing.assert_allclose(audio, np.stack([tone, -tone]), atol=1e-4)


def test_decode_stream_duplicates_mono_and_resamples():
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(22050 * 2) / 22050)).astype(np.float32)
    audio = np.concatenate(list(decode_stream(encode(tone, "wav", sample_rate=22050), SR)), axis=1)
    assert audio.shape[0] == 2 and abs(audio.shape[1] - 2 * SR) <= 64
    np.testing.assert_array_equal(audio[0], audio[1])
    assert np.abs(audio).max() == pytest.approx(0.5, abs=0.02)


def test_decode_stream_refuses_what_is_not_audio():
    with pytest.raises(UnreadableAudio, match="not audio"):
        list(decode_stream(b"not a sound at all" * 100, SR))


# --- stem statistics --------------------------------------------------------------------------

def test_meter_loudness_matches_the_whole_array_measurement(song):
    meter = StemMeter("drums", SR)
    cuts = np.cumsum(np.random.default_rng(9).integers(1000, 3 * SR, size=30))
    for part in np.split(song.samples, cuts[cuts < song.samples.shape[1]], axis=1):
        meter.add(part)
    stats = meter.result()
    assert stats.loudness_lufs == pytest.approx(integrated_loudness(song.samples, SR), abs=0.1)
    assert stats.peak_dbfs == pytest.approx(20 * np.log10(np.abs(song.samples).max()), abs=1e-4)


def test_meter_levels_of_a_sine():
    sine = np.sin(2 * np.pi * 997 * np.arange(3 * SR) / SR).astype(np.float32)
    meter = StemMeter("bass", SR)
    meter.add(np.stack([sine, sine]))
    stats = meter.result()
    assert stats.rms_dbfs == pytest.approx(-3.01, abs=0.01)
    assert stats.loudness_lufs == pytest.approx(0.0, abs=0.2)
    assert stats.active_ratio == 1.0


def test_meter_of_silence_and_noise():
    silent = StemMeter("vocals", SR)
    silent.add(np.zeros((2, 2 * SR), np.float32))
    assert silent.result() == StemStats("vocals", None, None, 0.0, None)
    noisy = StemMeter("other", SR)
    for seed in range(4):
        noisy.add(noise(0.5, seed=seed))
    assert noisy.result().active_ratio == 1.0
    assert StemMeter("other", SR).result() == StemStats("other", None, None, 0.0, None)


def test_is_instrumental():
    singing = StemStats("vocals", -18.0, -3.0, 0.45, -22.0)
    assert not is_instrumental(singing, mix_lufs=-12.0)
    assert is_instrumental(StemStats("vocals", -40.0, -20.0, 0.3, -45.0), mix_lufs=-12.0)  # bleed
    assert is_instrumental(StemStats("vocals", -20.0, -6.0, 0.02, -40.0), mix_lufs=None)  # a shout
    assert is_instrumental(StemStats("vocals", None, None, 0.0, None), mix_lufs=-12.0)
    with pytest.raises(ValueError, match="vocals"):
        is_instrumental(StemStats("drums", -18.0, -3.0, 0.9, -20.0), mix_lufs=-12.0)
