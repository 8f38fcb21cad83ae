"""The SQL that defines songlake's public names, kept as .sql files.

Each file starts with a header comment (title, what it answers, parameters). ``VIEWS`` lists the
view files in the order they are created; the gateway in songlake.schema runs them over the lake
tables, which it registers as ``lake_<table>``; the views after ``songs`` read it.
"""

from importlib.resources import files

VIEWS = ("duplicates", "songs", "stage_status", "ingest_errors", "lake_versions", "label_history", "annotation_queue",
         "genre_balance", "era_balance", "quality_compliance", "splits", "generations", "model_report",
         "votes", "preferences")


def text(name: str) -> str:
    """The SQL of one file in this package, by name without the .sql suffix."""
    return files(__name__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
