"""The lake's exceptions: one root, one-line subclasses."""


class LakeError(Exception):
    """Something about the lake itself is wrong; the message says what and what to do."""


class NotALake(LakeError):
    """The folder holds no songlake lake."""


class UnknownVersion(LakeError):
    """A version number or tag that the lake does not have."""


class SchemaTooNew(LakeError):
    """The lake was written by a newer songlake than this one."""


class QueryError(LakeError):
    """A SQL query failed; the message is DuckDB's."""
