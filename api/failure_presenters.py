"""Failure signatures as the API shows them (used by /v1/failures and run detail)."""

from __future__ import annotations

from urllib.parse import urlencode

from api.failure_schemas import RunFailure
from mapping.failure_signature import FailureSignature
from storage.failure_queries import FailureQueries, RunFailureRow, SignatureParts


def runs_url(signature: str) -> str:
    return "/v1/runs?" + urlencode({"signature": signature, "status": "FAILED"})


def signature_title(
    signature: str, parts: SignatureParts, error_type: str | None, message: str | None
) -> str:
    """The signature in one line; without its registered parts, the error as reported."""
    if parts.kind is None:
        return ": ".join(part for part in (error_type, message) if part) or signature
    return FailureSignature(
        id=signature,
        kind=parts.kind,
        name=parts.name or "",
        error_type=parts.error_type or "",
        message_template=parts.message_template or "",
        agent_name="",
        step_position=None,
    ).title


def present_run_failure(row: RunFailureRow) -> RunFailure:
    parts = row.parts
    return RunFailure(
        signature=row.signature,
        title=signature_title(row.signature, parts, None, None),
        kind=parts.kind,
        name=parts.name,
        error_type=parts.error_type,
        message_template=parts.message_template,
        other_runs=max(0, row.failures - 1),
        runs_url=runs_url(row.signature),
    )


async def run_failure(queries: FailureQueries, run_id: str) -> RunFailure | None:
    """How a failed run failed (None when it did not, or is unknown)."""
    row = await queries.run_failure(bytes.fromhex(run_id[:32]), bytes.fromhex(run_id[32:]))
    return None if row is None else present_run_failure(row)
