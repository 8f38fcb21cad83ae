"""Duplicates: each song's fingerprint at ingest, and the pipeline stage that finds its copies.

At ingest (``fingerprint_rows``, called by examine) a song gets its Chromaprint fingerprint
(udfs.fingerprint) and rows in ``fingerprint_index``: one per distinct *key* among its
sub-fingerprints, a key being a sub-fingerprint's top KEY_BITS bits, kept when the key is a
multiple of SAMPLE. The sample is chosen by content, not by position, so two copies of the same
audio keep the same keys wherever they start; a re-encode keeps about half of them.

The ``duplicates`` stage (``find_duplicates``) runs for a song once its fingerprint is visible:

1. candidates: the songs sharing its keys, looked up through the BTREE index on
   ``fingerprint_index.hash`` (a cost per song that does not grow with the collection), ranked by
   how many keys they share at one offset (a copy's keys line up, chance ones do not; CANDIDATES
   at most, MIN_ALIGNED at least); and its nearest songs by embedding
   (NEIGHBOURS, the lake's exact cosine search), for a copy at another speed, whose keys differ;
2. each candidate's fingerprint is matched with the song's (udfs.fingerprint.match); an embedding
   neighbour that does not match as it is, and whose sounding length is within 3.5 % of the
   song's, is matched at the speeds the lengths suggest (``match_near``, from the song's audio);
3. each match is a ``duplicate_pairs`` row (kind, score, offset, shared seconds, speed).

A search that finds nothing writes nothing (no lake version for it); searching again is harmless,
as the ``duplicates`` view keeps the newest row of a pair. Failures go to ``stage_runs``.

A pair is found by whichever of its songs is searched later, so songs ingested at the same time
find each other. Songs from before schema 8 get their fingerprints from ``backfill``
(``songlake duplicates --backfill``): the stage with ``search=False`` fingerprints them from
their originals, then the search runs, so no song searches before the others are indexed.

Where Chromaprint is missing, a song's fingerprints row has status 'unavailable' and the reason
says how to install it (stage_runs has it too, as stage 'fingerprint'); the backfill fills it in.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import lance
import numpy as np

from songlake.schema import BatchWriter, Lake, LakeError, Reader, lookup
from songlake.udfs import fingerprint as fp
from songlake.udfs.audio import decode

log = logging.getLogger(__name__)

STAGE_VERSION = "duplicates-1"
KEY_SHIFT = 4  # a key is a sub-fingerprint's top 28 bits: 40-50 % survive a re-encode, chance rarely repeats one
SAMPLE = 4  # keys that are multiples of 4 are indexed (by content: the same in every copy)
CANDIDATES = 16  # songs sharing the most keys that are matched in full
MIN_ALIGNED = 2  # keys a candidate must share at one offset (chance rarely lines up two)
QUERY_KEYS = 128  # a song looks up this many of its keys, spread over it: a BTREE IN list costs per key
# The process's Lance session for the fingerprint tables: their BTREE pages stay cached from one
# lake version to the next (index files never change), which makes a lookup 2-3x faster at 100K songs.
_SESSION = lance.Session()
NEIGHBOURS = 5  # nearest songs by embedding that are matched too (copies at another speed)


@dataclass(frozen=True)
class Printed:
    """A song's fingerprints row and its index rows."""

    row: dict
    index: list[dict]

    @property
    def status(self) -> str:
        return self.row["status"]


def index_keys(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, first positions) of the sampled, distinct keys of a fingerprint's sub-fingerprints."""
    keys = (np.asarray(values, dtype=np.uint32) >> KEY_SHIFT).astype(np.int64)
    chosen = np.flatnonzero(keys % SAMPLE == 0)
    distinct, first = np.unique(keys[chosen], return_index=True)
    return distinct, chosen[first].astype(np.int32)


def fingerprint_rows(song_id: str, mono: np.ndarray, sample_rate: int) -> Printed:
    """The fingerprints row (done, empty, unavailable or failed, with the reason) and index rows."""
    now = datetime.now(timezone.utc)
    row = {"song_id": song_id, "algorithm": fp.ALGORITHM, "status": "done", "reason": None,
           "duration": mono.size / sample_rate, "start": None, "frames": None, "values": None,
           "near_keys": None, "fingerprinted_at": now}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            printed = fp.fingerprint(mono, sample_rate)
    except fp.FingerprintUnavailable as exc:
        return Printed(row | {"status": "unavailable", "reason": str(exc)}, [])
    except Exception as exc:  # recorded with the song, which is ingested all the same
        return Printed(row | {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}, [])
    row |= {"duration": printed.duration, "start": printed.start, "frames": len(printed.values),
            "values": printed.values.astype("<u4").tobytes()}
    if not len(printed.values):
        why = "; ".join(str(w.message) for w in caught) or "no sub-fingerprints"
        return Printed(row | {"status": "empty", "reason": why}, [])
    keys, positions = index_keys(printed.values)
    return Printed(row, [{"hash": int(k), "song_id": song_id, "position": int(p)} for k, p in zip(keys, positions)])


