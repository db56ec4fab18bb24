"""Our own errors, and the one place that turns them into the JSON error of CONTRACT.md.

Services raise an AppError subclass; handlers never build error responses themselves.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from alerts.errors import (
    CodedError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
)

__all__ = [
    "NUL_IN_TEXT",
    "AppError",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotAuthenticated",
    "NotFound",
    "PayloadTooLarge",
    "TooManyRequests",
    "error_body",
    "install_error_handlers",
]

log = logging.getLogger(__name__)


# Services raise AppError or one of its kinds (alerts raises them too: its errors are the
# same family, so they reach the one handler below as they are).
AppError = CodedError

NUL_IN_TEXT = (
    "text must not contain the NUL character (\\u0000): PostgreSQL cannot store it; "
    "remove it and send again"
)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    error = {"code": code, "message": message}
    error.update(extra)
    return {"error": error}


def _describe_validation(exc: RequestValidationError) -> tuple[str, str, list[dict[str, str]]]:
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        details.append({"field": ".".join(loc) or "body", "problem": err.get("msg", "")})
    first = details[0] if details else {"field": "body", "problem": "invalid"}
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return "malformed_json", "the request body is not valid JSON", details
    if any(e.get("type") == "extra_forbidden" for e in exc.errors()):
        unknown = [
            d["field"]
            for d, e in zip(details, exc.errors(), strict=False)
            if e.get("type") == "extra_forbidden"
        ]
        return "unknown_field", f"unknown field(s): {', '.join(unknown)}", details
    return "invalid_input", f"{first['field']}: {first['problem']}", details


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, message, details = _describe_validation(exc)
        return JSONResponse(error_body(code, message, details=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    # A number too large for the database (an id of 2**70 in a path or a body): SQLite's
    # driver raises OverflowError, PostgreSQL a DataError (out of range). Bad input, not ours.
    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DataError) and "NUL" in str(exc.orig):  # psycopg's own refusal
            return JSONResponse(error_body("invalid_input", NUL_IN_TEXT), status_code=422)
        log.info("value out of range for the database", extra={"path": request.url.path})
        return JSONResponse(error_body("invalid_input", "a value is out of range"), status_code=422)

    # A unique key taken by another request between our check and our insert (two people
    # adding one contact at once): nothing of ours was stored, and the client can act on it.
    # The constraint's name only: its DETAIL may hold the value (a phone number).
    @app.exception_handler(IntegrityError)
    async def _conflict(request: Request, exc: IntegrityError) -> JSONResponse:
        log.info(
            "integrity conflict: %s", type(exc.orig).__name__, extra={"path": request.url.path}
        )
        return JSONResponse(
            error_body(
                "conflict",
                "another request stored the same record at the same moment; reload and try again",
            ),
            status_code=409,
        )

    # Every connection busy (PoolTimeout) or the database unreachable, restarting or breaking
    # a deadlock (OperationalError): nothing was stored, and the same request again may work.
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OperationalError)
    async def _database_busy(request: Request, exc: Exception) -> JSONResponse:
        log.warning(
            "database busy or unavailable: %s", type(exc).__name__, extra={"path": request.url.path}
        )
        return JSONResponse(
            error_body("database_unavailable", "the database is busy or unavailable; try again"),
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", extra={"path": request.url.path})
        return JSONResponse(error_body("internal", "internal error"), status_code=500)
