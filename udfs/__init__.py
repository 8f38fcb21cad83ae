"""Pure analysis functions: audio (or earlier results) in, small typed results out. No database,
no queue.

- ``audio.decode(bytes) -> Audio`` and ``audio.song_id(Audio)``; ``UnreadableAudio`` for refusals
- ``tags.read_tags(bytes) -> Tags``; ``quality.assess(Audio) -> Quality``
- ``beats.track_beats(mono) -> Beats``: beats, downbeats, meter, tempo
- ``rhythm.rhythm_profile(mono, sr, beats) -> RhythmProfile``: syncopation, rhythmic complexity,
  strong and weak beats
- ``chords.recognize_chords(mono, sr, beats, downbeats) -> Chords`` (Harte labels)
- ``key.detect_key(mono, sr, chords) -> Key``
- ``sections.segment(mono, sr, beats, downbeats, chords) -> Sections``
- ``theory.harmonic_analysis(chords, key, ...) -> Harmony``: roman numerals, functions, cadences,
  named progressions, complexity; ``theory.SQL_FUNCTIONS`` for DuckDB
- ``genre``: ``GenreInputs``, ``GenreModel`` (learned from the collection's tags), ``prior_genre``
- ``embedding.embed(mono) -> Embedding``
- ``adherence.score_adherence(analysis, conditioning) -> Adherence``: a generation's analysis against
  what it was asked for (tempo Acc1, key weighted, chord majmin WCSR, beat F, section boundary F)
- ``distributions.compare_attribute(name, generated, reference) -> Histograms`` (fixed bins, JS
  divergence, Wasserstein) and ``distributions.frechet_songlake_embedding(a, b) -> Frechet`` (not FAD)

``ANALYSIS_VERSION`` rises whenever a change would alter any stored analysis result, so the
lake can tell which songs an upgrade should re-analyse (``songlake analyze``).
"""

ANALYSIS_VERSION = 4  # 4: tempo prior by pulse clarity, downbeats without drums, cadences mark sections
# 3: chords, sections and theory without beats; failures by name; tempo and beat confidence
# 2: downbeats, meter, rhythm profile, chords, theory, sections, genre
