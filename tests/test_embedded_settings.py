"""The embedded PostgreSQL gets the settings of a store that writes much (fewer checkpoints),
a data directory made before them included; an external server is left as it is."""

from __future__ import annotations

from pathlib import Path

import pgserver
import psycopg

from storage.database import EMBEDDED_SETTINGS, EmbeddedPostgres, open_database


def _settings(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {
            name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in EMBEDDED_SETTINGS
        }


def test_the_embedded_server_writes_with_its_settings(tmp_path: Path) -> None:
    older = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")  # as before the settings
    assert _settings(older.get_uri()) == {"max_wal_size": "1GB", "checkpoint_timeout": "5min"}
    older.cleanup()
    embedded = EmbeddedPostgres(tmp_path / "pg")
    url = embedded.start()
    try:
        assert _settings(url) == EMBEDDED_SETTINGS
    finally:
        embedded.stop()


def test_an_external_server_is_left_alone(fresh_database_url: str) -> None:
    before = _settings(fresh_database_url)
    handle = open_database(fresh_database_url, Path("/nonexistent"))
    assert handle.embedded is None
    assert _settings(handle.url) == before
