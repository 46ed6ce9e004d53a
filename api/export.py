"""GET /v1/runs/export: the runs a filter selects, with their steps, as JSON Lines."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.params import ERROR_RESPONSES, QueriesDep
from api.presenters import present_run, present_step
from api.run_filters import RunFiltersDep
from api.search_params import ATTRIBUTE_DESCRIPTION
from storage.export_queries import runs_with_steps
from storage.query_records import RunRow, StepRow

router = APIRouter(tags=["runs"], responses=ERROR_RESPONSES)
logger = logging.getLogger(__name__)

MAX_EXPORT_RUNS = 10_000_000
JSON_LINES = "application/x-ndjson"


def _line(run: RunRow, steps: list[StepRow]) -> bytes:
    document = {
        **present_run(run).model_dump(exclude={"match"}),
        "steps": [present_step(step, []).model_dump(exclude={"artifacts"}) for step in steps],
    }
    return orjson.dumps(document) + b"\n"


async def _lines(
    first: tuple[RunRow, list[StepRow]] | None,
    rest: AsyncIterator[tuple[RunRow, list[StepRow]]],
) -> AsyncIterator[bytes]:
    if first is None:
        return
    yield _line(*first)
    try:
        async for run, steps in rest:
            yield _line(run, steps)
    except Exception:
        # The status line is sent: a failure can only end the stream early. A reader tells an
        # export cut short by its last line, which is then not a complete JSON object.
        logger.exception("the export of runs stopped early")
        yield b'{"error": "the export stopped early: the database failed; try again"'


@router.get(
    "/v1/runs/export",
    summary="Every run the filters select, newest first, with its steps: JSON Lines",
    description=(
        "The same filters as GET /v1/runs, including q (words) and attribute conditions: "
        + ATTRIBUTE_DESCRIPTION
        + ". One line per run: the run as GET /v1/runs gives it, with `steps` (in index "
        "order, payload previews as the run detail gives them before re-reading the spans). "
        "Streamed a page of runs at a time. For whole payloads and every raw attribute, take "
        "each trace from GET /v1/traces/{trace_id} (OTLP/JSON)."
    ),
    response_class=StreamingResponse,
    responses={200: {"content": {JSON_LINES: {}}, "description": "one run per line"}},
)
async def export_runs(
    queries: QueriesDep,
    filters: RunFiltersDep,
    limit: Annotated[
        int | None,
        Query(ge=1, le=MAX_EXPORT_RUNS, description="at most this many runs (default: all)"),
    ] = None,
) -> StreamingResponse:
    rows = runs_with_steps(queries, filters, limit=limit)
    # The first page is read before the answer starts: a database that cannot answer is a 503.
    first = await anext(rows, None)
    return StreamingResponse(
        _lines(first, rows),
        media_type=JSON_LINES,
        headers={"Content-Disposition": 'attachment; filename="runs.jsonl"'},
    )
