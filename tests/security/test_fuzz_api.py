"""API fuzzing: schemathesis generates requests from /openapi.json of the real app (uvicorn,
fresh database) and checks that no answer is a 5xx and that every answer is as documented:
status code, content type, headers and body.

Bounded for CI: derandomized, a few valid and a few invalid examples per operation, no
shrinking; once with an admin token (so the fuzzer reaches the handlers) and once with no
token at all (where an operation answers 401 whatever it is sent, with a few examples), on
a database with a few records of each kind. Every operation is tried and all the failures
are reported together.

Valid requests (positive mode) reach the handlers and the database: they are sent on SQLite
and PostgreSQL. Invalid ones (negative mode: each violates the documented schema) are
answered by the request's validation before any handler runs, whatever the database: they
are sent on SQLite only (CONTRIBUTING.md: what cannot differ runs once).
"""

from __future__ import annotations

import os
import uuid
from http.cookiejar import DefaultCookiePolicy

import pytest
import requests

# Not traced for coverage (pytest-cov's no_cover): the tracer made these tests 65 % slower
# (64 s of CPU against 37 s for the admin run on SQLite), the largest share of CI's time,
# while the code they reach is covered by the API tests (the total is printed by .ci/run).
pytestmark = pytest.mark.no_cover
# schemathesis and hypothesis are imported where the fuzzing runs: every xdist worker imports
# this module to collect it, and the two took ~1.5 s of each one's start (the schemathesis
# pytest plugin is off for the same reason: pyproject.toml's addopts).

CONFIG = """
# A loaded CI machine answers slowly, not wrongly: a request timing out there would be
# reported as a flaky failure ("failed on the first run but now succeeds").
request-timeout = 60.0

# No 5xx, and every answer as documented; the other checks are off.
[checks]
enabled = false
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_headers_conformance.enabled = true
response_schema_conformance.enabled = true
"""
# HTTP framing headers: a malformed Content-Length is refused by the HTTP server (uvicorn, 400
# text/plain) before the app sees the request, so the app's schema cannot speak for it.
FRAMING = {"content-length", "transfer-encoding", "host", "connection", "expect"}
EXAMPLES = int(os.environ.get("TYPHOON_FUZZ_EXAMPLES", "10"))  # per operation and mode
# Without a token, an operation that needs one answers 401 before it reads its input or the
# database (the dependency runs first): a few cases show that, whatever the input; the public
# operations get EXAMPLES.
REFUSED_EXAMPLES = min(EXAMPLES, 3)
MODES = {"sqlite": ("positive", "negative"), "postgresql": ("positive",)}  # GenerationMode


def examples_for(operation, headers: dict[str, str]) -> int:
    needs_token = "401" in operation.definition.raw.get("responses", {})
    return EXAMPLES if headers.get("Authorization") or not needs_token else REFUSED_EXAMPLES


def described(exc: BaseException) -> str:
    """The failure with what it groups: hypothesis's "flaky" verdict (failed once, then not)
    says what failed only in its sub-exceptions (a CI run showed the verdict alone)."""
    if isinstance(exc, BaseExceptionGroup):
        parts = [f"{type(sub).__name__}: {described(sub)}" for sub in exc.exceptions]
        return f"{exc}\n  " + "\n  ".join(parts)
    return str(exc)


def fuzz(base_url: str, headers: dict[str, str], backend: str) -> list[str]:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    config = schemathesis.Config.from_str(CONFIG)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
    failures: list[str] = []
    operations = 0
    # One connection for every case (not one each), and no cookies kept between cases: each
    # request carries only `headers`.
    session = requests.Session()
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        examples = examples_for(operation, headers)
        for mode in map(GenerationMode, MODES[backend]):

            @settings(
                max_examples=examples,
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                report_multiple_bugs=False,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                for name in [h for h in case.headers or {} if h.lower() in FRAMING]:
                    del case.headers[name]
                case.call_and_validate(base_url=base_url, headers=headers, session=session)

            try:
                run()
            except Unsatisfiable:
                pass  # nothing in this operation can be made invalid (no parameters, no body)
            except (Exception, BaseExceptionGroup) as exc:  # every failure is reported
                failures.append(f"{operation.label} ({mode.value}): {described(exc)}")
    session.close()
    assert operations > 50, "the schema lists fewer operations than the app has"
    return failures


def seed(app_server) -> None:
    """A few records of each kind, so that generated ids (small ones come often) reach the
    handlers' work on existing rows, not only their 404s."""
    admin = app_server.auth("admin")

    def post(path, body, field_team=False):
        headers = dict(admin)
        if field_team:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        r = app_server.client.post(path, json=body, headers=headers)
        assert r.status_code in (200, 201), (path, r.text)
        return r.json()

    place = {"lat": 22.14, "lon": 113.54}
    for n in (1, 2):
        group = post(
            "/api/v1/inspection-groups",
            {
                "name": f"Group {n}",
                "leader": "Chen",
                "members": ["Chen", "Leong"],
                "vehicles": [],
                "zone_ids": ["lianhua"],
                "grid_cells": [],
            },
        )
        post("/api/v1/crews", {"name": f"Crew {n}", "headcount": 5, **place})
        post(
            "/api/v1/field-reports",
            {
                "kind": "hazard",
                "hazard_kind": "fallen_tree",
                "severity": "high",
                "group_id": group["id"],
                **place,
            },
            field_team=True,
        )
        post("/api/v1/field-reports", {"kind": "help", "people": 2, **place}, field_team=True)
        post("/api/v1/vulnerable/residents", {"name": f"Resident {n}", "address": "Rua 1"})
        post(
            "/api/v1/liaison/calls",
            {
                "direction": "inbound",
                "caller": "SMG desk",
                "summary": "signal 8 at 22:00",
                "follow_up": "call back",
            },
        )
    post("/api/v1/signals", {"source": "SMG", "kind": "tropical_cyclone", "level": "8NE"})


def test_fuzz_as_admin(app_server, module_database):
    seed(app_server)
    failures = fuzz(app_server.url, app_server.auth("admin"), module_database.backend)
    assert not failures, "\n\n".join(failures)


def test_fuzz_without_token(app_server, module_database):
    seed(app_server)  # the public reads (our CAP alerts, liaison ack links) then have rows
    failures = fuzz(app_server.url, {}, module_database.backend)
    assert not failures, "\n\n".join(failures)
