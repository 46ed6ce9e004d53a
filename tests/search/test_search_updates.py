"""A run's search row follows its trace: a step that arrives later is found by its words and
attributes, and the row is rewritten only when its document changed."""

from __future__ import annotations

import httpx
import psycopg

from tests.api.builders import T0, AgentRun, Tool, send, unique
from tests.otlp_helpers import attr
from tests.support import RunningServer, wait_derived


def _ids(api: httpx.Client, **params: str) -> list[str]:
    response = api.get("/v1/runs", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def _digest(database_url: str, run: AgentRun) -> bytes:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT digest FROM run_search WHERE trace_id = %s AND span_id = %s",
            (run.trace_id, run.span_id),
        ).fetchone()
    assert row is not None
    return bytes(row[0])


def test_a_later_step_is_searchable(api: httpx.Client, agentguide_server: RunningServer) -> None:
    marker = unique("laterword").replace("-", "")
    run = AgentRun(
        unique("updates-agent"), T0, 5000, input="first part", tools=[Tool("early", 10, 5)]
    )
    spans = run.spans()
    send(agentguide_server.http_url, spans[:2])
    wait_derived(agentguide_server.database_url)
    assert _ids(api, agent=run.agent, q="first part") == [run.id]
    assert _ids(api, agent=run.agent, q=marker) == []
    before = _digest(agentguide_server.database_url, run)

    # the same spans again change nothing
    send(agentguide_server.http_url, spans[:2])
    wait_derived(agentguide_server.database_url)
    assert _digest(agentguide_server.database_url, run) == before

    late = AgentRun(
        run.agent, T0, 5000,
        tools=[Tool("late", 100, 5, arguments=f'{{"text": "{marker}"}}')],
        trace_id=run.trace_id, span_id=run.span_id,
    ).spans()[1]  # fmt: skip
    late.attributes.append(attr("app.late", True))
    send(agentguide_server.http_url, [late])
    wait_derived(agentguide_server.database_url)
    assert _ids(api, agent=run.agent, q=marker) == [run.id]
    assert _ids(api, agent=run.agent, q="first part") == [run.id]
    assert _ids(api, agent=run.agent, **{"attr.app.late": "true"}) == [run.id]
    assert _digest(agentguide_server.database_url, run) != before


def test_every_partition_has_the_words_index(agentguide_server: RunningServer) -> None:
    """Indexes of run_search cascade to its partitions, those made later included."""
    with psycopg.connect(agentguide_server.database_url) as conn:
        rows = conn.execute(
            "SELECT c.relname, array_agg(pg_get_indexdef(x.indexrelid)::text)"
            " FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid"
            " JOIN pg_index x ON x.indrelid = c.oid"
            " WHERE h.inhparent = 'run_search'::regclass GROUP BY c.relname"
        ).fetchall()
        columns = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'run_search'::regclass"
            " AND attnum > 0 AND NOT attisdropped"
        ).fetchall()
    assert len(rows) > 1  # the default partition and day partitions
    for name, definitions in rows:
        assert any("USING gin (words)" in d for d in definitions), (name, definitions)
        assert not any("folded" in d for d in definitions), (name, definitions)
    assert ("folded",) not in columns
