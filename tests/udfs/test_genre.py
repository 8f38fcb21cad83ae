"""Genre: tag normalisation, the conventions prior, the classifier of the collection's tags.

The collection is generated feature by feature (no audio): each genre draws its tempo, loudness,
syncopation, harmony and an embedding laid out like descriptor-v1 from its own distribution, so
the answers are known. One end-to-end test renders a few songs and embeds them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from songlake import synth
from songlake.udfs.embedding import DIM, embed
from songlake.udfs.genre import GENRES, Genre, GenreInputs, GenreModel, evaluate, normalize_genre_tag, prior_genre

# genre: bpm (mean, sd), LUFS (mean, sd), syncopation, complexity, P(minor), meters {sig: p},
#        sevenths, dominant sevenths, centroid Hz (mean, sd), flatness (mean, sd), pattern (name, p)
PROFILES = {
    "pop": ((112, 10), (-8.5, 1.5), (0.30, 0.10), (0.30, 0.10), 0.30, {"4/4": 0.95, "3/4": 0.05}, 0.10, 0.04,
            (2000, 400), (0.040, 0.015), None),
    "rock": ((128, 15), (-8.0, 1.5), (0.20, 0.10), (0.30, 0.10), 0.35, {"4/4": 0.95, "6/8": 0.05}, 0.05, 0.03,
             (2600, 500), (0.070, 0.020), None),
    "hip-hop": ((90, 6), (-7.0, 1.5), (0.55, 0.12), (0.45, 0.12), 0.65, {"4/4": 1.0}, 0.20, 0.05,
                (1300, 300), (0.050, 0.020), None),
    "jazz": ((150, 35), (-17.0, 3.0), (0.50, 0.12), (0.65, 0.12), 0.40, {"4/4": 0.8, "3/4": 0.2}, 0.70, 0.25,
             (1500, 400), (0.030, 0.015), ("ii-V-I", 0.5)),
    "electronic": ((126, 5), (-6.0, 1.2), (0.30, 0.10), (0.20, 0.08), 0.70, {"4/4": 1.0}, 0.15, 0.03,
                   (2200, 400), (0.060, 0.020), None),
    "classical": ((100, 25), (-23.0, 4.0), (0.12, 0.07), (0.50, 0.12), 0.60, {"4/4": 0.5, "3/4": 0.35, "6/8": 0.15},
                  0.20, 0.12, (1000, 300), (0.010, 0.006), None),
    "country": ((108, 15), (-10.0, 1.5), (0.20, 0.08), (0.30, 0.10), 0.10, {"4/4": 0.75, "3/4": 0.2, "2/4": 0.05},
                0.08, 0.06, (2000, 400), (0.035, 0.012), None),
    "folk": ((95, 15), (-15.0, 2.5), (0.15, 0.08), (0.30, 0.10), 0.40, {"4/4": 0.6, "3/4": 0.25, "6/8": 0.15},
             0.08, 0.04, (1400, 300), (0.015, 0.008), None),
    "r&b": ((80, 10), (-9.0, 1.5), (0.50, 0.12), (0.45, 0.10), 0.50, {"4/4": 0.85, "12/8": 0.15}, 0.50, 0.15,
            (1500, 350), (0.040, 0.015), None),
    "metal": ((150, 30), (-5.5, 1.2), (0.20, 0.10), (0.45, 0.12), 0.85, {"4/4": 0.9, "6/8": 0.1}, 0.03, 0.01,
              (3300, 500), (0.120, 0.030), None),
    "blues": ((90, 15), (-12.0, 2.5), (0.40, 0.10), (0.40, 0.10), 0.30, {"4/4": 0.5, "12/8": 0.5}, 0.60, 0.55,
              (1700, 350), (0.040, 0.015), ("12-bar blues", 0.6)),
    "other": ((110, 30), (-12.0, 4.0), (0.35, 0.15), (0.40, 0.15), 0.50, {"4/4": 0.7, "3/4": 0.15, "6/8": 0.15},
              0.25, 0.10, (1800, 600), (0.040, 0.020), None),
}
GROUPS = (slice(0, 26), slice(26, 32), slice(32, 56), slice(56, 64))
GROUP_WEIGHTS = (1.0, 0.5, 0.8, 0.6)  # embedding.py's weights


def _unit(v):
    return v / np.linalg.norm(v)


def synthetic_song(genre: str, rng: np.random.Generator, centres: dict) -> GenreInputs:
    bpm, lufs, sync, comp, p_minor, meters, sev, dom, centroid, flat, pattern = PROFILES[genre]
    lufs_value = float(np.clip(rng.normal(*lufs), -40, -2))
    centroid_hz = float(np.clip(rng.normal(*centroid), 300, 6000))
    flatness = float(np.clip(rng.normal(*flat), 0.001, 0.5))
    spectral = np.array([centroid_hz / 5000, 0.2 * centroid_hz / 5000, flatness, 0.5 * flatness,
                         (lufs_value + 63) / 30, 0.1])
    timbre, harmony, rhythm = (centres[genre][k] + rng.normal(0, 3.0, size) for k, size in enumerate((26, 24, 8)))
    parts = (timbre, spectral, harmony, np.abs(rhythm))
    embedding = _unit(np.concatenate([w * _unit(p) for w, p in zip(GROUP_WEIGHTS, parts)]))
    n_chords = 16
    n_dom = int(round(dom * n_chords))
    n_ext = max(0, int(round(sev * n_chords)) - n_dom)
    chords = ["G:7"] * n_dom + ["D:min7"] * n_ext + ["C:maj"] * (n_chords - n_dom - n_ext)
    patterns = (pattern[0],) if pattern and rng.random() < pattern[1] else ()
    return GenreInputs(
        embedding=embedding,
        bpm=float(np.clip(rng.normal(*bpm), 40, 240)),
        mode="minor" if rng.random() < p_minor else "major",
        time_signature=str(rng.choice(list(meters), p=list(meters.values()))),
        syncopation_index=float(np.clip(rng.normal(*sync), 0, 1)),
        rhythmic_complexity=float(np.clip(rng.normal(*comp), 0, 1)),
        loudness_lufs=lufs_value,
        chords=tuple(rng.permutation(chords)),
        common_patterns=patterns,
        duration=float(rng.uniform(120, 360)),
        format="flac",
    )


def synthetic_collection(per_genre: int, seed: int = 0) -> tuple[list[GenreInputs], list[str]]:
    rng = np.random.default_rng(seed)
    centres = {g: [rng.normal(0, 1, size) for size in (26, 24, 8)] for g in GENRES}
    songs, tags = [], []
    for _ in range(per_genre):
        for genre in GENRES:
            songs.append(synthetic_song(genre, rng, centres))
            tags.append(genre)
    return songs, tags


@pytest.fixture(scope="module")
def collection():
    return synthetic_collection(per_genre=40, seed=0)


# ---- tags ------------------------------------------------------------------------------------

@pytest.mark.parametrize("tags, genre", [
    (("Hip Hop", "Hip-Hop", "Rap", "Trap", "Gangsta Rap", "Hip-Hop/Rap"), "hip-hop"),
    (("R&B", "RnB", "Rhythm & Blues", "Soul", "Funk", "Neo-Soul"), "r&b"),
    (("House", "Techno", "Electronica", "EDM", "Drum & Bass", "Drum-n-Bass", "Trip-Hop", "Synthwave"), "electronic"),
    (("Alternative", "Indie Rock", "Punk", "Grunge", "Pop Rock", "Rock 'n' Roll", "(17)"), "rock"),
    (("Heavy Metal", "Death Metal", "Melodic Death Metal", "Deathmetal", "Metalcore"), "metal"),
    (("Bluegrass", "Country", "Country & Western", "Americana"), "country"),
    (("Singer-Songwriter", "Acoustic", "Folk", "Indie Folk"), "folk"),
    (("Classical", "Baroque", "Orchestral", "Opera", "Classical Music"), "classical"),
    (("Bebop", "Swing", "Big Band", "Jazz", "Acid Jazz", "Jazz+Funk"), "jazz"),
    (("Pop", "K-Pop", "Indie Pop", "Dance Pop", "13"), "pop"),
    (("Blues", "Delta Blues"), "blues"),
    (("Reggae", "Polka", "Soundtrack", "xyzzy"), "other"),
])
def test_tag_normalisation_table(tags, genre):
    for tag in tags:
        assert normalize_genre_tag(tag) == genre, tag


def test_placeholder_and_empty_tags_are_no_tag():
    for tag in (None, "", "   ", "Unknown", "genre", "N/A", "Misc"):
        assert normalize_genre_tag(tag) is None, tag
    assert normalize_genre_tag("Reggae; Rock") == "rock"  # the first value naming a vocabulary genre
    with pytest.raises(ValueError, match="text or None"):
        normalize_genre_tag(17)


# ---- the prior -------------------------------------------------------------------------------

def test_prior_follows_the_conventions():
    house = GenreInputs(bpm=126, loudness_lufs=-6, rhythmic_complexity=0.15, time_signature="4/4", mode="minor")
    boom_bap = GenreInputs(bpm=90, syncopation_index=0.7, loudness_lufs=-7, time_signature="4/4", mode="minor")
    quartet = GenreInputs(bpm=80, loudness_lufs=-26, syncopation_index=0.05, rhythmic_complexity=0.6)
    bebop = GenreInputs(bpm=200, chords=("D:min7", "G:7", "C:maj7", "A:7"), rhythmic_complexity=0.7,
                        syncopation_index=0.6, loudness_lufs=-18, common_patterns=("ii-V-I",))
    twelve_bar = GenreInputs(bpm=85, time_signature="12/8", chords=("A:7", "D:7", "A:7", "E:7"),
                             common_patterns=("12-bar blues",))
    expected = {"electronic": house, "hip-hop": boom_bap, "classical": quartet, "jazz": bebop, "blues": twelve_bar}
    for genre, inputs in expected.items():
        result = prior_genre(inputs)
        assert result.primary_genre == genre, (genre, result.predicted_genres[:3])
        assert 0 < result.genre_confidence <= 1
        confidences = [c for _, c in result.predicted_genres]
        assert confidences == sorted(confidences, reverse=True)
        assert {g for g, _ in result.predicted_genres} == set(GENRES)
        assert sum(confidences) == pytest.approx(1, abs=1e-3)


def test_prior_on_rendered_songs():
    """Real descriptors: tempo, drums and loudness move the prior the way the conventions say."""

    def inputs(bpm, drums, bars):
        song = synth.render_song(synth.SongSpec(bpm=bpm, drums=drums, bars=bars, seed=3, degrees=(1, 6, 4, 5)))
        mono = song.samples.mean(axis=0)
        # No loudness: the synthesiser normalises peaks, so its drum tracks come out quieter than
        # its ballads, the opposite of how records are mastered.
        return GenreInputs(embedding=embed(mono).vector, bpm=bpm, mode="major", time_signature="4/4", format="wav")

    club = prior_genre(inputs(126, True, 8))
    groove = prior_genre(inputs(88, True, 6))
    ballad = prior_genre(inputs(66, False, 4))
    p = {name: dict(g.predicted_genres) for name, g in (("club", club), ("groove", groove), ("ballad", ballad))}
    assert club.primary_genre in ("electronic", "pop", "rock"), club.predicted_genres[:3]
    assert groove.primary_genre in ("hip-hop", "r&b", "blues", "country", "folk"), groove.predicted_genres[:3]
    assert ballad.primary_genre in ("classical", "folk", "r&b", "jazz"), ballad.predicted_genres[:3]
    assert p["club"]["electronic"] > p["groove"]["electronic"]
    assert p["groove"]["hip-hop"] > p["club"]["hip-hop"]
    assert p["ballad"]["classical"] > p["club"]["classical"]
    assert p["ballad"]["metal"] < p["club"]["metal"]


# ---- the classifier --------------------------------------------------------------------------

def test_classifier_learns_the_collection_and_beats_the_prior(collection):
    songs, tags = collection
    report = evaluate(songs, tags, folds=5, seed=0)
    assert report["n_tagged"] == len(songs) and report["folds"] == 5
    assert report["counts"] == {g: 40 for g in GENRES}
    assert report["accuracy"] > 0.9
    assert report["accuracy"] > report["prior_accuracy"] + 0.15
    assert report["prior_accuracy"] > 3 / len(GENRES)  # the conventions are far better than chance
    assert report["calibration_error"] < 0.1
    assert evaluate(songs, tags, folds=5, seed=0) == report  # deterministic for a seed


def test_predictions_are_confident_and_well_formed(collection):
    songs, tags = collection
    model = GenreModel.fit(songs[:400], tags[:400])
    assert model.uses_classifier
    genres = model.predict(songs[400:])
    assert all(isinstance(g, Genre) and 0 <= g.genre_confidence <= 1 for g in genres)
    accuracy = np.mean([g.primary_genre == t for g, t in zip(genres, tags[400:])])
    assert accuracy > 0.85
    assert np.median([g.genre_confidence for g in genres]) > 0.6


def test_a_flipped_tag_is_suspicious(collection):
    songs, tags = collection
    tags = list(tags)
    metal_song = tags.index("metal")
    tags[metal_song] = "Classical"
    model = GenreModel.fit(songs, tags)
    flags = model.suspicious(songs, tags)
    assert flags[metal_song]
    assert sum(flags) <= 0.05 * len(songs)  # the few confident mistakes of a 90%-accurate model
    untagged = list(tags)
    untagged[metal_song] = None
    assert not model.suspicious(songs, untagged)[metal_song]


def test_with_three_tagged_songs_the_prior_decides(collection):
    songs, tags = collection
    few = [t if i < 3 else None for i, t in enumerate(tags)]
    with pytest.warns(UserWarning, match="only 3 tagged"):
        model = GenreModel.fit(songs, few)
    assert not model.uses_classifier
    assert model.predict(songs[:50]) == [prior_genre(s) for s in songs[:50]]


def test_a_rare_genre_leans_on_the_prior(collection):
    songs, tags = collection
    # blues tagged on two songs only: the classifier's vote for blues is barely trusted
    keep = [i for i, t in enumerate(tags) if t != "blues"] + [i for i, t in enumerate(tags) if t == "blues"][:2]
    model = GenreModel.fit([songs[i] for i in keep], [tags[i] for i in keep])
    assert model.counts["blues"] == 2
    blues = [s for s, t in zip(songs, tags) if t == "blues"][2:]
    prior = np.array([dict(prior_genre(s).predicted_genres)["blues"] for s in blues])
    blended = model.probabilities(blues)[:, GENRES.index("blues")]
    # p(blues) stays within reach of the prior's value instead of collapsing with the rare class
    assert np.mean(blended) > 0.25 * np.mean(prior)


# ---- bad and degenerate input ----------------------------------------------------------------

def test_bad_input_names_the_cause():
    with pytest.raises(ValueError, match="expected 64"):
        GenreInputs(embedding=np.ones(32))
    with pytest.raises(ValueError, match="NaN"):
        GenreInputs(embedding=np.r_[np.full(DIM - 1, 0.1), np.nan])
    with pytest.raises(ValueError, match="bpm is NaN"):
        GenreInputs(bpm=float("nan"))
    with pytest.raises(ValueError, match="seconds per beat"):
        GenreInputs(bpm=0.5)
    with pytest.raises(ValueError, match="LUFS"):
        GenreInputs(loudness_lufs=85.0)
    with pytest.raises(ValueError, match="not its name"):
        GenreInputs(mode="A minor")
    with pytest.raises(ValueError, match="'4/4'"):
        GenreInputs(time_signature="four")
    with pytest.raises(ValueError, match="one tag"):
        GenreModel.fit([GenreInputs(bpm=100)], ["rock", "pop"])


def test_missing_inputs_are_handled():
    assert GenreInputs.from_row({"key": "A minor", "bpm": float("nan"), "chords": [{"label": "A:min7"}]}) == \
        GenreInputs(mode="minor", chords=("A:min7",))
    only_tempo = prior_genre(GenreInputs(bpm=126))
    assert only_tempo.primary_genre is not None
    with pytest.warns(UserWarning, match="no usable inputs"):
        nothing = prior_genre(GenreInputs(embedding=np.zeros(DIM)))  # silence, nothing else known
    assert nothing == Genre(None, 0.0, ())


def test_no_tags_and_a_single_genre_work_with_a_warning(collection):
    songs, tags = collection
    with pytest.warns(UserWarning, match="only 0 tagged"):
        untagged = GenreModel.fit(songs[:30], [None] * 30)
    assert untagged.predict(songs[:30]) == [prior_genre(s) for s in songs[:30]]
    with pytest.warns(UserWarning, match="all 40 tagged songs are 'rock'"):
        single = GenreModel.fit(songs, ["Rock" if t == "rock" else None for t in tags])
    assert not single.uses_classifier and single.counts["rock"] == 40
    with pytest.warns(UserWarning, match="too few"):
        report = evaluate(songs, ["Rock" if t == "rock" else None for t in tags])
    assert report["accuracy"] == report["prior_accuracy"]
    with pytest.warns(UserWarning, match="nothing to evaluate"):
        assert evaluate(songs[:5], [None] * 5)["accuracy"] is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # enough songs of two genres: no warning
        assert GenreModel.fit(songs[:24], tags[:24]).uses_classifier


# ---- the song's own tag ----------------------------------------------------------------------

HOUSE = GenreInputs(bpm=126, loudness_lufs=-6, rhythmic_complexity=0.15, time_signature="4/4", mode="minor")
BEBOP = GenreInputs(bpm=200, chords=("D:min7", "G:7", "C:maj7", "A:7"), rhythmic_complexity=0.7,
                    syncopation_index=0.6, loudness_lufs=-18, common_patterns=("ii-V-I",))
# free-text tags as files carry them, one per genre in GENRES order
SPELLINGS = ("Dance Pop", "Indie Rock", "Rap", "Bebop", "Techno", "Baroque", "Bluegrass", "Singer-Songwriter",
             "Soul", "Death Metal", "Delta Blues", "Soundtrack")


def test_tagged_songs_in_a_tiny_collection_get_their_tags_genre(collection):
    songs, tags = collection
    songs, truth = songs[:12], tags[:12]  # one song of each genre, tagged as people spell genres
    assert truth == list(GENRES)
    with pytest.warns(UserWarning, match="only 9 tagged"):
        model = GenreModel.fit(songs[:9], SPELLINGS[:9])  # nine tags: too few for a classifier
    assert not model.uses_classifier
    audio = model.predict(songs)
    tagged = model.predict(songs, SPELLINGS)
    assert [g.primary_genre for g in tagged] == truth
    assert sum(g.primary_genre == t for g, t in zip(audio, truth)) < 12  # the prior alone misses some
    for song, alone, with_tag, genre in zip(songs, audio, tagged, truth):
        assert dict(with_tag.predicted_genres)[genre] > dict(alone.predicted_genres)[genre]
        assert sum(c for _, c in with_tag.predicted_genres) == pytest.approx(1, abs=1e-3)
        assert prior_genre(song, genre) == with_tag  # the same evidence without a model


def test_a_tag_the_audio_strongly_contradicts_is_still_flagged(collection):
    songs, tags = collection
    few = [HOUSE, BEBOP, *songs[:4]]
    few_tags = ["Classical", "Heavy Metal", *tags[:4]]  # two tags the conventions strongly contradict
    with pytest.warns(UserWarning, match="only 6 tagged"):
        model = GenreModel.fit(few, few_tags)
    assert model.suspicious(few, few_tags) == [True, True, False, False, False, False]
    assert model.contradicts(few, few_tags) == [True, True, False, False, False, False]
    house = model.predict(few, few_tags)[0]
    # the tag still counts (classical rises from the audio's half a percent), but audio this sure wins
    assert house.primary_genre == "electronic"
    assert dict(house.predicted_genres)["classical"] > 20 * dict(prior_genre(HOUSE).predicted_genres)["classical"]


def test_an_untagged_song_is_unaffected_by_the_others_tags(collection):
    songs, tags = collection
    some = [t if i % 3 else None for i, t in enumerate(tags)]
    for model in (GenreModel.fit(songs[:400], tags[:400]), GenreModel(np.zeros(len(GENRES)), None, C=0.5, seed=0)):
        with_tags, without = model.predict(songs, some), model.predict(songs)
        untagged = [i for i, t in enumerate(some) if t is None]
        assert [with_tags[i] for i in untagged] == [without[i] for i in untagged]
        assert any(with_tags[i] != without[i] for i in range(len(songs)) if some[i] is not None)
    for placeholder in (None, "Unknown", ""):
        assert prior_genre(HOUSE, placeholder) == prior_genre(HOUSE)


def test_tag_reliability_must_be_a_probability():
    from songlake.udfs._genre_model import with_tags

    p = np.full((1, len(GENRES)), 1 / len(GENRES))
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            with_tags(p, np.array([0]), bad)
