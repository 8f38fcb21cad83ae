"""API tokens and the guards that check them.

Writes (uploads, labels) always need a token; reads need one when the server's ``reads`` setting
is ``token``. A token is made by ``songlake token create NAME``, shown once, and only its SHA-256
is stored (``LAKE/server/tokens.db``), so a copy of the lake folder gives no one a usable token.
Callers send it as ``Authorization: Bearer <token>``; the web UI's login puts it in an HttpOnly,
SameSite=Strict cookie, which is accepted the same way. The token's name is who a label was
written by.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from songlake.server.errors import BadRequest, Unauthorized

COOKIE = "songlake_token"
PREFIX = "sl_"


@dataclass(frozen=True)
class TokenInfo:
    name: str
    created_at: str
    revoked: bool


class TokenStore:
    """The lake's API tokens: names and the hashes of their secrets."""

    def __init__(self, lake_root: str | Path):
        self.path = Path(lake_root) / "server" / "tokens.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS tokens (name TEXT PRIMARY KEY, hash TEXT UNIQUE NOT NULL, "
                       "created_at TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)")

    def _db(self) -> sqlite3.Connection:
        if getattr(self._local, "db", None) is None:
            self._local.db = sqlite3.connect(self.path, timeout=30)
        return self._local.db

    def create(self, name: str) -> str:
        """A new token for name; the secret is returned once and never stored."""
        if not name or not all(c.isalnum() or c in "-_.@" for c in name) or len(name) > 64:
            raise BadRequest(f"token names are up to 64 letters, digits, '-', '_', '.' or '@', not {name!r}")
        secret = PREFIX + secrets.token_urlsafe(32)
        try:
            with self._db() as db:
                db.execute("INSERT INTO tokens (name, hash, created_at) VALUES (?, ?, ?)",
                           (name, _digest(secret), datetime.now(timezone.utc).isoformat(timespec="seconds")))
        except sqlite3.IntegrityError:
            raise BadRequest(f"a token named {name!r} exists already (revoke it first)") from None
        return secret

    def verify(self, secret: str | None) -> str | None:
        """The name of the live token with this secret, or None."""
        if not secret or not secret.startswith(PREFIX):
            return None
        row = self._db().execute("SELECT name FROM tokens WHERE hash = ? AND revoked = 0", (_digest(secret),)).fetchone()
        return row[0] if row else None

    def revoke(self, name: str) -> bool:
        with self._db() as db:
            return db.execute("UPDATE tokens SET revoked = 1 WHERE name = ? AND revoked = 0", (name,)).rowcount > 0

    def list(self) -> list[TokenInfo]:
        rows = self._db().execute("SELECT name, created_at, revoked FROM tokens ORDER BY created_at, name").fetchall()
        return [TokenInfo(name, created, bool(revoked)) for name, created, revoked in rows]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def presented_token(connection: ASGIConnection) -> str | None:
    """The token a request carries: the Bearer header, else the UI's cookie."""
    header = connection.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return connection.cookies.get(COOKIE)


def caller(connection: ASGIConnection) -> str | None:
    """The name of the token the request carries, None when it carries no valid one."""
    return connection.app.state.tokens.verify(presented_token(connection))


def require_token(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard for writes."""
    if caller(connection) is None:
        raise Unauthorized(_why(connection) + "; writes need an API token (`songlake token create NAME`), "
                           "sent as 'Authorization: Bearer <token>'")


def require_reader(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard for reads: open unless the server's reads setting is 'token'."""
    if connection.app.state.settings.reads == "token" and caller(connection) is None:
        raise Unauthorized(_why(connection) + "; this server's reads need an API token too (SONGLAKE_READS=token)")


def _why(connection: ASGIConnection) -> str:
    return "the token is not valid (unknown or revoked)" if presented_token(connection) else "no API token given"
