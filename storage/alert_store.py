"""Alert rules, their evaluation state, the notifications to deliver and the delivery log.

Rules are stored per project as the spec a person wrote (JSON), their signing secret and the
state the evaluator keeps (``agentguide.alerts`` gives both their meaning; storage only keeps
them). A notification is a row of ``alert_deliveries`` (the outbox): its key is unique, so the
same transition queues one message; a delivered row is never sent again. Every attempt is a
row of ``alert_delivery_attempts``.

Metrics are read from the rollups over a window of run start times (widened to whole
minutes, like the dashboards).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage import sketch
from storage.errors import StorageUnavailable
from storage.rollup_window import cover

EVALUATION_LOCK = 0x6167_616C_7274  # "agalrt": one evaluator at a time, across servers


@dataclass(frozen=True, slots=True)
class StoredRule:
    id: str
    project_id: int
    project: str
    spec: dict[str, Any]
    secret: str
    state: dict[str, Any]
    created_at: dt.datetime
    evaluated_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A notification to queue: the message as it will be POSTed."""

    message_id: str
    notification_key: str
    rule_id: str
    event: str
    url: str
    body: bytes


@dataclass(frozen=True, slots=True)
class DueDelivery:
    message_id: str
    notification_key: str
    rule_id: str
    event: str
    url: str
    body: bytes
    secret: str
    attempt: int  # the number of the attempt about to be made (1-based)


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    message_id: str
    attempt: int
    started_at: dt.datetime
    duration_ms: float
    outcome: str  # delivered, retrying, failed
    status_code: int | None
    error: str | None
    retry_in_seconds: float | None
    response_excerpt: str | None


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    message_id: str
    notification_key: str
    rule_id: str
    event: str
    url: str
    status: str
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None
    finished_at: dt.datetime | None
    last_error: str | None
    log: list[AttemptRecord]


_RULE_COLUMNS = (
    "r.id, r.project_id, p.name, r.spec, r.secret, r.state, r.created_at, r.evaluated_at"
)
_INSERT_RULE = "INSERT INTO alert_rules (id, project_id, spec, secret) VALUES (%s, %s, %s, %s)"
_SELECT_RULES = (
    f"SELECT {_RULE_COLUMNS} FROM alert_rules r JOIN projects p ON p.id = r.project_id"
    " WHERE (%(project)s::int4 IS NULL OR r.project_id = %(project)s::int4)"
    " AND (%(rule)s::text IS NULL OR r.id = %(rule)s::text)"
    " ORDER BY r.created_at, r.id"
)
_CANCEL_PENDING = (
    "UPDATE alert_deliveries SET status = 'cancelled', finished_at = now(),"
    " last_error = 'the rule was deleted' WHERE rule_id = %s AND status = 'pending'"
)
_DELETE_RULE = "DELETE FROM alert_rules WHERE id = %s AND (%s::int4 IS NULL OR project_id = %s)"
_PROJECT_ID = "SELECT id FROM projects WHERE name = %s"

_SAVE_STATE = (
    "UPDATE alert_rules SET state = %s, evaluated_at = %s WHERE id = %s RETURNING project_id"
)
_QUEUE_DELIVERY = """
INSERT INTO alert_deliveries (message_id, notification_key, project_id, rule_id, event, url, body)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""
_CLAIM_DUE = """
WITH due AS (
    SELECT d.message_id FROM alert_deliveries d
    WHERE d.status = 'pending' AND d.next_attempt_at <= now()
    ORDER BY d.next_attempt_at LIMIT %s
    FOR UPDATE SKIP LOCKED
)
UPDATE alert_deliveries d
SET next_attempt_at = now() + make_interval(secs => %s), attempts = d.attempts + 1
FROM due, alert_rules r
WHERE d.message_id = due.message_id AND r.id = d.rule_id
RETURNING d.message_id, d.notification_key, d.rule_id, d.event, d.url, d.body, r.secret,
          d.attempts
"""
_RECORD_ATTEMPT = """
INSERT INTO alert_delivery_attempts (message_id, attempt, started_at, duration_ms, outcome,
                                     status_code, error, retry_in_seconds, response_excerpt)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""
_FINISH_DELIVERY = """
UPDATE alert_deliveries
SET status = %s, finished_at = now(), last_error = %s
WHERE message_id = %s AND status = 'pending'
"""
_RETRY_DELIVERY = """
UPDATE alert_deliveries
SET next_attempt_at = now() + make_interval(secs => %s), last_error = %s
WHERE message_id = %s AND status = 'pending'
"""
_SELECT_DELIVERIES = """
SELECT d.message_id, d.notification_key, d.rule_id, d.event, d.url, d.status, d.attempts,
       d.created_at, CASE WHEN d.status = 'pending' THEN d.next_attempt_at END, d.finished_at,
       d.last_error
FROM alert_deliveries d
WHERE d.project_id = %s AND d.rule_id = %s
ORDER BY d.created_at DESC, d.message_id LIMIT %s
"""
_SELECT_ATTEMPTS = """
SELECT message_id, attempt, started_at, duration_ms, outcome, status_code, error,
       retry_in_seconds, response_excerpt
FROM alert_delivery_attempts WHERE message_id = ANY(%s) ORDER BY message_id, attempt
"""


