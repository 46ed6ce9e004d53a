"""Projects and API keys: create, list, revoke (the CLI), and look a key up (every request).

A key is ``ag_`` followed by 32 random bytes in URL-safe base64. Only its SHA-256 is stored:
the key has 256 bits of entropy, so a fast digest cannot be reversed by guessing, and the
server finds a key by its digest through a unique index. The secret itself is printed once,
by ``create_key``'s caller, and never stored or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage.errors import StorageUnavailable

SCOPES: Final = ("ingest", "read", "admin")
KEY_PREFIX: Final = "ag_"
_SECRET_BYTES: Final = 32
_KEY_PATTERN: Final = re.compile(r"ag_[A-Za-z0-9_-]{43}")
_PROJECT_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_KEY_NAME_CHARS: Final = 200

_UPSERT_PROJECT = """
WITH inserted AS (
    INSERT INTO projects (name) VALUES (%(name)s) ON CONFLICT (name) DO NOTHING RETURNING id
)
SELECT id FROM inserted UNION ALL SELECT id FROM projects WHERE name = %(name)s
"""

_INSERT_KEY = """
INSERT INTO api_keys (project_id, name, scope, key_hash) VALUES (%s, %s, %s, %s)
RETURNING id
"""

_SELECT_KEYS = """
SELECT k.id, p.name AS project, k.name, k.scope, k.created_at, k.last_used_at, k.revoked_at
FROM api_keys k JOIN projects p ON p.id = k.project_id
WHERE %(project)s::text IS NULL OR p.name = %(project)s::text
ORDER BY k.id
"""

_REVOKE_KEY = """
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s RETURNING id
"""

# One round trip per request: the active key by digest, and its last use recorded at most
# once a minute so that busy keys do not write a row version per request.
_FIND_ACTIVE_KEY = """
WITH found AS (
    SELECT k.id, k.project_id, p.name AS project_name, k.scope, k.key_hash, k.last_used_at
    FROM api_keys k JOIN projects p ON p.id = k.project_id
    WHERE k.key_hash = %s AND k.revoked_at IS NULL
), touched AS (
    UPDATE api_keys SET last_used_at = now()
    FROM found
    WHERE api_keys.id = found.id
      AND (found.last_used_at IS NULL OR found.last_used_at < now() - interval '1 minute')
)
SELECT id, project_id, project_name, scope, key_hash FROM found
"""


class InvalidKeyRequest(ValueError):
    """A project name, key name or scope that cannot be used."""


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """What a request authenticated by a key may act as."""

    id: int
    project_id: int
    project_name: str
    scope: str


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as ``keys list`` shows it: everything but the secret."""

    id: int
    project: str
    name: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewKey:
    id: int
    project: str
    name: str
    scope: str
    secret: str


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def key_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def is_well_formed(secret: str) -> bool:
    """Whether ``secret`` has the shape of a key (checked before any database lookup)."""
    return _KEY_PATTERN.fullmatch(secret) is not None


def check_project_name(name: str) -> None:
    if _PROJECT_NAME_PATTERN.fullmatch(name) is None:
        raise InvalidKeyRequest(
            "a project name is 1-64 letters, digits, '_', '.' or '-', starting with a letter "
            "or digit"
        )


def _check_key_request(project: str, name: str, scope: str) -> None:
    check_project_name(project)
    if not name.strip() or len(name) > MAX_KEY_NAME_CHARS or not name.isprintable():
        raise InvalidKeyRequest(
            f"a key name is 1-{MAX_KEY_NAME_CHARS} printable characters, not only spaces"
        )
    if scope not in SCOPES:
        raise InvalidKeyRequest(f"scope must be one of {', '.join(SCOPES)}")


def create_key(conn: psycopg.Connection[Any], project: str, name: str, scope: str) -> NewKey:
    """Create a key for ``project`` (creating the project when it is new) and commit."""
    _check_key_request(project, name, scope)
    secret = new_secret()
    with conn.transaction():
        row = conn.execute(_UPSERT_PROJECT, {"name": project}).fetchone()
        assert row is not None
        key_row = conn.execute(_INSERT_KEY, (row[0], name, scope, key_digest(secret))).fetchone()
        assert key_row is not None
    return NewKey(id=int(key_row[0]), project=project, name=name, scope=scope, secret=secret)


def list_keys(conn: psycopg.Connection[Any], project: str | None = None) -> list[KeyInfo]:
    with conn.cursor(row_factory=class_row(KeyInfo)) as cursor:
        cursor.execute(_SELECT_KEYS, {"project": project})
        return cursor.fetchall()


def revoke_key(conn: psycopg.Connection[Any], key_id: int) -> bool:
    """Revoke a key (revoking it again changes nothing); False when there is no such key."""
    with conn.transaction():
        return conn.execute(_REVOKE_KEY, (key_id,)).fetchone() is not None


class KeyStore:
    """The server's view of the keys: one indexed lookup per request, no cache, so a revoked
    key stops working with the next request, on every server process."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def find_active(self, secret: str) -> ActiveKey | None:
        """The active (not revoked) key with this secret, if any.

        Raises StorageUnavailable when the database cannot answer.
        """
        digest = key_digest(secret)
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(_FIND_ACTIVE_KEY, (digest,))
                row = await cursor.fetchone()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc
        if row is None or not hmac.compare_digest(bytes(row[4]), digest):
            return None
        return ActiveKey(id=row[0], project_id=row[1], project_name=row[2], scope=row[3])
