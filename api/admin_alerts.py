"""/v1/admin/alerts: the alert rules of the caller's project (admin keys), and each rule's
notifications with their delivery log. The rules are evaluated in the background by the first
derive worker (``agentguide.alert_jobs``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import Field, ValidationError

from agentguide.alerts import AlertRule, AlertRuleSpec, AlertState, format_duration
from api.auth import ProjectIdDep
from api.errors import ApiError
from api.params import ERROR_RESPONSES
from api.times import format_time
from api.triage_schemas import (
    AlertRuleList,
    AlertRuleOut,
    CreatedAlertRule,
    DeliveryAttemptOut,
    DeliveryList,
    DeliveryOut,
)
from storage.alert_store import AlertStore, DeliveryRow, StoredRule

router = APIRouter(tags=["admin"], responses=ERROR_RESPONSES)

RULE_ID_PATTERN = "^[A-Za-z0-9._:-]{1,128}$"
MAX_DELIVERIES = 200

RuleId = Annotated[str, Path(description="the rule's id", pattern=RULE_ID_PATTERN)]


class AlertRuleRequest(AlertRuleSpec):
    """A new rule; ``secret`` is generated when not given."""

    secret: str | None = Field(
        default=None, description="whsec_ + base64 of at least 16 bytes; generated when absent"
    )


def _store(request: Request) -> AlertStore:
    return AlertStore(request.app.state.store.pool)


def _time(moment: dt.datetime | None) -> str | None:
    return None if moment is None else format_time(int(moment.timestamp() * 1e9))


def present_rule(stored: StoredRule) -> AlertRuleOut:
    rule = AlertRule.stored(stored.spec, stored.id, stored.secret)
    state = AlertState.from_json(stored.state) if stored.state else AlertState()
    return AlertRuleOut(
        **rule.model_dump(exclude={"secret"}),
        project=stored.project,
        window=format_duration(rule.window_seconds),
        description=rule.describe(),
        status=state.status,
        episode=state.episode,
        last_value=state.last_value,
        evaluated_at=_time(stored.evaluated_at),
        created_at=_time(stored.created_at) or "",
    )


def _delivery(row: DeliveryRow) -> DeliveryOut:
    return DeliveryOut(
        message_id=row.message_id,
        notification_key=row.notification_key,
        event=row.event,  # type: ignore[arg-type]
        url=row.url,
        status=row.status,  # type: ignore[arg-type]
        attempts=row.attempts,
        created_at=_time(row.created_at) or "",
        next_attempt_at=_time(row.next_attempt_at),
        finished_at=_time(row.finished_at),
        last_error=row.last_error,
        log=[
            DeliveryAttemptOut(
                attempt=a.attempt,
                started_at=_time(a.started_at) or "",
                duration_ms=a.duration_ms,
                outcome=a.outcome,  # type: ignore[arg-type]
                status_code=a.status_code,
                error=a.error,
                retry_in_seconds=a.retry_in_seconds,
                response_excerpt=a.response_excerpt,
            )
            for a in row.log
        ],
    )


def _body_errors(exc: ValidationError) -> RequestValidationError:
    errors: list[dict[str, Any]] = [
        {**error, "loc": ("body", *error.get("loc", ()))} for error in exc.errors()
    ]
    return RequestValidationError(errors)


async def _one(request: Request, project_id: int, rule_id: str) -> StoredRule:
    found = await _store(request).rules(project_id, rule_id)
    if not found:
        raise ApiError(404, f"no alert rule {rule_id}")
    return found[0]


@router.get("/v1/admin/alerts", response_model=AlertRuleList, summary="The project's alert rules")
async def list_alert_rules(request: Request, project_id: ProjectIdDep) -> AlertRuleList:
    return AlertRuleList(items=[present_rule(r) for r in await _store(request).rules(project_id)])


@router.post(
    "/v1/admin/alerts",
    response_model=CreatedAlertRule,
    status_code=201,
    summary="Add an alert rule (its signing secret is shown only in this answer)",
)
async def create_alert_rule(
    request: Request, project_id: ProjectIdDep, body: Annotated[AlertRuleRequest, Body()]
) -> CreatedAlertRule:
    spec = AlertRuleSpec(**body.model_dump(exclude={"secret"}))
    try:
        rule = AlertRule.create(spec, secret=body.secret)
    except ValidationError as exc:
        raise _body_errors(exc) from None
    store = _store(request)
    await store.add(project_id, rule.id, spec.model_dump(mode="json"), rule.secret)
    created = await _one(request, project_id, rule.id)
    return CreatedAlertRule(**present_rule(created).model_dump(), secret=rule.secret)


@router.get("/v1/admin/alerts/{rule_id}", response_model=AlertRuleOut, summary="One alert rule")
async def get_alert_rule(
    request: Request, project_id: ProjectIdDep, rule_id: RuleId
) -> AlertRuleOut:
    return present_rule(await _one(request, project_id, rule_id))


@router.delete(
    "/v1/admin/alerts/{rule_id}",
    status_code=204,
    summary="Delete an alert rule (its pending notifications are cancelled; the log stays)",
)
async def delete_alert_rule(
    request: Request, project_id: ProjectIdDep, rule_id: RuleId
) -> Response:
    if not await _store(request).delete(project_id, rule_id):
        raise ApiError(404, f"no alert rule {rule_id}")
    return Response(status_code=204)


@router.get(
    "/v1/admin/alerts/{rule_id}/deliveries",
    response_model=DeliveryList,
    summary="A rule's notifications, newest first, with every delivery attempt",
)
async def list_deliveries(
    request: Request,
    project_id: ProjectIdDep,
    rule_id: RuleId,
    limit: Annotated[int, Query(ge=1, le=MAX_DELIVERIES)] = 50,
) -> DeliveryList:
    rows = await _store(request).deliveries(project_id, rule_id, limit)
    if not rows:
        await _one(request, project_id, rule_id)
    return DeliveryList(rule_id=rule_id, items=[_delivery(row) for row in rows])