def _rule(row: tuple[Any, ...]) -> StoredRule:
    return StoredRule(*row)


# --- the command line (synchronous) ---


def project_id_of(conn: psycopg.Connection[Any], project: str) -> int | None:
    row = conn.execute(_PROJECT_ID, (project,)).fetchone()
    return None if row is None else int(row[0])


def add_rule(
    conn: psycopg.Connection[Any], project_id: int, rule_id: str, spec: dict[str, Any], secret: str
) -> None:
    with conn.transaction():
        conn.execute(_INSERT_RULE, (rule_id, project_id, Jsonb(spec), secret))


def list_rules(conn: psycopg.Connection[Any], project_id: int | None = None) -> list[StoredRule]:
    rows = conn.execute(_SELECT_RULES, {"project": project_id, "rule": None}).fetchall()
    return [_rule(row) for row in rows]


def delete_rule(conn: psycopg.Connection[Any], rule_id: str, project_id: int | None = None) -> bool:
    """Delete a rule (its pending notifications are cancelled; the delivery log stays)."""
    with conn.transaction():
        deleted = conn.execute(_DELETE_RULE, (rule_id, project_id, project_id)).rowcount
        if deleted:
            conn.execute(_CANCEL_PENDING, (rule_id,))
    return bool(deleted)


# --- the server and the evaluator (asynchronous) ---


class AlertStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        try:
            async with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def add(self, project_id: int, rule_id: str, spec: dict[str, Any], secret: str) -> None:
        async with self._connection() as conn:
            await conn.execute(_INSERT_RULE, (rule_id, project_id, Jsonb(spec), secret))

    async def rules(
        self, project_id: int | None = None, rule_id: str | None = None
    ) -> list[StoredRule]:
        async with self._connection() as conn:
            cursor = await conn.execute(_SELECT_RULES, {"project": project_id, "rule": rule_id})
            return [_rule(row) for row in await cursor.fetchall()]

    async def delete(self, project_id: int, rule_id: str) -> bool:
        async with self._connection() as conn, conn.transaction():
            cursor = await conn.execute(_DELETE_RULE, (rule_id, project_id, project_id))
            if cursor.rowcount:
                await conn.execute(_CANCEL_PENDING, (rule_id,))
            return bool(cursor.rowcount)

    async def deliveries(self, project_id: int, rule_id: str, limit: int) -> list[DeliveryRow]:
        """The rule's notifications, newest first, each with its attempts."""
        async with self._connection() as conn:
            cursor = await conn.execute(_SELECT_DELIVERIES, (project_id, rule_id, limit))
            rows = await cursor.fetchall()
            ids = [row[0] for row in rows]
            cursor = await conn.execute(_SELECT_ATTEMPTS, (ids,))
            attempts = [AttemptRecord(*row) for row in await cursor.fetchall()]
        by_message: dict[str, list[AttemptRecord]] = {}
        for record in attempts:
            by_message.setdefault(record.message_id, []).append(record)
        return [
            DeliveryRow(m, k, r, e, u, s, a, c, n, f, err, by_message.get(m, []))
            for m, k, r, e, u, s, a, c, n, f, err in rows
        ]

    # --- evaluation ---

    @asynccontextmanager
    async def evaluation(self) -> AsyncIterator[Evaluation | None]:
        """One evaluation pass in one transaction, or None when another process holds the
        evaluator's lock."""
        async with self._connection() as conn, conn.transaction():
            cursor = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (EVALUATION_LOCK,))
            row = await cursor.fetchone()
            yield Evaluation(conn) if row and row[0] else None

    # --- delivery ---

    async def claim_due(self, limit: int, lease_s: float) -> list[DueDelivery]:
        """Deliveries whose next attempt is due, leased for ``lease_s`` (if this process dies
        during the attempt, the next one is made when the lease ends)."""
        async with self._connection() as conn, conn.transaction():
            cursor = await conn.execute(_CLAIM_DUE, (limit, lease_s))
            rows = await cursor.fetchall()
        return [DueDelivery(m, k, r, e, u, bytes(b), s, int(a)) for m, k, r, e, u, b, s, a in rows]

    async def record(self, record: AttemptRecord) -> None:
        """Log an attempt and move its delivery on (delivered and failed are final)."""
        async with self._connection() as conn, conn.transaction():
            await conn.execute(
                _RECORD_ATTEMPT,
                (
                    record.message_id,
                    record.attempt,
                    record.started_at,
                    record.duration_ms,
                    record.outcome,
                    record.status_code,
                    record.error,
                    record.retry_in_seconds,
                    record.response_excerpt,
                ),
            )
            if record.outcome == "retrying":
                await conn.execute(
                    _RETRY_DELIVERY,
                    (record.retry_in_seconds or 0.0, record.error, record.message_id),
                )
            else:
                error = None if record.outcome == "delivered" else record.error
                await conn.execute(_FINISH_DELIVERY, (record.outcome, error, record.message_id))


