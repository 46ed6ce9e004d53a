"""A run's search row follows its trace: a step that arrives later is found by its words and
attributes, and the row is rewritten only when its document changed."""

from __future__ import annotations

import httpx
import psycopg
from psycopg.types.json import Jsonb

from storage.search_index import decode_document
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
    """Indexes and column storage of run_search cascade to its partitions, those made later
    included."""
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
    with psycopg.connect(agentguide_server.database_url) as conn:
        storage = conn.execute(
            "SELECT DISTINCT a.attstorage FROM pg_inherits h"
            " JOIN pg_attribute a ON a.attrelid = h.inhrelid AND a.attname = 'document'"
            " WHERE h.inhparent = 'run_search'::regclass"
        ).fetchall()
    assert storage == [("e",)]  # a zstd frame is not compressed again, in every partition


def _stored_form(database_url: str, run: AgentRun) -> tuple[bool, bool, bool]:
    """Whether the run's search row has a document, a body and segments."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT document IS NOT NULL, body IS NOT NULL, segments IS NOT NULL"
            " FROM run_search WHERE trace_id = %s AND span_id = %s",
            (run.trace_id, run.span_id),
        ).fetchone()
    assert row is not None
    return row


def _snippet_texts(api: httpx.Client, run: AgentRun, word: str) -> tuple[str, str]:
    response = api.get("/v1/runs", params={"agent": run.agent, "q": word})
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    match = item["match"]
    return match["field"], "".join(f["text"] for f in match["fragments"])


def test_documents_of_the_layout_before_0016_are_read_then_rewritten(
    api: httpx.Client, agentguide_server: RunningServer
) -> None:
    """A row keeps its document as one zstd frame; a row written before migration 0016 (body
    and segments in columns of their own) still gives its snippet, and is rewritten in the new
    form when its trace is derived again."""
    marker = unique("zstdword").replace("-", "")
    run = AgentRun(
        unique("document-agent"), T0, 5000,
        tools=[Tool("lookup", 10, 5, arguments=f'{{"text": "before {marker} after"}}')],
    )  # fmt: skip
    spans = run.spans()
    send(agentguide_server.http_url, spans)
    wait_derived(agentguide_server.database_url)
    assert _stored_form(agentguide_server.database_url, run) == (True, False, False)
    snippet = _snippet_texts(api, run, marker)
    assert snippet[0] == "input" and marker in snippet[1]

    with psycopg.connect(agentguide_server.database_url, autocommit=True) as conn:
        [(document,)] = conn.execute(
            "SELECT document FROM run_search WHERE trace_id = %s AND span_id = %s",
            (run.trace_id, run.span_id),
        ).fetchall()
        body, segments = decode_document(bytes(document), None, None)
        conn.execute(
            "UPDATE run_search SET document = NULL, body = %s, segments = %s,"
            " digest = '\\x00'::bytea WHERE trace_id = %s AND span_id = %s",
            (body, Jsonb(segments), run.trace_id, run.span_id),
        )
    assert _stored_form(agentguide_server.database_url, run) == (False, True, True)
    assert _snippet_texts(api, run, marker) == snippet

    late = AgentRun(
        run.agent, T0, 5000, tools=[Tool("late", 100, 5)],
        trace_id=run.trace_id, span_id=run.span_id,
    ).spans()[1]  # fmt: skip
    send(agentguide_server.http_url, [late])
    wait_derived(agentguide_server.database_url)
    assert _stored_form(agentguide_server.database_url, run) == (True, False, False)
    assert _snippet_texts(api, run, marker) == snippet
