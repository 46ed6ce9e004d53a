"""GET /v1/runs/{id}/similar against the embedded PostgreSQL (pgvector) with the real embedding
model; and its clear 501 where the model is switched off or pgvector cannot be used."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from agentguide.embeddings import MODEL_ID, similar_runs_reason
from tests.api.builders import send_runs
from tests.support import PostgresServer, running_server, wait_derived, with_database
from tests.triage.similar_site import (
    OTHER_AGENT,
    SimilarSite,
    search_refused,
    similar,
    similar_site,
)


@pytest.fixture(scope="module")
def site(embedded_postgres: PostgresServer) -> Iterator[SimilarSite]:
    with similar_site(embedded_postgres) as built:
        yield built


def test_the_nearest_runs_failed_the_same_way(site: SimilarSite) -> None:
    target = site.search_failures[0]
    response = similar(site, target.id, limit=4)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["state"] == "ready"
    assert answer["model"] == MODEL_ID
    ids = [item["run"]["id"] for item in answer["items"]]
    assert len(ids) == 4
    assert target.id not in ids
    assert set(ids) == {run.id for run in site.search_failures[1:]}
    similarities = [item["similarity"] for item in answer["items"]]
    assert similarities == sorted(similarities, reverse=True)
    assert all(0 < value <= 1 for value in similarities)


def test_only_runs_of_the_same_agent_are_compared(site: SimilarSite) -> None:
    answer = similar(site, site.deadlocks[0].id, limit=50).json()
    agents = {item["run"]["agent"]["name"] for item in answer["items"]}
    assert agents == {site.deadlocks[0].agent}
    expected = len(site.search_failures) + len(site.deadlocks) + len(site.successes) - 1
    assert len(answer["items"]) == expected
    assert {item["run"]["id"] for item in answer["items"][:3]} == {
        run.id for run in site.deadlocks[1:]
    }
    other = similar(site, site.other_agent[0].id).json()
    assert [item["run"]["id"] for item in other["items"]] == [site.other_agent[1].id]
    assert other["items"][0]["run"]["agent"]["name"] == OTHER_AGENT


def test_a_run_still_running_is_embedded_once_it_finishes(site: SimilarSite) -> None:
    created = httpx.post(
        f"{site.url}/v1/runs", json={"agent_name": "research-bot", "input": "x"}, timeout=30
    )
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    wait_derived(site.database_url)
    answer = similar(site, run_id).json()
    assert answer["state"] == "not_finished"
    assert answer["items"] == []
    assert "once they finish" in answer["message"]
    finished = httpx.patch(
        f"{site.url}/v1/runs/{run_id}", json={"status": "SUCCESS", "output": "y"}, timeout=30
    )
    assert finished.status_code == 200, finished.text
    wait_derived(site.database_url)
    deadline = time.monotonic() + 60
    while (answer := similar(site, run_id).json())["state"] != "ready":
        assert answer["state"] == "pending", answer
        assert time.monotonic() < deadline, "the finished run was not embedded"
        time.sleep(0.2)
    assert answer["items"]


def test_unknown_runs_and_bad_limits(site: SimilarSite) -> None:
    assert similar(site, "ab" * 24).status_code == 404
    response = similar(site, site.successes[0].id, limit=0)
    assert response.status_code == 422
    assert response.json()["error"]["parameters"] == ["limit"]


def test_switched_off_it_answers_501_and_queues_nothing(embedded_postgres: PostgresServer) -> None:
    database_url = embedded_postgres.create_database()
    run = search_refused("research-bot", 1)
    with running_server(database_url, env={"AGENTGUIDE_SIMILAR_RUNS": "off"}) as server:
        send_runs(server.http_url, [run])
        wait_derived(database_url)
        response = httpx.get(f"{server.http_url}/v1/runs/{run.id}/similar", timeout=30)
        assert response.status_code == 501
        assert response.json()["error"] == {
            "code": "not_available",
            "message": "Similar runs are off: AGENTGUIDE_SIMILAR_RUNS=off is set for this server.",
        }
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM embed_queue").fetchone() == (0,)


def test_without_pgvector_it_says_so_and_the_rest_works(
    embedded_postgres: PostgresServer,
) -> None:
    """A role that may not create extensions stands for a server without pgvector: the same
    code path (CREATE EXTENSION fails) on any PostgreSQL the tests run against."""
    if similar_runs_reason() is not None:
        pytest.skip(similar_runs_reason())
    role = f"agentguide_limited_{uuid.uuid4().hex[:8]}"
    database = f"agentguide_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(embedded_postgres.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'CREATE DATABASE "{database}" OWNER "{role}"')
    database_url = with_database(embedded_postgres.admin_url, database)
    limited_url = make_conninfo(**{**conninfo_to_dict(database_url), "user": role})
    run = search_refused("research-bot", 2)
    try:
        with running_server(limited_url) as server:
            send_runs(server.http_url, [run])
            wait_derived(limited_url)
            response = httpx.get(f"{server.http_url}/v1/runs/{run.id}/similar", timeout=30)
            assert response.status_code == 501
            message = response.json()["error"]["message"]
            assert message.startswith("Similar runs are off: this PostgreSQL has pgvector")
            assert "CREATE EXTENSION vector" in message
            detail = httpx.get(f"{server.http_url}/v1/runs/{run.id}", timeout=30).json()
            assert detail["failure"]["name"] == "web_search"
            assert "Similar runs are off" in server.log()
    finally:
        with psycopg.connect(embedded_postgres.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