def stored(row: dict) -> fp.Fingerprint:
    """The Fingerprint of a fingerprints row."""
    values = np.frombuffer(row["values"] or b"", dtype="<u4").astype(np.uint32)
    return fp.Fingerprint(values, float(row["duration"] or 0.0), float(row["start"] or 0.0), row["algorithm"])


def pair_row(song_id: str, other: str, found: fp.Match, method: str) -> dict:
    """The duplicate_pairs row of a match of song_id (a) with other (b), smaller song_id first."""
    offset, speed = found.offset, found.speed
    a, b = song_id, other
    if b < a:  # b's time t is a's time (t - offset) / ... : swap the roles
        a, b, offset, speed = b, a, -offset, 1.0 / speed
    return {"song_a": a, "song_b": b, "kind": found.kind, "score": found.score, "offset_seconds": round(offset, 3),
            "shared_seconds": found.shared_seconds, "speed": round(speed, 4), "method": method,
            "found_at": datetime.now(timezone.utc)}


def candidates(lake: Lake, song_id: str, values: np.ndarray, state=None) -> list[str]:
    """The songs whose index keys line up with a fingerprint's (itself excluded), best first.

    A copy shares keys at one offset (its position minus the query's, the same for every key
    of a copy, give or take a frame); keys shared by chance fall at any offset. So each song
    scores the most keys it shares at one offset, and needs MIN_ALIGNED of them."""
    keys, positions = _spread(*index_keys(values), QUERY_KEYS)
    found = lookup.by_key(_table(lake, "fingerprint_index", state), "hash", [int(k) for k in keys],
                          ["hash", "song_id", "position"]) if len(keys) else None
    if found is None or found.num_rows == 0:
        return []
    at = dict(zip(keys.tolist(), positions.tolist()))
    hashes = found.column("hash").to_numpy()
    offsets = found.column("position").to_numpy().astype(np.int64) - np.array([at[h] for h in hashes.tolist()])
    ids, codes = np.unique(np.asarray(found.column("song_id").to_pylist(), dtype=object), return_inverse=True)
    best = np.zeros(len(ids), np.int64)
    for shift in (0, 1):  # offsets a frame apart meet in one of the two bucketings
        bucket = (offsets + shift) // 2
        pairs, counts = np.unique(np.stack([codes, bucket]), axis=1, return_counts=True)
        np.maximum.at(best, pairs[0], counts)
    order = np.argsort(-best, kind="stable")
    return [ids[i] for i in order if best[i] >= MIN_ALIGNED and ids[i] != song_id][:CANDIDATES]


def _table(lake: Lake, table: str, state=None) -> lance.LanceDataset | None:
    """A fingerprint table at a lake state (the newest when None), opened in the process's session."""
    state = state or lake.head()
    number = state.table_versions.get(table)
    return None if number is None else lance.dataset(lake.uri(table), version=number, session=_SESSION)


def fingerprint_rows_of(lake: Lake, song_ids: list[str]) -> dict[str, dict]:
    """Each song's newest fingerprints row, by song_id through the BTREE index."""
    found = lookup.by_key(_table(lake, "fingerprints"), "song_id", song_ids,
                          ["song_id", "algorithm", "status", "reason", "duration", "start", "values",
                           "fingerprinted_at"])
    rows: dict[str, dict] = {}
    for row in ([] if found is None else found.to_pylist()):
        held = rows.get(row["song_id"])
        if held is None or row["fingerprinted_at"] >= held["fingerprinted_at"]:
            rows[row["song_id"]] = row
    return rows


def _spread(keys: np.ndarray, positions: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `most` of a song's keys, evenly spread over its positions (every part of the song
    keeps some, so an excerpt of it still shares a few)."""
    if len(keys) <= most:
        return keys, positions
    order = np.argsort(positions, kind="stable")
    chosen = order[np.linspace(0, len(order) - 1, most).round().astype(int)]
    return keys[chosen], positions[chosen]


def neighbours(lake: Lake, song_id: str) -> list[str]:
    """The nearest songs by embedding (none when the song has no embedding)."""
    try:
        return [sid for sid, _ in Reader.shared(lake).similar(song_id, NEIGHBOURS)]
    except LakeError:  # no embedding (silence, or not yet embedded): fingerprints alone
        return []


def duplicates_of(lake: Lake, song_id: str, mine: fp.Fingerprint, printed: dict[str, dict],
                  audio: Callable[[], tuple[np.ndarray, int]] | None = None) -> list[dict]:
    """The duplicate_pairs rows of one song against its candidates (whose rows are in printed:
    song_id -> fingerprints row). ``audio()`` gives the song's mono audio and rate, for near."""
    rows = []
    by_keys = candidates(lake, song_id, mine.values)
    near = [sid for sid in neighbours(lake, song_id) if sid not in by_keys]
    wanted = [sid for sid in by_keys + near if sid not in printed]
    printed.update(fingerprint_rows_of(lake, wanted))
    decoded = None
    for sid in by_keys + near:
        row = printed.get(sid)
        if row is None or row["status"] != "done":
            continue
        theirs = stored(row)
        found = fp.match(mine, theirs)
        method = "fingerprint"
        if not found.found and sid in near and audio is not None and lengths_near(mine, theirs):
            decoded = decoded or audio()
            found = fp.match_near(*decoded, mine, theirs)
            method = "embedding+fingerprint"
        if found.found:
            rows.append(pair_row(song_id, sid, found, method))
    return rows


