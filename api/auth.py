"""API keys on the HTTP API: dependencies that authenticate, authorize and rate-limit a request,
the project it reads and writes, and ``GET /v1/auth/status`` (no key needed).

``create_app`` puts one ``require_*`` dependency on each router; the routes take the project
from ``ProjectIdDep`` (or ``QueriesDep``, which is built on it). What each scope may do is in
``receiver.auth``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from api.errors import ApiError
from api.schemas import ErrorResponse
from receiver.auth import (
    ANONYMOUS,
    API_KEY_HEADER,
    AUTHORIZATION_HEADER,
    PROJECT_HEADER,
    Action,
    Authenticator,
    AuthError,
    Principal,
)
from receiver.metrics import ServerMetrics
from receiver.rate_limit import RateLimited, RateLimiter

_REASONS = {401: "unauthenticated", 403: "permission_denied"}

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No valid API key (when auth is required)"},
    403: {"model": ErrorResponse, "description": "The key's scope or project does not allow it"},
    429: {"model": ErrorResponse, "description": "Over the key's rate; retry after Retry-After"},
}


def _authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.ingest.authenticator
    return authenticator


def _metrics(request: Request) -> ServerMetrics:
    metrics: ServerMetrics = request.app.state.ingest.metrics
    return metrics


def _refused(request: Request, exc: AuthError) -> ApiError:
    _metrics(request).api_rejections.labels(_REASONS[exc.status_code]).inc()
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return ApiError(exc.status_code, exc.message, headers=headers)


async def current_principal(request: Request) -> Principal:
    """The caller; FastAPI resolves it once per request however many dependencies use it."""
    try:
        return await _authenticator(request).authenticate(
            request.headers.get(AUTHORIZATION_HEADER), request.headers.get(API_KEY_HEADER)
        )
    except AuthError as exc:
        raise _refused(request, exc) from None


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def _requirement(action: Action) -> Callable[[Request, Principal], Awaitable[Principal]]:
    async def require(request: Request, principal: PrincipalDep) -> Principal:
        try:
            Authenticator.authorize(principal, action, request.headers.get(PROJECT_HEADER))
        except AuthError as exc:
            raise _refused(request, exc) from None
        limiter: RateLimiter = request.app.state.ingest.rate_limiter
        try:
            limiter.check_request(principal)
        except RateLimited as exc:
            _metrics(request).api_rejections.labels("rate_limited").inc()
            raise ApiError(
                429, exc.message, headers={"Retry-After": exc.retry_after_header}
            ) from None
        return principal

    require.__name__ = f"require_{action.value}"
    return require


require_read = _requirement(Action.READ)
require_ingest = _requirement(Action.INGEST)
require_admin = _requirement(Action.ADMIN)


async def project_id(principal: PrincipalDep) -> int:
    """The project a request reads and writes: its key's (the default one when auth is off)."""
    return principal.project_id


ProjectIdDep = Annotated[int, Depends(project_id)]


class AuthStatus(BaseModel):
    """Whether requests need an API key, and what the key sent with this request may do."""

    auth_required: bool = Field(description="true: every /v1 request needs an API key")
    key_headers: list[str] = Field(
        description="where a key goes",
        default=["Authorization: Bearer <key>", "X-API-Key: <key>"],
    )
    key_valid: bool | None = Field(
        description="whether the key sent with this request is active; null when none was "
        "sent or auth is off"
    )
    project: str | None = Field(description="the project requests act on, when known")
    scope: str | None = Field(description="the scope of the key sent: ingest, read or admin")


router = APIRouter(tags=["auth"])


@router.get(
    "/v1/auth/status",
    response_model=AuthStatus,
    summary="Whether an API key is needed; if a key is sent, its project and scope",
)
async def auth_status(request: Request) -> AuthStatus:
    authenticator = _authenticator(request)
    if not authenticator.required:
        return AuthStatus(
            auth_required=False, key_valid=None, project=ANONYMOUS.project_name, scope=None
        )
    authorization = request.headers.get(AUTHORIZATION_HEADER)
    api_key = request.headers.get(API_KEY_HEADER)
    if authorization is None and api_key is None:
        return AuthStatus(auth_required=True, key_valid=None, project=None, scope=None)
    principal = await authenticator.peek(authorization, api_key)
    if principal is None:
        return AuthStatus(auth_required=True, key_valid=False, project=None, scope=None)
    return AuthStatus(
        auth_required=True,
        key_valid=True,
        project=principal.project_name,
        scope=principal.scope,
    )
