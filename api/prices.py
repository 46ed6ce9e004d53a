"""/v1/admin/prices: the project's price overrides (admin keys). Prices apply when runs are
derived; a change queues the stored traces it may reprice (see storage/prices.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Path, Request, Response
from psycopg_pool import PoolTimeout

from api.auth import ProjectIdDep
from api.errors import ApiError
from api.params import ERROR_RESPONSES, invalid_parameter, time_value
from api.price_schemas import (
    PriceOverride,
    PriceOverrideBody,
    PriceOverrideChange,
    PriceOverrideList,
)
from api.times import format_optional_time, format_time
from storage.errors import StorageUnavailable
from storage.prices import (
    InvalidPriceOverride,
    PriceChange,
    PriceOverrideInput,
    StoredPriceOverride,
    delete_price_override,
    list_price_overrides,
    set_price_override,
)

router = APIRouter(tags=["admin"], responses=ERROR_RESPONSES)

MAX_OVERRIDE_ID = 2**63 - 1


@asynccontextmanager
async def _connection(request: Request) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    try:
        async with request.app.state.store.pool.connection() as conn:
            yield conn
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise StorageUnavailable(str(exc)) from exc


def _present(row: StoredPriceOverride) -> PriceOverride:
    def number(value: Any) -> float | None:
        return None if value is None else float(value)

    return PriceOverride(
        id=row.id,
        model=row.model,
        provider=row.provider,
        input_per_mtok=float(row.input_per_mtok),
        cached_input_per_mtok=number(row.cached_input_per_mtok),
        cache_write_per_mtok=number(row.cache_write_per_mtok),
        output_per_mtok=float(row.output_per_mtok),
        valid_from=format_optional_time(row.valid_from_ns),
        created_at=format_time(row.created_at_ns),
    )


def _change(change: PriceChange) -> PriceOverrideChange:
    return PriceOverrideChange(
        override=_present(change.override),
        replaced=change.replaced,
        rederive_queued=change.rederive_queued,
    )


def _instant(value: str | int) -> int:
    """Unix ns of valid_from: RFC 3339 text, or epoch milliseconds as text or a number."""
    ns = time_value(str(value), "valid_from", "body")
    assert ns is not None
    return ns


def _wake_derivers(request: Request) -> None:
    for wake in request.app.state.store.after_commit:
        wake()


@router.get(
    "/v1/admin/prices",
    summary="The project's price overrides",
    response_model=PriceOverrideList,
)
async def list_prices(request: Request, project_id: ProjectIdDep) -> PriceOverrideList:
    async with _connection(request) as conn:
        rows = await list_price_overrides(conn, project_id)
    return PriceOverrideList(items=[_present(row) for row in rows])


@router.post(
    "/v1/admin/prices",
    summary="Set a price override; the stored runs it may reprice are derived again",
    response_model=PriceOverrideChange,
    status_code=201,
    responses={
        201: {"description": "A new override"},
        200: {
            "model": PriceOverrideChange,
            "description": "The override of the same model, provider and valid_from, replaced",
        },
    },
)
async def set_price(
    request: Request, response: Response, project_id: ProjectIdDep, body: PriceOverrideBody
) -> PriceOverrideChange:
    item = PriceOverrideInput(
        model=body.model,
        provider=body.provider,
        input_per_mtok=body.input_per_mtok,
        output_per_mtok=body.output_per_mtok,
        cached_input_per_mtok=body.cached_input_per_mtok,
        cache_write_per_mtok=body.cache_write_per_mtok,
        valid_from_ns=None if body.valid_from is None else _instant(body.valid_from),
    )
    try:
        async with _connection(request) as conn:
            change = await set_price_override(conn, project_id, item)
    except InvalidPriceOverride as exc:
        raise invalid_parameter(exc.field, exc.message, "body") from None
    if change.replaced:
        response.status_code = 200
    _wake_derivers(request)
    return _change(change)


@router.delete(
    "/v1/admin/prices/{override_id}",
    summary="Delete a price override; the stored runs it priced are derived again",
    response_model=PriceOverrideChange,
)
async def delete_price(
    request: Request,
    project_id: ProjectIdDep,
    override_id: Annotated[int, Path(ge=1, le=MAX_OVERRIDE_ID, description="the override's id")],
) -> PriceOverrideChange:
    async with _connection(request) as conn:
        change = await delete_price_override(conn, override_id, project_id)
    if change is None:
        raise ApiError(404, f"no price override {override_id}")
    _wake_derivers(request)
    return _change(change)