class Evaluation:
    """What an evaluation pass reads and writes, inside its transaction."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def rules(self) -> list[StoredRule]:
        cursor = await self.conn.execute(
            _SELECT_RULES + " FOR UPDATE OF r", {"project": None, "rule": None}
        )
        return [_rule(row) for row in await cursor.fetchall()]

    async def save(
        self,
        rule_id: str,
        state: dict[str, Any],
        evaluated_at: dt.datetime,
        delivery: NewDelivery | None,
    ) -> None:
        cursor = await self.conn.execute(_SAVE_STATE, (Jsonb(state), evaluated_at, rule_id))
        row = await cursor.fetchone()
        if row is None or delivery is None:
            return
        await self.conn.execute(
            _QUEUE_DELIVERY,
            (
                delivery.message_id,
                delivery.notification_key,
                row[0],
                delivery.rule_id,
                delivery.event,
                delivery.url,
                delivery.body,
            ),
        )

    async def metric(
        self,
        project_id: int,
        metric: str,
        *,
        since_ns: int,
        until_ns: int,
        agent: str | None = None,
        tool: str | None = None,
        signature: str | None = None,
    ) -> float | None:
        """The value of ``metric`` (see ``agentguide.alerts.rules``) over the runs that started
        in [since, until); None when it has no value (a rate or percentile of nothing)."""
        return await metric_value(
            self.conn,
            project_id,
            metric,
            since_ns=since_ns,
            until_ns=until_ns,
            agent=agent,
            tool=tool,
            signature=signature,
        )


_METRIC_SQL = {
    ("failure_rate", False): "SELECT sum(failed), sum(succeeded + failed + cancelled)"
    " FROM rollup_runs",
    # A tool call with a duration has finished.
    ("failure_rate", True): "SELECT sum(failures), sum(durations) FROM rollup_tools",
    ("run_count", False): "SELECT coalesce(sum(runs), 0), 1 FROM rollup_runs",
    ("run_count", True): "SELECT coalesce(sum(calls), 0), 1 FROM rollup_tools",
    ("tokens", False): "SELECT coalesce(sum(total_tokens), 0), 1 FROM rollup_runs",
    ("cost", False): "SELECT coalesce(sum(cost), 0), 1 FROM rollup_runs",
    ("signature_count", False): "SELECT coalesce(sum(failures), 0), 1 FROM rollup_errors",
}
_P95_SQL = {
    False: "SELECT k, sum(c)::int8 FROM rollup_runs, unnest(duration_keys, duration_counts)"
    " AS h(k, c)",
    True: "SELECT k, sum(c)::int8 FROM rollup_tools, unnest(duration_keys, duration_counts)"
    " AS h(k, c)",
}


async def metric_value(
    conn: psycopg.AsyncConnection[Any],
    project_id: int,
    metric: str,
    *,
    since_ns: int,
    until_ns: int,
    agent: str | None = None,
    tool: str | None = None,
    signature: str | None = None,
) -> float | None:
    condition, params = cover(since_ns, until_ns).condition()
    where = sql.SQL(" WHERE project_id = %s AND ") + condition
    all_params: list[Any] = [project_id, *params]
    if agent is not None:
        where += sql.SQL(" AND agent_name = %s")
        all_params.append(agent)
    if tool is not None:
        where += sql.SQL(" AND tool_name = %s")
        all_params.append(tool)
    if metric == "signature_count":
        where += sql.SQL(" AND signature = %s")
        all_params.append(signature)
    if metric == "p95_duration_ms":
        query = sql.SQL(_P95_SQL[tool is not None]) + where + sql.SQL(" GROUP BY k")
        cursor = await conn.execute(query, all_params)
        hist = {int(k): int(c) for k, c in await cursor.fetchall() if c}
        return sketch.quantiles(hist, (0.95,))[0] if hist else None
    key = (metric, tool is not None)
    if key not in _METRIC_SQL:
        raise ValueError(f"metric {metric} cannot be narrowed to a tool")
    cursor = await conn.execute(sql.SQL(_METRIC_SQL[key]) + where, all_params)
    row = await cursor.fetchone()
    if row is None:
        return None
    numerator, denominator = row
    if metric == "failure_rate":
        return float(numerator) / float(denominator) if denominator else None
    return float(numerator or 0)
