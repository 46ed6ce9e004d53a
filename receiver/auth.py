"""Who is calling, and may they: API keys for OTLP/gRPC, OTLP/HTTP and the query API alike.

A key is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` (gRPC: the same names
as metadata). The key decides the project; a request may also name the project it means
(``X-AgentGuide-Project``), and is refused when its key belongs to another one, so a key
configured for the wrong project fails loudly instead of writing there.

What each scope may do:

=========  ===========================================================================
ingest     OTLP export, and the REST ingest (create and update runs and steps)
read       the query API (runs, steps, traces, agents, tools, KPIs)
admin      all of the above, ``POST /v1/simulate`` and ``GET /metrics``
=========  ===========================================================================

Error messages never repeat the key.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from storage.keys import ActiveKey, KeyStore, is_well_formed
from storage.store import DEFAULT_PROJECT_ID

PROJECT_HEADER: Final = "x-agentguide-project"
API_KEY_HEADER: Final = "x-api-key"
AUTHORIZATION_HEADER: Final = "authorization"
DEFAULT_PROJECT_NAME: Final = "default"


class AuthMode(enum.StrEnum):
    REQUIRED = "required"
    OFF = "off"


class Action(enum.Enum):
    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


_ALLOWED: Final[dict[str, frozenset[Action]]] = {
    "ingest": frozenset({Action.INGEST}),
    "read": frozenset({Action.READ}),
    "admin": frozenset({Action.INGEST, Action.READ, Action.ADMIN}),
}

_ACTION_NAMES: Final = {
    Action.INGEST: "send spans or write runs",
    Action.READ: "read",
    Action.ADMIN: "use admin endpoints",
}


class AuthError(Exception):
    """The request is refused; ``status_code`` is the HTTP status (401 or 403)."""

    status_code = 401

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(AuthError):
    status_code = 401


class PermissionDenied(AuthError):
    status_code = 403


@dataclass(frozen=True, slots=True)
class Principal:
    """Whom a request acts as: a key of a project, or everyone when auth is off."""

    project_id: int
    project_name: str
    scope: str
    key_id: int | None = None

    @classmethod
    def from_key(cls, key: ActiveKey) -> Principal:
        return cls(key.project_id, key.project_name, key.scope, key.id)

    def may(self, action: Action) -> bool:
        return action in _ALLOWED.get(self.scope, frozenset())


ANONYMOUS: Final = Principal(DEFAULT_PROJECT_ID, DEFAULT_PROJECT_NAME, "admin")


def credential(authorization: str | None, api_key: str | None) -> str | None:
    """The key a request carries, or None when it carries none.

    Raises Unauthenticated when a header is present but not usable.
    """
    bearer: str | None = None
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <API key>'")
        bearer = token.strip()
    if api_key is not None:
        api_key = api_key.strip()
        if bearer is not None and api_key != bearer:
            raise Unauthenticated("Authorization and X-API-Key carry different keys: send one")
        return api_key
    return bearer


class Authenticator:
    """Turns a request's credentials into a Principal, and checks what it may do."""

    def __init__(self, mode: AuthMode, keys: KeyStore | None) -> None:
        if mode is AuthMode.REQUIRED and keys is None:
            raise ValueError("auth is required but there is no key store")
        self.mode = mode
        self._keys = keys

    @property
    def required(self) -> bool:
        return self.mode is AuthMode.REQUIRED

    async def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        """The principal of a request; ANONYMOUS when auth is off (keys are then ignored).

        Raises Unauthenticated, or storage.StorageUnavailable when keys cannot be looked up.
        """
        if not self.required:
            return ANONYMOUS
        secret = credential(authorization, api_key)
        if secret is None:
            raise Unauthenticated(
                "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
            )
        if not is_well_formed(secret):
            raise Unauthenticated("the API key is malformed")
        assert self._keys is not None
        found = await self._keys.find_active(secret)
        if found is None:
            raise Unauthenticated("the API key is not valid: unknown or revoked")
        return Principal.from_key(found)

    async def peek(self, authorization: str | None, api_key: str | None) -> Principal | None:
        """The principal of a valid key, or None: for asking whether a key works."""
        try:
            secret = credential(authorization, api_key)
        except Unauthenticated:
            return None
        if secret is None or not is_well_formed(secret) or self._keys is None:
            return None
        found = await self._keys.find_active(secret)
        return None if found is None else Principal.from_key(found)

    @staticmethod
    def authorize(principal: Principal, action: Action, requested_project: str | None) -> None:
        """Raise PermissionDenied unless ``principal`` may do ``action`` in the project named."""
        if not principal.may(action):
            raise PermissionDenied(
                f"this key's scope '{principal.scope}' does not allow it to {_ACTION_NAMES[action]}"
            )
        if requested_project is not None and requested_project.strip() != principal.project_name:
            raise PermissionDenied(
                "the project named in X-AgentGuide-Project is not the project of this key"
            )
