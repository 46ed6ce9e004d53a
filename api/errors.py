"""One JSON error shape for the whole HTTP API: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from storage.errors import RejectedData, StorageUnavailable

_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_parameter",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}


class ApiError(Exception):
    """Raise to answer with the JSON error shape."""

    def __init__(
        self,
        status_code: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.code = code or _CODES.get(status_code, "error")
        self.headers = headers


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _describe_validation_error(exc: RequestValidationError) -> tuple[str, list[str]]:
    problems = []
    names = []
    for error in exc.errors():
        location = [
            str(part) for part in error.get("loc", ()) if part not in ("query", "path", "body")
        ]
        name = ".".join(location) or "request"
        names.append(name)
        problems.append(f"{name}: {error.get('msg', 'invalid')}")
    return "; ".join(problems) or "invalid request", names


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        elif exc.status_code == 404 and exc.detail == "Not Found":
            message = f"no such path: {request.url.path}"
        return JSONResponse(
            error_body(_CODES.get(exc.status_code, "error"), message),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, names = _describe_validation_error(exc)
        return JSONResponse(
            error_body("invalid_parameter", message, parameters=names), status_code=422
        )

    @app.exception_handler(RejectedData)
    async def _rejected_data(_: Request, exc: RejectedData) -> JSONResponse:
        """The database refused the request's data (not the connection): retrying is no use."""
        where = f" in {exc.field}" if exc.field else ""
        return JSONResponse(
            error_body(
                "invalid_parameter",
                f"the database refused the data{where}: {exc.message}",
                parameters=[exc.field] if exc.field else [],
            ),
            status_code=400,
        )

    @app.exception_handler(StorageUnavailable)
    async def _storage_unavailable(_: Request, exc: StorageUnavailable) -> JSONResponse:
        return JSONResponse(
            error_body("unavailable", f"the database is unavailable: {exc}"),
            status_code=503,
            headers={"Retry-After": "5"},
        )
