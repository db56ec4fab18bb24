"""Every route that answers JSON declares what it answers: a response model (a pydantic
model, or a list of them) that /openapi.json shows and FastAPI checks, never a bare dict.

Which routes answer JSON is decided by rule, not by a list of names: a route answers JSON
unless it answers 204, its response class is not JSON (pages, files, XML, the Atom feed), or
it says it returns a `Response` of its own that is not JSON (Prometheus text, TwiML)."""

from __future__ import annotations

import inspect
from typing import Any, get_args, get_origin, get_type_hints

import pytest
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

pytestmark = pytest.mark.one_db  # the app's routes, read without a request: no SQL


def _response_class(route: APIRoute) -> type[Response]:
    value = getattr(route.response_class, "value", route.response_class)  # DefaultPlaceholder
    assert isinstance(value, type)
    return value


def _declared_return(route: APIRoute) -> Any:
    return get_type_hints(route.endpoint).get("return", inspect.Signature.empty)


def answers_json(route: APIRoute) -> bool:
    if route.status_code == 204 or not issubclass(_response_class(route), JSONResponse):
        return False
    returned = _declared_return(route)
    own_body = isinstance(returned, type) and issubclass(returned, Response)
    return not own_body or issubclass(returned, JSONResponse)


def is_typed(model: Any) -> bool:
    """A pydantic model, or a list of them (not dict, Any or a list of dicts)."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        return True
    return get_origin(model) is list and all(is_typed(arg) for arg in get_args(model))


def _json_routes() -> list[tuple[str, APIRoute]]:
    from emergency.app import create_app
    from emergency.openapi import api_routes

    return [
        (f"{method} {context.path_format}", context.original_route)
        for context in api_routes(create_app())
        for method in sorted(context.methods or ())
        if answers_json(context.original_route)
    ]


def test_every_json_route_declares_a_response_model():
    routes = _json_routes()
    assert len(routes) > 80, "route enumeration found too few JSON routes"
    untyped = sorted(name for name, route in routes if not is_typed(route.response_model))
    assert untyped == [], "JSON routes without a response model (a pydantic model, or a list)"


def test_the_rule_tells_json_from_pages_files_and_bodies_of_their_own():
    """The exceptions are by rule, and the rule still sees what it must."""
    from emergency.app import create_app
    from emergency.openapi import api_routes

    kinds = {
        f"{method} {context.path_format}": answers_json(context.original_route)
        for context in api_routes(create_app())
        for method in context.methods or ()
    }
    for page_or_file in (
        "GET /",  # the dashboard (HTML)
        "GET /field/sw.js",  # a file
        "GET /api/v1/photos/{photo_id}",  # a file
        "GET /api/v1/cap/feed.atom",  # XML
        "GET /metrics",  # Prometheus text
        "POST /webhooks/twilio/inbound",  # TwiML
        "POST /api/v1/auth/logout",  # 204
    ):
        assert kinds[page_or_file] is False, page_or_file
    for json_route in ("GET /readyz", "GET /api/v1/situation", "GET /api/v1/liaison/ack/{token}"):
        assert kinds[json_route] is True, json_route


def test_openapi_describes_every_json_answer():
    """Clients (and schemathesis) read the shape from /openapi.json: each JSON route's
    success answer refers to a named schema there."""
    from emergency.app import create_app
    from emergency.openapi import api_routes

    app = create_app()
    paths = app.openapi()["paths"]
    vague = []
    for context in api_routes(app):
        route = context.original_route
        if not route.include_in_schema or not answers_json(route):
            continue
        for method in context.methods or ():
            responses = paths[context.path_format][method.lower()]["responses"]
            success = responses[str(route.status_code or 200)]
            schema = success["content"]["application/json"]["schema"]
            if "$ref" not in schema and "$ref" not in schema.get("items", {}):
                vague.append(f"{method} {context.path_format}: {schema}")
    assert vague == []
