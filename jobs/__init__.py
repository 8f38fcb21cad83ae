"""Jobs: the work that turns files into lake rows.

- ``examine(path)``: every weight-free stage for one file (decode, tags, quality, beats, key,
  embedding), run in worker processes;
- ``ingest(lake, paths)``: a batch: discover, examine in parallel, commit one lake version.

The queue (Huey) and the stems stage arrive with the pipeline issue; until then ``ingest``
runs its own process pool.
"""

from songlake.jobs.batch import IngestReport, Outcome, discover, ingest
from songlake.jobs.examine import Examined, Provenance, Refused, examine

__all__ = ["Examined", "IngestReport", "Outcome", "Provenance", "Refused", "discover", "examine", "ingest"]
