"""The server's errors: one root, one subclass per HTTP answer.

The app's single exception handler (app.py) turns each into a JSON body ``{"error": message,
"status": code}``. Messages say what was wrong in the caller's terms; they never carry a
filesystem path or a traceback.
"""

from __future__ import annotations


class ServerError(Exception):
    status_code = 500


class BadRequest(ServerError):
    status_code = 400


class QueryTimeout(BadRequest):
    """A query ran past the SQL time limit and was stopped."""


class Unauthorized(ServerError):
    status_code = 401


class Forbidden(ServerError):
    status_code = 403


class NotFound(ServerError):
    status_code = 404


class RequestTimeout(ServerError):
    """The request's body did not arrive within the time allowed."""

    status_code = 408


class PayloadTooLarge(ServerError):
    status_code = 413


class Busy(ServerError):
    """Every slot for this kind of work is taken; the client may retry after `retry_after` s."""

    status_code = 503

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class RangeNotSatisfiable(ServerError):
    status_code = 416

    def __init__(self, size: int, message: str | None = None):
        super().__init__(message or f"the requested range is outside the {size} bytes of the resource")
        self.size = size
