"""Jobs: the pipeline that turns files into lake rows, on Huey queues.

- ``ingest(lake, paths)``: the embedded default: queue files, run workers until done (batch.py);
- ``Queue.open(lake)``: the stage queues (SQLite in the lake, or Redis) and the ledger (queue.py);
- ``run_stage``: the task every stage queue runs: ingest, separate, analyze, embed, genre (stages.py);
- ``Worker``, ``Pool``, ``resume``, ``status``: worker processes, lost-work recovery (worker.py);
- ``examine(path)``: the ingest stage's work on one file; ``analyze_audio(mono)``: the analysis.
"""

from songlake.jobs.batch import IngestReport, Outcome, discover, ingest, reanalyze_lake
from songlake.jobs.examine import Examined, Provenance, Refused, examine

__all__ = ["Examined", "IngestReport", "Outcome", "Provenance", "Refused", "discover", "examine", "ingest", "reanalyze_lake"]
