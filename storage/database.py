"""Where the database is: a configured URL, or an embedded PostgreSQL; and its schema migrations."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

logger = logging.getLogger(__name__)


# Settings of the embedded PostgreSQL for a store that writes much (docs/operations.md): with
# PostgreSQL's default max_wal_size of 1GB, a steady load of spans and their derivation fills
# the WAL within a minute, so checkpoints follow each other, and after each one the next change
# of every page logs the whole page. Neither needs a restart. (WAL compression is left off: the
# embedded server has only pglz, which costs more CPU than the bytes it saves.)
EMBEDDED_SETTINGS: dict[str, str] = {"max_wal_size": "4GB", "checkpoint_timeout": "15min"}


def apply_settings(database_url: str, settings: dict[str, str]) -> None:
    """Set ``settings`` on the server (ALTER SYSTEM, then a reload). Only for a server of ours:
    it writes the server's postgresql.auto.conf."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name, value in settings.items():
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
            )
        conn.execute("SELECT pg_reload_conf()")


class EmbeddedPostgres:
    """A real PostgreSQL 16 (from the ``pgserver`` wheel) in a data directory of ours."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        import pgserver  # imported here: it is only needed when no database URL is given

        self.data_dir.mkdir(parents=True, exist_ok=True)
        logger.info("starting embedded PostgreSQL in %s", self.data_dir)
        self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        uri = str(self._server.get_uri())
        apply_settings(uri, EMBEDDED_SETTINGS)
        return uri

    def stop(self) -> None:
        if self._server is not None:
            logger.info("stopping embedded PostgreSQL")
            self._server.cleanup()
            self._server = None


def migrations_dir() -> Path:
    return Path(str(resources.files("storage"))) / "migrations"


def yoyo_url(database_url: str) -> str:
    """The same database as a yoyo URL (yoyo names the psycopg 3 driver in the scheme).

    Accepts any libpq connection string: a ``postgresql://`` URL or ``key=value`` pairs.
    """
    if database_url.startswith("postgresql+psycopg://"):
        return database_url
    try:
        params = conninfo_to_dict(database_url)
    except psycopg.ProgrammingError as exc:
        raise ValueError(f"not a PostgreSQL connection string: {exc}") from None
    user = quote(str(params.pop("user", "") or ""), safe="")
    password = params.pop("password", None)
    credentials = user + (":" + quote(str(password), safe="") if password else "")
    host = str(params.pop("host", "") or "")
    port = params.pop("port", None)
    dbname = quote(str(params.pop("dbname", "") or ""), safe="")
    netloc = ""
    if host and not host.startswith("/"):
        netloc = host + (f":{port}" if port else "")
    else:
        if host:
            params["host"] = host
        if port:
            params["port"] = port
    query = urlencode({key: str(value) for key, value in params.items()})
    at = "@" if credentials else ""
    return f"postgresql+psycopg://{credentials}{at}{netloc}/{dbname}" + (
        f"?{query}" if query else ""
    )


def apply_migrations(database_url: str) -> list[str]:
    """Apply pending migrations, each in its own transaction under yoyo's lock.

    Returns the ids of the migrations applied now (empty when the schema was current).
    """
    from yoyo import get_backend, read_migrations

    backend = get_backend(yoyo_url(database_url))
    migrations = read_migrations(str(migrations_dir()))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    applied = [migration.id for migration in pending]
    if applied:
        logger.info("applied migrations: %s", ", ".join(applied))
    return applied


def check_connection(database_url: str, timeout_s: float = 5.0) -> None:
    """Raise psycopg.OperationalError with the server's reason when the database is unreachable."""
    with psycopg.connect(database_url, connect_timeout=max(1, int(timeout_s))) as conn:
        conn.execute("SELECT 1")


@dataclass
class DatabaseHandle:
    """The URL to use, and the embedded server behind it when there is one."""

    url: str
    embedded: EmbeddedPostgres | None = field(default=None)

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def open_database(database_url: str | None, data_dir: Path) -> DatabaseHandle:
    """Use ``database_url`` when given, else start the embedded PostgreSQL in ``data_dir``."""
    if database_url:
        return DatabaseHandle(url=database_url)
    embedded = EmbeddedPostgres(data_dir)
    return DatabaseHandle(url=embedded.start(), embedded=embedded)
