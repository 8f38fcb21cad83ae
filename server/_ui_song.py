"""The song page's content, computed from one `songs` row so the template only lays it out.

Timelines (chords, sections) are placed by time as percentages of the song's duration; the beat
grid and the audio URLs go to the page's script as JSON. Theory, quality and genre values become
short display strings here, once, instead of formatting logic in the template.
"""

from __future__ import annotations

from songlake.server._ui_library import duration_text

STEMS = ("vocals", "drums", "bass", "other")
SECTION_LABELS = ("intro", "verse", "pre-chorus", "chorus", "bridge", "solo", "outro")
PITCHES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
KEYS = tuple(f"{p} {m}" for m in ("major", "minor") for p in PITCHES)
# The API the pages call. Kept here so a change of route is one line.
URLS = {
    "waveform": "/songs/{song_id}/waveform",
    "original": "/songs/{song_id}/audio",
    "stem": "/songs/{song_id}/stems/{stem}",
    "labels": "/songs/{song_id}/labels",
}
# The label form: (field, caption, input kind). Kinds: genre (select), key (text + list), number, text.
LABEL_FORM = (
    ("primary_genre", "Genre", "genre"), ("key", "Key", "key"), ("bpm", "BPM", "number"),
    ("time_signature", "Time signature", "text"), ("title", "Title", "text"), ("artist", "Artist", "text"),
    ("album", "Album", "text"), ("year", "Year", "number"), ("genre_tag", "Genre tag", "text"),
    ("license", "License", "text"), ("source", "Source", "text"),
)


def song_context(song: dict, separation: dict | None, genres: list[str]) -> dict:
    """Everything the song template shows, from the song's `songs` row."""
    song_id = song["song_id"]
    duration = float(song.get("duration") or 0.0)
    labelled = set(song.get("labeled_fields") or [])
    chords = song.get("chords") or []
    return {
        "song": song,
        "title": song.get("title") or song.get("filename") or song_id,
        "duration_text": duration_text(duration),
        "chord_spans": spans(chords, duration),
        "section_spans": spans(song.get("sections") or [], duration),
        "harmony_rows": _harmony_rows(chords, song.get("roman_numerals") or [], song.get("functional_harmony") or []),
        "theory": _theory(song),
        "cadences": [{"type": c.get("type"), "strength": _num(c.get("strength"), 2), "time": _num(c.get("time"), 2)}
                     for c in song.get("cadences") or []],
        "patterns": list(song.get("common_patterns") or []),
        "quality": _quality(song),
        "genres": [{"genre": g["genre"], "confidence": float(g["confidence"] or 0.0),
                    "percent": round(100 * float(g["confidence"] or 0.0), 1)}
                   for g in sorted(song.get("predicted_genres") or [], key=lambda g: -(g["confidence"] or 0.0))],
        "stems": {"status": song.get("stems_status"), "names": STEMS, **(separation or {})},
        "labelled": sorted(labelled),
        "label_fields": _label_fields(song, labelled, genres),
        "keys": KEYS,
        "client": {
            "song_id": song_id,
            "duration": duration,
            "beats": list(song.get("beats") or []),
            "downbeats": list(song.get("downbeats") or []),
            "stems_ready": song.get("stems_status") == "done",
            "urls": {
                "waveform": URLS["waveform"].format(song_id=song_id),
                "original": URLS["original"].format(song_id=song_id),
                "labels": URLS["labels"].format(song_id=song_id),
                "stems": {stem: URLS["stem"].format(song_id=song_id, stem=stem) for stem in STEMS},
            },
        },
    }


def spans(items: list[dict], duration: float) -> list[dict]:
    """Timeline blocks: each item's label with its left offset and width as % of the duration."""
    if duration <= 0:
        return []
    out = []
    for item in items:
        start = max(0.0, float(item.get("start") or 0.0))
        end = min(duration, float(item.get("end") or start))
        if end <= start:
            continue
        out.append({"label": item.get("label") or "", "start": round(start, 2), "end": round(end, 2),
                    "left": round(100 * start / duration, 3), "width": round(100 * (end - start) / duration, 3)})
    return out


def _harmony_rows(chords: list[dict], romans: list[str], functions: list[str]) -> list[dict]:
    return [{"time": _num(c.get("start"), 2), "chord": c.get("label"),
             "roman": romans[i] if i < len(romans) else "", "function": functions[i] if i < len(functions) else ""}
            for i, c in enumerate(chords)]


def _theory(song: dict) -> list[tuple[str, str]]:
    def beats_in_bar(beats) -> str:
        return ", ".join(str(b) for b in beats) if beats else "—"

    key = song.get("key")
    return [
        ("Key", f"{key} ({_num(song.get('key_confidence'), 2)})" if key else "—"),
        ("Tempo", f"{_num(song.get('bpm'), 1)} BPM" if song.get("bpm") is not None else "—"),
        ("Meter", song.get("time_signature") or "—"),
        ("Strong beats", beats_in_bar(song.get("strong_beats"))),
        ("Weak beats", beats_in_bar(song.get("weak_beats"))),
        ("Syncopation index", _num(song.get("syncopation_index"), 3)),
        ("Rhythmic complexity", _num(song.get("rhythmic_complexity"), 3)),
        ("Progression complexity", _num(song.get("progression_complexity"), 3)),
    ]


def _quality(song: dict) -> list[tuple[str, str]]:
    bitrate = song.get("bitrate_kbps")
    return [
        ("Format", f"{song.get('format') or '?'}, {bitrate} kbps" if bitrate else (song.get("format") or "—")),
        ("Sample rate", f"{song.get('sample_rate')} Hz, {song.get('channels')} ch" if song.get("sample_rate") else "—"),
        ("Loudness", f"{_num(song.get('loudness_lufs'), 1)} LUFS"),
        ("Peak", f"{_num(song.get('peak_dbfs'), 1)} dBFS"),
        ("Clipping", _percent(song.get("clipping_ratio"))),
        ("Silence", _percent(song.get("silence_ratio"))),
        ("Bandwidth", f"{_num(song.get('bandwidth_hz'), 0)} Hz"),
        ("Suspected transcode", _yes_no(song.get("suspected_transcode"))),
        ("Flags", ", ".join(song.get("quality_flags") or []) or "none"),
    ]


def _label_fields(song: dict, labelled: set[str], genres: list[str]) -> list[dict]:
    fields = []
    for name, caption, kind in LABEL_FORM:
        value = song.get(name)
        fields.append({"name": name, "caption": caption, "kind": kind, "labelled": name in labelled,
                       "value": "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value)),
                       "options": genres if kind == "genre" else ()})
    return fields


def _num(value, digits: int) -> str:
    return "—" if value is None else f"{float(value):.{digits}f}"


def _percent(value) -> str:
    return "—" if value is None else f"{100 * float(value):.2f} %"


def _yes_no(value) -> str:
    return "—" if value is None else ("yes" if value else "no")
