"""`FieldReportRoute` (issue 18) answers `POST /api/v1/field-reports` as FastAPI's own request
handling answers the same endpoint: for every kind of bad request the same status and error, in
the same order (malformed JSON first, then the caller 401, the role 403, the rate limit 429,
then the body's 422), and the same report for a good one. The reference is that endpoint added
on a second path with FastAPI's default route class; each request goes to both."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from emergency.field.router import post_field_report
from emergency.field.schemas import FieldReportPublic
from tests.conftest import app_fixture, build_settings
from tests.emergency.field.conftest import LIANHUA
from tests.emergency.field.factories import field_token, group, key, report
from tests.emergency.field.test_concurrent_totals import waiting_on_locks
from tests.support.waits import wait_for

OURS = "/api/v1/field-reports"
REFERENCE = "/api/v1/test-field-reports-by-fastapi"
RATE_LIMIT = 4

limited = app_fixture(
    "limited", lambda request, url, data: build_settings(url, TYPHOON_FIELD_RATE_LIMIT=RATE_LIMIT)
)
HAZARD = {
    "kind": "hazard",
    "hazard_kind": "fallen_tree",
    "severity": "high",
    "lat": LIANHUA[0],
    "lon": LIANHUA[1],
    "note": "tree across the road",
}


class Both:
    """Sends a request to our route and to the reference, and returns both answers."""

    def __init__(self, running) -> None:
        self.running = running
        routes = running.app.router.routes
        if not any(getattr(route, "path", None) == REFERENCE for route in routes):
            running.app.router.add_api_route(
                REFERENCE,
                post_field_report,
                methods=["POST"],
                response_model=FieldReportPublic,
                status_code=201,
            )

    def post(
        self, *, headers: dict[str, str], content: bytes | None = None, json: object = None
    ) -> tuple[httpx.Response, httpx.Response]:
        def send(path: str) -> httpx.Response:
            extra = {} if content is not None or json is None else {"json": json}
            return self.running.client.post(path, headers=headers, content=content, **extra)

        return send(OURS), send(REFERENCE)

    def field_token(self) -> str:
        from tests.emergency.field.conftest import Api

        api = Api(self.running)
        return field_token(api, self.running, group_id=group(api)["id"])


@pytest.fixture
def both(app) -> Both:
    return Both(app)


@pytest.fixture
def both_limited(limited) -> Iterator[Both]:
    yield Both(limited)


def same_answer(ours: httpx.Response, reference: httpx.Response) -> dict:
    assert (ours.status_code, ours.json()) == (reference.status_code, reference.json())
    return ours.json()


def error(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


def test_bad_requests_are_answered_as_fastapi_answers_them(both: Both) -> None:
    token = both.field_token()
    field = {"Authorization": f"Bearer {token}", "Idempotency-Key": key()}
    json_type = {"Content-Type": "application/json"}
    cases: dict[str, tuple[dict[str, str], bytes | None, object]] = {
        "no token": ({}, None, {}),
        "malformed JSON, no token": (json_type, b'{"kind": ', None),
        "malformed JSON, field token": ({**field, **json_type}, b'{"kind": ', None),
        "not a bearer token": ({"Authorization": f"Basic {token}"}, None, {}),
        "an unknown token": ({"Authorization": "Bearer not-a-token"}, None, HAZARD),
        "a viewer's token, a bad body": (both.running.auth("viewer"), None, {}),
        "no body": (field, b"", None),
        "an empty object": (field, None, {}),
        "a list": (field, None, [HAZARD]),
        "a wrong field": (field, None, {**HAZARD, "lat": "north"}),
        "an unknown field": (field, None, {**HAZARD, "colour": "red"}),
        "JSON sent as text/plain": (
            {**field, "Content-Type": "text/plain"},
            b'{"kind": "check_in"}',
            None,
        ),
        "JSON in a +json type": (
            {**field, "Content-Type": "application/vnd.api+json; charset=utf-8"},
            b'{"kind": "hazard"}',
            None,
        ),
        "not UTF-8": ({**field, **json_type}, b'{"note": "\xff\xfe"}', None),
        "nested too deep, no token": (json_type, b"[" * 200_000, None),
        "a bad Idempotency-Key": ({**field, "Idempotency-Key": "no spaces"}, None, HAZARD),
        "no Idempotency-Key": ({"Authorization": f"Bearer {token}"}, None, HAZARD),
        "outside the area": (field, None, {**HAZARD, "lat": 23.13, "lon": 113.26}),
    }
    expected = {
        "no token": (401, "not_authenticated"),
        "malformed JSON, no token": (422, "malformed_json"),
        "malformed JSON, field token": (422, "malformed_json"),
        "not a bearer token": (401, "not_authenticated"),
        "an unknown token": (401, "invalid_token"),
        "a viewer's token, a bad body": (403, "forbidden"),
        "no body": (422, "invalid_input"),
        "an empty object": (422, "invalid_input"),
        "a list": (422, "invalid_input"),
        "a wrong field": (422, "invalid_input"),
        "an unknown field": (422, "unknown_field"),
        "JSON sent as text/plain": (422, "invalid_input"),
        "JSON in a +json type": (422, "invalid_input"),
        "not UTF-8": (400, "http_error"),
        "nested too deep, no token": (400, "http_error"),
        "a bad Idempotency-Key": (422, "invalid_idempotency_key"),
        "no Idempotency-Key": (422, "missing_idempotency_key"),
        "outside the area": (422, "outside_area"),
    }
    seen = {}
    for name, (headers, content, body) in cases.items():
        ours, reference = both.post(headers=headers, content=content, json=body)
        same_answer(ours, reference)
        seen[name] = error(ours)
    assert seen == expected


def test_a_report_is_stored_and_replayed_as_fastapi_does(both: Both) -> None:
    field = {"Authorization": f"Bearer {both.field_token()}"}
    client = both.running.client
    ours = client.post(OURS, headers={**field, "Idempotency-Key": key()}, json=HAZARD)
    reference = client.post(REFERENCE, headers={**field, "Idempotency-Key": key()}, json=HAZARD)
    assert (ours.status_code, reference.status_code) == (201, 201)
    different = {"id", "idempotency_key", "created_at", "created_at_local", "result"}
    assert {k: v for k, v in ours.json().items() if k not in different} == {
        k: v for k, v in reference.json().items() if k not in different
    }
    assert ours.json()["result"].keys() == reference.json()["result"].keys()
    replays = both.post(
        headers={**field, "Idempotency-Key": ours.json()["idempotency_key"]}, json=HAZARD
    )
    assert [(r.status_code, r.json()) for r in replays] == [(200, ours.json())] * 2


def test_role_then_rate_limit_then_body(both_limited: Both) -> None:
    """A refused role uses no allowance; past the limit a bad body is 429, not 422."""
    field = {"Authorization": f"Bearer {both_limited.field_token()}", "Idempotency-Key": key()}
    viewer = both_limited.running.auth("viewer")
    for _ in range(RATE_LIMIT):
        assert error(both_limited.post(headers=viewer, json={})[0]) == (403, "forbidden")
    for _ in range(RATE_LIMIT // 2):  # each pair: two of the allowance
        ours, reference = both_limited.post(headers=field, json={})
        same_answer(ours, reference)
        assert error(ours) == (422, "invalid_input")
    ours, reference = both_limited.post(headers=field, json={})
    assert error(ours) == error(reference) == (429, "rate_limited")
    assert ours.headers["Retry-After"] and reference.headers["Retry-After"]
    assert error(both_limited.post(headers=viewer, json={})[0]) == (403, "forbidden")
    malformed = both_limited.post(
        headers={**field, "Content-Type": "application/json"}, content=b"{"
    )
    assert [error(answer) for answer in malformed] == [(422, "malformed_json")] * 2


def test_a_process_writes_at_most_its_threads_reports_at_once(both: Both) -> None:
    """TYPHOON_FIELD_REPORT_THREADS (2 by default): with the journal's lock held, two reports
    wait for it in the database and the third waits for a thread, not for a connection."""
    running = both.running
    if running.db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's (the deployed database)")
    token = both.field_token()
    threads = running.app.state.field_report_threads
    assert threads.total_tokens == running.app.state.settings.field_report_threads == 2

    with running.db.engine.connect() as holder:  # the journal's counters: each commit waits
        holder.execute(text("SELECT * FROM sequence_counter FOR UPDATE"))
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            sent = [pool.submit(report, running, token, HAZARD) for _ in range(3)]
            wait_for(lambda: threads.statistics().tasks_waiting == 1, what="one report queued")
            wait_for(lambda: waiting_on_locks(running) == 2, what="two reports at the lock")
            assert threads.borrowed_tokens == 2
            holder.rollback()
            assert [f.result(timeout=60).status_code for f in sent] == [201] * 3
