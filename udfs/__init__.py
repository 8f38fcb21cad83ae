"""Pure analysis functions: audio in, small typed results out. No database, no queue.

- ``audio.decode(bytes) -> Audio`` and ``audio.song_id(Audio)``; ``UnreadableAudio`` for refusals
- ``tags.read_tags(bytes) -> Tags``
- ``quality.assess(Audio) -> Quality``
- ``beats.track_beats(mono) -> Beats``, ``key.detect_key(mono) -> Key``
- ``embedding.embed(mono) -> Embedding``

``ANALYSIS_VERSION`` rises whenever a change would alter any stored analysis result, so the
lake can tell which songs an upgrade should re-analyse.
"""

ANALYSIS_VERSION = 1
