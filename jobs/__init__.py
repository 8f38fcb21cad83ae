"""Jobs: the work that turns files into lake rows.

- ``examine(path)``: every weight-free stage for one file (decode, tags, quality, beats, key,
  embedding), run in worker processes;
- ``ingest(lake, paths)``: a batch: discover, examine in parallel, commit one lake version;
- ``reanalyze_lake(lake)``: analyse stored songs again from their originals after an upgrade;
- ``analyze_audio(mono)`` (jobs.analyze): the full analysis of one song.

The queue (Huey) and the stems stage arrive with the pipeline issue; until then ``ingest``
runs its own process pool.
"""

from songlake.jobs.batch import IngestReport, Outcome, discover, ingest, reanalyze_lake
from songlake.jobs.examine import Examined, Provenance, Refused, examine

__all__ = ["Examined", "IngestReport", "Outcome", "Provenance", "Refused", "discover", "examine", "ingest", "reanalyze_lake"]
