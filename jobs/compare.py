"""Compare: a model's generations against a reference slice of the lake, attribute by attribute
and over the lake's embedding (udfs.distributions has the conventions and the maths).

``compare_model(lake, model, checkpoint=None, reference=None) -> Comparison``

- the generations: the model's rows of the ``generations`` view (one checkpoint's, when given):
  the analysed key and bpm, the measured loudness, genre and embedding, and the sections;
- the reference: the songs a SQL query returns (any query with a ``song_id`` column, such as
  ``SELECT song_id FROM songs WHERE primary_genre = 'rock'``), read from the ``songs`` view at
  the lake's newest version. By default, the songs the model was trained on, where its
  generations' ``trained_on`` can be evaluated here (jobs/trained_on.py; several recorded
  training sets are joined), else every song; ``reference_detail`` says which.

Per attribute (key, tempo, genre, loudness, section_length) the two histograms, the
Jensen–Shannon divergence in bits and, for numbers, the 1-D Wasserstein distance; and
``frechet_songlake_embedding``, the Fréchet distance between Gaussians fitted to the two sets of
embeddings, which is not FAD (see udfs.distributions). ``Comparison.summary()`` and
``.histograms()`` are Arrow tables (DuckDB reads them as they are: ``con.register``);
``as_dict()`` is the whole comparison for JSON. ``warnings`` lists what the reader should know
(few vectors for the Fréchet distance, attributes with no values on a side).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from songlake.jobs.trained_on import training_set
from songlake.schema import Lake, QueryError, Reader
from songlake.udfs.distributions import ATTRIBUTES, Frechet, Histograms, compare_attribute, frechet_songlake_embedding

COLUMNS = ("key", "bpm", "primary_genre", "loudness_lufs", "sections", "embedding")
GENERATIONS = ("SELECT generation_id, key, bpm, primary_genre, loudness_lufs, sections, embedding, trained_on_lake, "
               "trained_on_version, trained_on_tag, trained_on_query FROM generations "
               "WHERE model = $1 AND ($2::VARCHAR IS NULL OR checkpoint = $2)")
SONGS = f"SELECT song_id, {', '.join(COLUMNS)} FROM songs"


@dataclass(frozen=True)
class Comparison:
    model: str
    checkpoint: str | None
    reference: str  # the SQL slice, or what stood in for it
    reference_detail: str
    n_generations: int
    n_reference: int
    attributes: tuple[Histograms, ...]
    frechet: Frechet
    warnings: tuple[str, ...] = ()

    def summary(self) -> pa.Table:
        """One row per measure: the attributes' JS divergence and Wasserstein distance, then the
        Fréchet distance, with the values each side had."""
        rows = [{"measure": h.attribute, "js_bits": h.js, "wasserstein": h.wasserstein, "unit": h.unit,
                 "n_generated": h.n_generated, "n_reference": h.n_reference} for h in self.attributes]
        f = self.frechet
        rows.append({"measure": f.name, "js_bits": None, "wasserstein": None, "unit": None,
                     "n_generated": f.n_generated, "n_reference": f.n_reference, "frechet": f.distance})
        return pa.Table.from_pylist([{"frechet": None} | r for r in rows],
                                    schema=pa.schema([("measure", pa.string()), ("js_bits", pa.float64()),
                                                      ("wasserstein", pa.float64()), ("frechet", pa.float64()),
                                                      ("unit", pa.string()), ("n_generated", pa.int64()),
                                                      ("n_reference", pa.int64())]))

    def histograms(self) -> pa.Table:
        """The histograms in long form: attribute, bin, generated and reference counts."""
        rows = [{"attribute": h.attribute, "bin": label, "generated": g, "reference": r}
                for h in self.attributes for label, g, r in zip(h.bins, h.generated, h.reference)]
        return pa.Table.from_pylist(rows, schema=pa.schema([("attribute", pa.string()), ("bin", pa.string()),
                                                            ("generated", pa.int64()), ("reference", pa.int64())]))

    def as_dict(self) -> dict:
        out = asdict(self)
        for h, data in zip(self.attributes, out["attributes"]):
            data |= {"n_generated": h.n_generated, "n_reference": h.n_reference}
        return out


def compare_model(lake: Lake, model: str, checkpoint: str | None = None, reference: str | None = None,
                  smoothing: float = 0.0) -> Comparison:
    """The model's generations against the reference slice (see the module docstring).
    ValueError when the model has no generations or the reference query cannot be run."""
    reader = Reader.shared(lake)
    generated = reader.run(GENERATIONS, params=[model, checkpoint]).to_pylist()
    if not generated:
        known = [r["model"] for r in reader.run("SELECT DISTINCT model FROM generations ORDER BY model").to_pylist()]
        which = f"model {model!r}" + (f" at checkpoint {checkpoint!r}" if checkpoint else "")
        raise ValueError(f"no generations of {which}; models in the lake: {', '.join(known) or 'none'}")
    if reference:
        try:
            songs = reader.run(f"{SONGS} WHERE song_id IN (SELECT song_id FROM ({reference}) AS reference)")
        except QueryError as exc:
            raise ValueError(f"the reference query cannot be run ({exc}); it must return a song_id column") from None
        label, detail = reference, f"the reference query: {songs.num_rows} songs"
    else:
        songs, label, detail = _trained_on(lake, reader, generated)
    songs = songs.to_pylist()
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        attributes = tuple(compare_attribute(name, _values(name, generated), _values(name, songs), smoothing)
                           for name in ATTRIBUTES)
        frechet = frechet_songlake_embedding(_vectors(generated), _vectors(songs))
    caught += [str(w.message) for w in said]
    return Comparison(model, checkpoint, label, detail, len(generated), len(songs), attributes, frechet,
                      tuple(dict.fromkeys(caught)))


def _trained_on(lake: Lake, reader: Reader, generated: list[dict]) -> tuple[pa.Table, str, str]:
    """The songs the generations were trained on (all their recorded sets joined), else every song."""
    recorded = {(g["trained_on_lake"], g["trained_on_version"], g["trained_on_tag"], g["trained_on_query"])
                for g in generated}
    fields = ("lake", "lake_version", "tag", "query")
    sets = [training_set(lake, dict(zip(fields, r))) for r in sorted(recorded, key=str)]
    unknown = [s for s in sets if s.song_ids is None]
    if unknown:
        return reader.run(SONGS), "all songs", f"every song in the lake: {unknown[0].detail}"
    ids = sorted(set().union(*(s.song_ids for s in sets)))
    songs = reader.run(f"{SONGS} WHERE list_contains($1, song_id)", params=[ids])
    return songs, "the songs it was trained on", "; ".join(s.detail for s in sets)


def _values(attribute: str, rows: list[dict]) -> list:
    if attribute == "key":
        return [r["key"] for r in rows]
    if attribute == "tempo":
        return [r["bpm"] for r in rows]
    if attribute == "genre":
        return [r["primary_genre"] for r in rows]
    if attribute == "loudness":
        return [r["loudness_lufs"] for r in rows]
    return [s["end"] - s["start"] for r in rows for s in (r["sections"] or [])
            if s["start"] is not None and s["end"] is not None]


def _vectors(rows: list[dict]) -> np.ndarray:
    found = [r["embedding"] for r in rows if r["embedding"] is not None]
    return np.asarray(found, dtype=np.float64) if found else np.zeros((0, 0))
