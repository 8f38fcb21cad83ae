"""Duplicates: precision and recall per kind on generated songs, and the lookup at scale.

    python bench/duplicates.py                  # both parts
    python bench/duplicates.py --accuracy       # variants and hard negatives only
    python bench/duplicates.py --scale 1000,10000,100000

**Accuracy.** Songs from songlake.synth in three styles (a key, a tempo, drums or not), each song
a progression of its own (a chord a bar, drawn at random, so no two songs share their harmony
bar by bar). For every song: same-audio variants (MP3 at 64, 128 and 192 kbps, gain -12 dB,
3 s of silence trimmed or added, an 8 s fade-out), edits (intro cut, a 40 s excerpt, a radio
edit with 20 s cut from the middle; each shares at least 30 s) and near variants (played
0.97, 0.98, 1.02 and 1.03 times as fast). Each variant is searched the way the duplicates stage
searches a new song: candidates by index keys among every original and hard negative (CANDIDATES
best), plus the NEIGHBOURS nearest by embedding, each matched by fingerprint (match_near for the
neighbours). Recall per kind: the variant's original found, with the right kind. Hard negatives:
every variant against every other song of its style (same key, tempo and generator), matched
directly, so a false match counts whether or not the candidates would have proposed it.
A second line reports songs over the *same* backing track with another melody (same
progression and drums, other seed): the generator's melody is quiet, and Chromaprint, which hears
chroma, takes them for copies; they are reported, not counted in the goal.

**Scale.** Lakes of N songs with synthetic fingerprints (random sub-fingerprints of 3 minutes,
written through the lake's writer, the BTREE index built as the pipeline's compactor builds it);
a query is one song's candidate lookup (``jobs.duplicates.candidates``) and its full search
(candidates' fingerprints read by song_id and matched). Prints the p50 and p95 per N.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from songlake import synth  # noqa: E402
from songlake.jobs import duplicates as dup  # noqa: E402
from songlake.udfs import fingerprint as fp  # noqa: E402
from songlake.udfs.audio import decode  # noqa: E402
from songlake.udfs.embedding import embed  # noqa: E402

SR = synth.SAMPLE_RATE
STYLES = (("C", "major", 120.0, True), ("A", "minor", 96.0, True), ("E", "major", 140.0, False))
GOALS = {"same_audio": 0.98, "edit": 0.90, "near": 0.80}


# --- accuracy -------------------------------------------------------------------------------

def _song(style, seed: int, bars: int, degrees=None) -> np.ndarray:
    tonic, mode, bpm, drums = style
    degrees = degrees or tuple(int(d) for d in np.random.default_rng(seed).choice([1, 2, 4, 5, 6], size=bars))
    spec = synth.SongSpec(tonic=tonic, mode=mode, bpm=bpm, degrees=degrees, bars=bars, drums=drums, seed=seed)
    return synth.render_song(spec).samples.mean(axis=0)


def _mp3(mono: np.ndarray, kbps: int) -> np.ndarray:
    return decode(synth.encode_mp3(np.stack([mono, mono]), kbps=kbps)).mono_at(SR)


def variants(mono: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """(kind, name, audio) of every variant of one song (at least 90 s long)."""
    fade = mono.copy()
    fade[-8 * SR:] *= np.linspace(1, 0, 8 * SR, dtype=np.float32)
    silence = np.zeros(3 * SR, np.float32)
    out = [("same_audio", f"mp3-{k}", _mp3(mono, k)) for k in (64, 128, 192)]
    out += [("same_audio", "gain-12dB", mono * 0.25), ("same_audio", "trimmed", mono[3 * SR:]),
            ("same_audio", "padded", np.concatenate([silence, mono, silence])), ("same_audio", "fade", fade)]
    out += [("edit", "intro-cut", mono[30 * SR:]), ("edit", "excerpt-40s", mono[25 * SR:65 * SR]),
            ("edit", "radio-edit", np.concatenate([mono[:35 * SR], mono[55 * SR:]]))]
    out += [("near", f"speed-{s}", fp.at_speed(mono, SR, s)) for s in (0.97, 0.98, 1.02, 1.03)]
    return out


def _print(mono: np.ndarray) -> fp.Fingerprint:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fp.fingerprint(mono.astype(np.float32), SR)


def _candidates(index: dict, printed: fp.Fingerprint) -> list[str]:
    """jobs.duplicates.candidates over an in-memory index: the most keys shared at one offset."""
    aligned: dict[tuple[str, int, int], int] = defaultdict(int)
    for key, position in zip(*dup._spread(*dup.index_keys(printed.values), dup.QUERY_KEYS)):
        for other, theirs in index.get(int(key), ()):
            for shift in (0, 1):
                aligned[(other, (theirs - int(position) + shift) // 2, shift)] += 1
    best: dict[str, int] = defaultdict(int)
    for (other, _, _), n in aligned.items():
        best[other] = max(best[other], n)
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    return [o for o, n in ranked if n >= dup.MIN_ALIGNED][:dup.CANDIDATES]


def accuracy(per_style: int, bars: int) -> dict:
    started = time.perf_counter()
    songs = {}  # name -> (style index, mono)
    for s, style in enumerate(STYLES):
        for n in range(per_style):
            songs[f"s{s}-{n}"] = (s, _song(style, 100 * s + n, bars))
    prints = {name: _print(mono) for name, (_, mono) in songs.items()}
    vectors = {name: embed(mono).vector for name, (_, mono) in songs.items()}
    index: dict[int, list[tuple[str, int]]] = defaultdict(list)  # the fingerprint_index table, in memory
    for name, printed in prints.items():
        for key, position in zip(*dup.index_keys(printed.values)):
            index[int(key)].append((name, int(position)))
    seconds = sorted(bars * 4 * 60 / style[2] for style in STYLES)
    print(f"{len(songs)} songs of {seconds[0]:.0f}-{seconds[-1]:.0f} s in {len(STYLES)} styles "
          f"({time.perf_counter() - started:.0f} s to render and fingerprint)")

    found = defaultdict(int)
    total = defaultdict(int)
    any_kind = defaultdict(int)
    missed: list[str] = []
    negatives = false = 0
    ranks: list[int] = []  # the original's rank by embedding, for the near variants
    false_pairs: list[str] = []
    for name, (style, mono) in songs.items():
        for kind, vname, audio in variants(mono):
            printed = _print(audio)
            by_keys = _candidates(index, printed)
            vector = embed(audio).vector
            ranked = [o for o, _ in sorted(((o, float(vector @ v)) for o, v in vectors.items()), key=lambda ov: -ov[1])]
            near = [o for o in ranked[:dup.NEIGHBOURS] if o not in by_keys]
            if kind == "near":
                ranks.append(ranked.index(name) + 1)
            total[kind] += 1
            result = fp.NO_MATCH
            if name in by_keys:
                result = fp.match(printed, prints[name])
            elif name in near:
                result = fp.match(printed, prints[name])
                if not result.found and dup.lengths_near(printed, prints[name]):
                    result = fp.match_near(audio, SR, printed, prints[name])
            any_kind[kind] += result.found
            found[kind] += result.kind == kind
            if result.kind != kind:
                where = "keys" if name in by_keys else "embedding" if name in near else "no candidate"
                missed.append(f"{name}/{vname}: {result.kind} ({where})")
            for other, (other_style, _) in songs.items():  # hard negatives: the same style, key and tempo
                if other == name or other_style != style:
                    continue
                negatives += 1
                wrong = fp.match(printed, prints[other])
                if wrong.found:
                    false += 1
                    false_pairs.append(f"{name}/{vname} ~ {other}: {wrong.kind} {wrong.score} {wrong.shared_seconds}s")
    print(f"{'kind':<11} {'variants':>8} {'recall':>7} {'found as any kind':>18} {'goal':>6}")
    for kind in ("same_audio", "edit", "near"):
        print(f"{kind:<11} {total[kind]:>8} {found[kind] / total[kind]:>7.3f} {any_kind[kind] / total[kind]:>18.3f} "
              f"{GOALS[kind]:>6.2f}")
    print(f"near: the original's rank by embedding among {len(songs)} songs: median {np.median(ranks):.0f}, "
          f"worst {max(ranks)} (candidates: the {dup.NEIGHBOURS} nearest)")
    rate = false / max(1, negatives)
    print(f"hard negatives: {false} false matches in {negatives} pairs ({100 * rate:.2f} %; goal <= 0.5 %)")
    for line in missed[:20]:
        print("  missed", line)
    for line in false_pairs[:10]:
        print("  false", line)

    same_backing = 0
    pairs = 0
    for s, style in enumerate(STYLES):  # the same progression and drums, another melody
        degrees = tuple(int(d) for d in np.random.default_rng(900 + s).choice([1, 2, 4, 5, 6], size=bars))
        a, b = (_print(_song(style, seed, bars, degrees)) for seed in (900 + s, 950 + s))
        pairs += 1
        same_backing += fp.match(a, b).found
    print(f"same backing track, other melody (not counted): {same_backing} of {pairs} pairs match")
    print(f"accuracy part: {time.perf_counter() - started:.0f} s")
    return {"recall": {k: found[k] / total[k] for k in total}, "false_rate": rate}


# --- scale ----------------------------------------------------------------------------------

def _synthetic_lake(root: Path, songs: int, frames: int, seed: int = 0):
    """A lake with fingerprints and index rows of `songs` songs of random sub-fingerprints, written
    as Lance fragments and committed through the lake (one version per 5,000 songs)."""
    import pyarrow as pa
    from lance.fragment import write_fragments

    from songlake.schema import Lake, tables
    from songlake.schema.migrations import ensure_indexes

    lake = Lake.open(root, create=True)
    rng = np.random.default_rng(seed)
    now = datetime.now(timezone.utc)
    chunk = 5000
    ids = []
    for start in range(0, songs, chunk):
        prints, keys, owners, positions = [], [], [], []
        for n in range(start, min(start + chunk, songs)):
            sid = hashlib.sha256(f"fp-{seed}-{n}".encode()).hexdigest()[:32]
            ids.append(sid)
            values = rng.integers(0, 1 << 32, size=frames, dtype=np.uint64).astype(np.uint32)
            prints.append({"song_id": sid, "algorithm": fp.ALGORITHM, "status": "done", "reason": None,
                           "duration": frames * fp.HOP, "start": 0.0, "frames": frames,
                           "values": values.astype("<u4").tobytes(), "near_keys": None, "fingerprinted_at": now})
            k, p = dup.index_keys(values)
            keys.append(k)
            positions.append(p)
            owners.append(np.full(len(k), sid, dtype=object))
        index = pa.table({"hash": np.concatenate(keys), "song_id": pa.array(np.concatenate(owners), pa.string()),
                          "position": np.concatenate(positions)}, schema=tables.FINGERPRINT_INDEX)
        fragments = {
            "fingerprints": write_fragments(pa.Table.from_pylist(prints, schema=tables.FINGERPRINTS),
                                            lake.uri("fingerprints"), schema=tables.FINGERPRINTS),
            "fingerprint_index": write_fragments(index, lake.uri("fingerprint_index"), schema=tables.FINGERPRINT_INDEX),
        }
        lake.commit("ingest", f"synthetic fingerprints {start}-{start + chunk}", fragments,
                    {"fingerprints": len(prints), "fingerprint_index": index.num_rows})
    versions = {table: ensure_indexes(lake, table) for table in ("fingerprints", "fingerprint_index")}
    lake.record("optimize", "fingerprint indexes", versions, {})  # as the pipeline's compactor's next commit does
    return lake, ids, rng


def scale(sizes: list[int], queries: int = 30, frames: int = int(180 / fp.HOP)) -> None:
    from songlake.schema import lookup

    print(f"\n{'songs':>7} {'index rows':>11} {'lookup p50':>11} {'p95':>7} {'search p50':>11} {'p95':>7} "
          f"{'candidates':>10} {'build':>7}")
    with tempfile.TemporaryDirectory(prefix="songlake-dup-") as tmp:
        for size in sizes:
            began = time.perf_counter()
            lake, ids, rng = _synthetic_lake(Path(tmp) / f"lake{size}", size, frames)
            built = time.perf_counter() - began
            rows = lookup.table_at(lake, "fingerprint_index").count_rows()
            lookups, searches, counts = [], [], []
            for q in range(queries):
                # half the queries are copies of a song in the lake (3 % of the bits flipped, as MP3 at 128 kbps)
                values = rng.integers(0, 1 << 32, size=frames, dtype=np.uint64).astype(np.uint32)
                if q % 2 == 0:
                    row = lookup.newest(lake, "fingerprints", [ids[int(rng.integers(len(ids)))]], ["values"], [])
                    values = np.frombuffer(next(iter(row.values()))["values"], "<u4").copy()
                    flips = rng.random((frames, 32)) < 0.03
                    values ^= (flips * (1 << np.arange(32, dtype=np.uint64))).sum(axis=1).astype(np.uint32)
                mine = fp.Fingerprint(values, frames * fp.HOP, 0.0)
                t0 = time.perf_counter()
                found = dup.candidates(lake, "query", values)
                t1 = time.perf_counter()
                got = dup.fingerprint_rows_of(lake, found)
                for sid in found:
                    fp.match(mine, dup.stored(got[sid]))
                t2 = time.perf_counter()
                lookups.append(t1 - t0)
                searches.append(t2 - t0)
                counts.append(len(found))
            ms = lambda xs, p: 1000 * float(np.percentile(xs, p))  # noqa: E731
            print(f"{size:>7} {rows:>11} {ms(lookups, 50):>9.1f}ms {ms(lookups, 95):>5.1f}ms "
                  f"{ms(searches, 50):>9.1f}ms {ms(searches, 95):>5.1f}ms {np.mean(counts):>10.1f} {built:>6.0f}s")
            import shutil

            shutil.rmtree(Path(tmp) / f"lake{size}", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accuracy", action="store_true", help="only the variants and hard negatives")
    parser.add_argument("--scale", default=None, help="only the lookup, at these collection sizes (comma-separated)")
    parser.add_argument("--per-style", type=int, default=8, help="songs per style (default 8)")
    parser.add_argument("--bars", type=int, default=50, help="bars per song (default 50: 100 s at 120 BPM)")
    args = parser.parse_args()
    if args.scale is None:
        accuracy(args.per_style, args.bars)
    if not args.accuracy:
        scale([int(n) for n in (args.scale or "1000,10000,100000").split(",")])


if __name__ == "__main__":
    main()
