"""Jobs: the pipeline that turns files into lake rows, on Huey queues.

- ``ingest(lake, paths)``: the embedded default: queue files, run workers until done (batch.py);
- ``Queue.open(lake)``: the stage queues (SQLite in the lake, or Redis) and the ledger (queue.py);
- ``run_stage``: the task every stage queue runs: ingest, separate, analyze, embed, genre (stages.py);
- ``Worker``, ``Pool``, ``resume``, ``status``: worker processes, lost-work recovery (worker.py);
- ``examine(path)``: the ingest stage's work on one file; ``analyze_audio(mono)``: the analysis;
- generations (issue 16): ``generations.add`` (analysed, scored, measured and checked for copies of
  training songs by ``copies.CopyChecker``), ``compare.compare_model`` (a model's distributions
  against a slice of the lake), ``trained_on.training_set`` (the songs a model was trained on).
"""

from songlake.jobs.batch import IngestReport, Outcome, discover, ingest, reanalyze_lake
from songlake.jobs.examine import Examined, Provenance, Refused, examine

__all__ = ["Examined", "IngestReport", "Outcome", "Provenance", "Refused", "discover", "examine", "ingest", "reanalyze_lake"]
