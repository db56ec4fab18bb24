"""The errors in /openapi.json: every operation documents the one error body of CONTRACT.md.

FastAPI documents only its own 422 (`{"detail": [...]}`), which is not what we answer
(emergency.exceptions renders every error as `{"error": {"code", "message"}}`). Here, once,
when the schema is first built: 401 for the operations that need a token, 403 for those that
check a role (read from the dependencies, so a new route is covered without anyone
remembering), 422 with our body in place of FastAPI's, and `4XX` with our body for the domain's
own refusals (404, 409, 413, 415, 429, …); 503 when the process or the database is busy, or the database unavailable.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "machine-readable, e.g. not_found"},
                "message": {"type": "string", "description": "for a person"},
                "details": {
                    "type": "array",
                    "items": {"type": "object"},
                    "description": "invalid input: each field and its problem",
                },
            },
        }
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def api_routes(app: FastAPI) -> Iterator[RouteContext]:
    """Every HTTP route of the app, those of included routers too (since FastAPI 0.137
    `app.routes` holds an included router as one entry): each as the effective route, whose
    `path_format` has the include prefix; `.dependant`, `.methods` are the APIRoute's."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def dependency_calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from dependency_calls(sub)


def required_roles(route: RouteContext) -> tuple[str, ...] | None:
    """The roles a route's `require(...)` dependency lets through (admins always pass), or
    None when it checks no role."""
    for call in dependency_calls(route.dependant):
        roles = getattr(call, "required_roles", None)
        if roles is not None:
            return tuple(str(role) for role in roles)
    return None


def needs_token(route: RouteContext) -> bool:
    from emergency.auth.dependencies import current_user

    return any(call is current_user for call in dependency_calls(route.dependant))


def install(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()  # FastAPI keeps it as app.openapi_schema
            _document_errors(app, schema)
            return schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it


def _document_errors(app: FastAPI, schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            if needs_token(route):
                responses.setdefault("401", _error("no token, or an invalid or revoked one"))
            roles_allowed = required_roles(route)
            if roles_allowed is not None:
                roles = ", ".join(roles_allowed) or "admin"
                responses.setdefault("403", _error(f"the caller's role may not do this ({roles})"))
            if (
                "422" in responses
                or route.dependant.body_params
                or route.dependant.path_params
                or route.dependant.query_params
                or route.dependant.header_params
            ):
                responses["422"] = _error("invalid input: `details` names each field")
            responses.setdefault(
                "4XX",
                _error(
                    "refused: not found, conflict, too large, unsupported type, rate limited, …"
                ),
            )
            responses.setdefault(
                "503",
                _error(
                    "busy (this process or the database) or the database unavailable: try again after Retry-After"
                ),
            )
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused not in str(schema["paths"]):
            components.pop(unused, None)
