"""Every mutating endpoint, found from the app's own routes (a new one is covered without
anyone remembering): without a token it is a 401, with a role it does not allow a 403, and
neither writes anything. The allowed roles are read from the route's `require(...)`
dependency; the few endpoints without a token, or that check the role inside, are listed
below, and the test fails when a route is in neither place or a listed one has gone."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from emergency.auth.models import Role
from emergency.openapi import api_routes, needs_token, required_roles

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}

# Mutating endpoints that take no token, and what protects them instead (tested elsewhere).
PUBLIC = {
    "POST /api/v1/push/subscriptions": "a resident's browser; rate-limited per address",
    "DELETE /api/v1/push/subscriptions": "the push endpoint is the capability; rate-limited",
    "POST /api/v1/liaison/ack/{token}": "the contact's link token is the capability",
    "POST /webhooks/twilio/status": "X-Twilio-Signature; refusals rate-limited",
    "POST /webhooks/twilio/inbound": "X-Twilio-Signature; refusals rate-limited",
    "POST /api/v1/auth/login": "name and password are the credentials; rate-limited per address",
    "POST /api/v1/auth/logout": "ends the cookie's own session, with its CSRF token",
    "POST /api/v1/auth/password": "the one-time link's token is the capability; rate-limited",
}

# Reads that take no token: public by design (a route that loses its token check shows here).
PUBLIC_READS = {
    "GET /",
    "GET /field",
    "GET /field/sw.js",  # pages: they ask for a token themselves
    "GET /docs",  # the API's documentation (Swagger UI, served from here)
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",  # probes and Prometheus (no personal data)
    "GET /api/v1/cap/alerts",
    "GET /api/v1/cap/alerts/{identifier}.xml",  # public warnings
    "GET /api/v1/cap/feed.atom",
    "GET /api/v1/liaison/ack/{token}",  # the contact's link token is the capability
    "GET /api/v1/push/vapid-public-key",  # what browsers subscribe with
    "GET /api/v1/auth/session",  # the session cookie is the credential (401 without)
    "GET /set-password",  # a page: the one-time token stays in its fragment
}

# Mutating endpoints that take a token but check the role in the service: the roles refused.
ROLE_IN_SERVICE = {
    # operators for anyone; a field (social worker's) account for the residents it follows
    "POST /api/v1/vulnerable/residents/{resident_id}/check": ("viewer", "liaison", "approver"),
    # a dry run of the rules: computes, writes nothing; any signed-in role may ask
    "POST /api/v1/rules/preview": (),
}


def mutating_routes(app):
    for route in api_routes(app):
        for method in sorted(route.methods & MUTATING):
            yield f"{method} {route.path_format}", method, route


def request(app_server, method, route, headers):
    """The route called with placeholder path parameters and a body of the documented type,
    so that what answers is the authentication and the role check, not the parser."""
    path = route.path_format
    for name in route.dependant.path_params:
        path = path.replace("{" + name.name + "}", "1")
    operation = app_server.app.openapi()["paths"][route.path_format][method.lower()]
    content = (operation.get("requestBody") or {}).get("content", {})
    kwargs: dict = {"json": {}}
    if "multipart/form-data" in content:
        kwargs = {"files": {"file": ("x.jpg", b"\xff\xd8\xff", "image/jpeg")}}
    elif content and "application/json" not in content:
        kwargs = {"content": b"<alert/>", "headers": {"Content-Type": next(iter(content))}}
    kwargs["headers"] = {**kwargs.get("headers", {}), **headers}
    return app_server.client.request(method, path, **kwargs)


def written(app_server) -> dict[str, int]:
    with app_server.db.session() as session:
        return {
            t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("audit_entry", "event")
        }


@pytest.fixture
def routes(app_server):
    return list(mutating_routes(app_server.app))


def test_every_mutating_route_is_accounted_for(routes):
    names = {name for name, _, _ in routes}
    assert len(names) > 40, "route enumeration found too few routes"
    unaccounted = [
        name
        for name, _, route in routes
        if not needs_token(route)
        and name not in PUBLIC
        or needs_token(route)
        and required_roles(route) is None
        and name not in ROLE_IN_SERVICE
    ]
    assert not unaccounted, (
        f"mutating routes with neither a token nor a role check, or not listed: {unaccounted}; "
        "protect them (emergency.auth.dependencies) or list them in PUBLIC/ROLE_IN_SERVICE"
    )
    assert not (set(PUBLIC) | set(ROLE_IN_SERVICE)) - names, "listed routes that are gone"
    assert not {name for name, _, route in routes if needs_token(route)} & set(PUBLIC)


@pytest.mark.one_db  # refused by the token check before any handler
def test_no_token_is_401_and_writes_nothing(app_server, routes):
    before = written(app_server)
    answers = {}
    for name, method, route in routes:
        if not needs_token(route):
            continue
        for headers in (
            {},
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": "Basic YWRtaW46YWRtaW4="},
        ):
            r = request(app_server, method, route, headers)
            if r.status_code != 401 or r.json()["error"]["code"] not in (
                "not_authenticated",
                "invalid_token",
            ):
                answers[f"{name} {headers}"] = (r.status_code, r.text[:200])
    assert not answers, answers
    assert written(app_server) == before


@pytest.mark.one_db  # refused by the role check before any handler
def test_wrong_role_is_403_and_writes_nothing(app_server, routes):
    tokens = {role.value: app_server.token(role.value) for role in Role}
    before = written(app_server)
    answers, tried = {}, 0
    for name, method, route in routes:
        if not needs_token(route):
            continue
        allowed = required_roles(route)
        refused = (
            ROLE_IN_SERVICE[name]
            if allowed is None
            else [r.value for r in Role if r.value not in allowed and r != Role.admin]
        )
        if name == "POST /api/v1/vulnerable/residents/{resident_id}/check":
            continue  # needs a resident first: its own test below
        for role in refused:
            tried += 1
            r = request(app_server, method, route, {"Authorization": f"Bearer {tokens[role]}"})
            if r.status_code != 403 or r.json()["error"]["code"] != "forbidden":
                answers[f"{name} as {role}"] = (r.status_code, r.text[:200])
    assert tried > 100
    assert not answers, answers
    assert written(app_server) == before


def test_admin_passes_every_role_check(routes):
    # require() lets admins through: no route may list roles that leave admins out by design
    for name, _, route in routes:
        roles = required_roles(route)
        assert roles is None or Role.admin.value not in roles or len(roles) == 1, name


@pytest.mark.one_db  # a role check
def test_resident_check_is_refused_to_roles_that_do_not_follow_residents(app_server):
    r = app_server.client.post(
        "/api/v1/vulnerable/residents",
        headers=app_server.auth("operator"),
        json={"name": "Leong", "address": "Rua 1"},
    )
    assert r.status_code == 201, r.text
    path = f"/api/v1/vulnerable/residents/{r.json()['id']}/check"
    for role in Role:
        app_server.token(role.value)  # users made (and audited) before counting
    before = written(app_server)
    for role in ROLE_IN_SERVICE["POST /api/v1/vulnerable/residents/{resident_id}/check"] + (
        "field",
    ):  # a field account that does not follow this resident
        r = app_server.client.post(path, headers=app_server.auth(role), json={"state": "reached"})
        assert r.status_code == 403, (role, r.text)
    assert written(app_server) == before
    ok = app_server.client.post(
        path, headers=app_server.auth("operator"), json={"state": "reached"}
    )
    assert ok.status_code == 200, ok.text


@pytest.mark.one_db  # refused by the token check
def test_every_read_needs_a_token_unless_listed_public(app_server):
    reads = {
        f"GET {route.path_format}": route
        for route in api_routes(app_server.app)
        if "GET" in route.methods
    }
    public = {name for name, route in reads.items() if not needs_token(route)}
    assert public == PUBLIC_READS, (
        f"public now but not listed: {sorted(public - PUBLIC_READS)}; "
        f"listed but not public (or gone): {sorted(PUBLIC_READS - public)}"
    )
    answers = {}
    for name, route in reads.items():
        if name in PUBLIC_READS:
            continue
        path = route.path_format
        for param in route.dependant.path_params:
            path = path.replace("{" + param.name + "}", "1")
        r = app_server.client.get(path)
        if r.status_code != 401:
            answers[name] = (r.status_code, r.text[:200])
    assert len(reads) - len(PUBLIC_READS) > 30 and not answers, answers


@pytest.mark.one_db  # the schema, no SQL
def test_errors_are_documented_in_openapi(app_server):
    paths = app_server.client.get("/openapi.json").json()["paths"]
    for name, method, route in mutating_routes(app_server.app):
        responses = paths[route.path_format][method.lower()]["responses"]
        assert "4XX" in responses, name
        assert ("401" in responses) == needs_token(route), name
        assert ("403" in responses) == (required_roles(route) is not None), name
        if "422" in responses:
            schema = responses["422"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, name