def lengths_near(a: fp.Fingerprint, b: fp.Fingerprint) -> bool:
    """Whether a could be b at another speed within fp.MAX_SPEED (their sounding lengths)."""
    ratio = len(a.values) / max(1, len(b.values))
    return 1 - fp.MAX_SPEED <= ratio <= 1 + fp.MAX_SPEED and ratio != 1.0


# --- the stage -------------------------------------------------------------------------------

def find_duplicates(lake: Lake, song_ids: list[str], options: dict,
                    stage_run: Callable[..., dict]) -> tuple[list[dict], BatchWriter, int]:
    """The duplicates stage on a chunk: fingerprint songs that have none (backfill), then, unless
    options['search'] is False, find each song's duplicates. Returns (outcomes, writer, pairs);
    stage_run makes a stage_runs row (jobs.stages.stage_run)."""
    present = lookup.tracks(lake, song_ids, [])
    printed = fingerprint_rows_of(lake, song_ids)
    writer = BatchWriter(lake)
    outcomes, pairs = [], 0
    redo = [sid for sid in song_ids
            if sid in present and (sid not in printed or printed[sid]["status"] == "unavailable")]
    originals = lookup.originals(lake, redo) if redo else {}
    audio_cache: dict[str, tuple[np.ndarray, int]] = {}

    def audio_of(sid: str):
        if sid not in audio_cache:
            data = originals.get(sid) or lookup.originals(lake, [sid])[sid]
            decoded = decode(data)
            audio_cache[sid] = (decoded.mono_at(fp.RATE), fp.RATE)
        return audio_cache[sid]

    for sid in song_ids:
        if sid not in present:
            outcomes.append({"key": sid, "status": "skipped", "detail": "no such song in the lake"})
            continue
        try:
            if sid in redo:
                made = fingerprint_rows(sid, *audio_of(sid))
                writer.add("fingerprints", made.row)
                for row in made.index:
                    writer.add("fingerprint_index", row)
                status = "done" if made.status in ("done", "empty") else made.status
                writer.add("stage_runs", stage_run(sid, "fingerprint", status,
                                                   reason=made.row["reason"], version=fp.ALGORITHM))
                printed[sid] = made.row
            if options.get("search", True) is False:
                outcomes.append({"key": sid, "status": "done", "detail": f"fingerprint {printed[sid]['status']}"})
                continue
            if printed.get(sid, {}).get("status") != "done":  # its fingerprints row says why already
                reason = (printed.get(sid) or {}).get("reason") or "no fingerprint (songlake duplicates --backfill)"
                outcomes.append({"key": sid, "status": "skipped", "detail": reason})
                continue
            found = duplicates_of(lake, sid, stored(printed[sid]), dict(printed), lambda: audio_of(sid))
        except Exception as exc:  # recorded per song; the others go on
            reason = f"{type(exc).__name__}: {exc}"
            writer.add("stage_runs", stage_run(sid, "duplicates", "failed", reason=reason, version=STAGE_VERSION))
            outcomes.append({"key": sid, "status": "failed", "detail": reason})
            continue
        for row in found:
            writer.add("duplicate_pairs", row)
        pairs += len(found)
        outcomes.append({"key": sid, "status": "done", "detail": f"{len(found)} duplicates", "pairs": len(found)})
    return outcomes, writer, pairs


def unprinted(lake: Lake) -> list[str]:
    """The songs with no fingerprint, or none but 'unavailable' (a backfill's work). A backfill
    is a pass over the collection, so it reads the fingerprints' song_id and status columns."""
    ds = lookup.table_at(lake, "fingerprints")
    have = set()
    if ds is not None:
        table = ds.to_table(columns=["song_id", "status"], filter="status <> 'unavailable'")
        have = set(table.column("song_id").to_pylist())
    tracks = lookup.table_at(lake, "tracks")
    songs = [] if tracks is None else tracks.to_table(columns=["song_id"]).column("song_id").to_pylist()
    return sorted(set(songs) - have)
