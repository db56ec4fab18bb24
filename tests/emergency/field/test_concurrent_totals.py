"""The totals a field event carries, under concurrency. A screen replaces its hazard, report,
help and inspection totals with each event's, so the last event must carry what the situation
says: two hazards reported at once must not leave the screen one short (found by the red
review of session 5), nor a rectification, a check-out or a closed request for help that
committed meanwhile. On PostgreSQL the requests are held at the journal's lock until all of
them wait there (every one has done its work, none has committed); SQLite writes one
transaction at a time, so there they simply race."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text

from tests.conftest import app_fixture, build_settings
from tests.emergency.field.conftest import LIANHUA, events_of, last_seq
from tests.emergency.field.factories import field_token, group, key, report

HAZARD = {"kind": "hazard", "hazard_kind": "flooding", "severity": "low"}

# Up to 12 reports at the journal's lock at once: as many as several API processes would
# bring there (one process writes TYPHOON_FIELD_REPORT_THREADS reports at a time).
app = app_fixture(
    "app",
    lambda request, url, data: build_settings(
        url, TYPHOON_DATA_DIR=str(data), TYPHOON_FIELD_REPORT_THREADS=16
    ),
)
HERE = {"lat": LIANHUA[0], "lon": LIANHUA[1]}


def waiting_on_locks(app) -> int:
    with app.db.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def at_once(app, calls: list[Callable[[], object]]) -> list:
    """Run `calls` side by side; on PostgreSQL each waits at its commit until all are there."""
    holder = None
    if app.db.engine.dialect.name == "postgresql":
        holder = app.db.engine.connect()  # the journal's counters: every commit waits here
        holder.execute(text("SELECT * FROM sequence_counter FOR UPDATE"))
    try:
        with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
            sent = [pool.submit(call) for call in calls]
            if holder is not None:
                deadline = time.monotonic() + 60
                while waiting_on_locks(app) < len(calls):
                    assert time.monotonic() < deadline, "the requests never reached the commit"
                    time.sleep(0.05)
                holder.rollback()
            return [f.result(timeout=120) for f in sent]
    finally:
        if holder is not None:
            holder.close()


def last_totals(app, type_: str, since: int, exercise: bool, section: str | None = None):
    """The totals of the last `type_` event after `since` (of reality or of the drills) that
    carries `section`."""
    carried = [
        e["data"]["totals"]
        for e in events_of(app, type_, since)
        if e["data"]["exercise"] is exercise and (section is None or section in e["data"]["totals"])
    ]
    assert carried, f"no {type_} event with {section or 'totals'}"
    return carried[-1]


def events_of_all(app, since: int) -> list[dict]:
    from emergency.events import service as event_service

    with app.db.session() as session:
        return event_service.events_since(session, since)


def field_situation(api, exercise: bool = False) -> dict:
    return api.ok(api.get(f"/api/v1/inspections/totals?exercise={str(exercise).lower()}"))


def assert_events_match_situation(api, app, since: int, exercise: bool) -> dict:
    field = field_situation(api, exercise)
    hazards = last_totals(app, "inspection.updated", since, exercise, "hazards")
    assert hazards == {"hazards": field["hazards"]}
    reports = last_totals(app, "field_report.created", since, exercise)
    assert reports == {"reports": field["reports"], "reports_total": field["reports_total"]}
    return field


def test_two_hazards_at_once_leave_the_last_events_totals_right(api, app):
    token = field_token(api, app, group_id=group(api)["id"])
    body = {**HAZARD, **HERE}
    assert report(app, token, body, key()).status_code == 201
    since = last_seq(app)
    answers = at_once(app, [lambda: report(app, token, body, key()) for _ in range(2)])
    assert [a.status_code for a in answers] == [201, 201]
    field = assert_events_match_situation(api, app, since, exercise=False)
    assert field["hazards"]["open"] == 3 and field["reports_total"] == 3


def test_totals_stay_exact_across_every_change_at_once(api, app):
    """Every kind of change to the totals at the same instant, up and down: hazards reported,
    rectified and verified; a patrol starting and one ending; a request for help made, one
    assigned and one closed; a group created; and a drill's reports beside them, which never
    count into the real totals."""
    g1, g2, g3 = (group(api, name=f"Group {n}")["id"] for n in (1, 2, 3))
    t1, t2, t3 = (field_token(api, app, group_id=g, label=f"Phone {g}") for g in (g1, g2, g3))
    drill = api.ok(
        api.post("/api/v1/field/links", {"label": "Drill phone", "group_id": g1, "exercise": True}),
        201,
    )["token"]
    crew = api.ok(api.post("/api/v1/crews", {"name": "Crew A", "headcount": 4}), 201)["id"]

    def hazard(token: str) -> int:
        answer = report(app, token, {**HAZARD, **HERE})
        assert answer.status_code == 201, answer.text
        return int(answer.json()["result"]["hazard_id"])

    def helped(token: str) -> int:
        answer = report(app, token, {"kind": "help", "people": 2, **HERE})
        assert answer.status_code == 201, answer.text
        return int(answer.json()["result"]["help_request_id"])

    to_rectify, to_verify = hazard(t1), hazard(t1)
    for h in (to_rectify, to_verify):
        api.ok(api.post(f"/api/v1/hazards/{h}/assign", {"group_id": g1}))
    api.ok(api.post(f"/api/v1/hazards/{to_verify}/rectify", {"note": "cleared"}))
    to_assign, to_close = helped(t2), helped(t2)
    assert report(app, t2, {"kind": "check_in", **HERE}).status_code == 201
    drill_hazard = hazard(drill)
    since = last_seq(app)
    published: list[dict] = []  # what this process's screens are sent, as each unit commits
    app.db.committed_listeners.append(published.extend)

    calls: list[Callable[[], object]] = [
        lambda: report(app, t1, {**HAZARD, **HERE}),
        lambda: report(app, t3, {**HAZARD, **HERE}),
        lambda: report(app, t1, {"kind": "rectified", "hazard_id": to_rectify}),
        lambda: api.post(f"/api/v1/hazards/{to_verify}/verify", {"note": "checked"}),
        lambda: report(app, t2, {"kind": "check_out", **HERE}),
        lambda: report(app, t3, {"kind": "check_in", "persons": 2, "vehicles": 1, **HERE}),
        lambda: report(app, t3, {"kind": "help", "people": 1, **HERE}),
        lambda: api.post(f"/api/v1/help-requests/{to_assign}/assign", {"crew_id": crew}),
        lambda: api.post(f"/api/v1/help-requests/{to_close}/close"),
        lambda: api.post("/api/v1/inspection-groups", {"name": "Group 4", "members": ["Ho"]}),
        lambda: report(app, drill, {**HAZARD, **HERE}),
        lambda: report(app, drill, {"kind": "rectified", "hazard_id": drill_hazard}),
    ]
    answers = at_once(app, calls)
    assert [a.status_code for a in answers] == [201, 201, 201, 200, 201, 201, 201, 200, 200] + [
        201
    ] * 3, [a.text for a in answers]

    field = assert_events_match_situation(api, app, since, exercise=False)
    assert field["hazards"] == {
        "open": 2,
        "assigned": 0,
        "rectified": 1,
        "verified": 1,
        "total": 4,
        "overdue": 0,
        "unresolved": 2,
    }
    assert field["help_requests"] == {"open": 1, "assigned": 1, "closed": 1}
    inspections = last_totals(app, "inspection.updated", since, False, "inspections")
    assert inspections == {"inspections": field["inspections"]}
    assert field["inspections"] == {
        "groups": 4,
        "on_patrol": 1,
        "trips": 2,
        "person_trips": 3 + 2,
        "vehicle_trips": 2,
    }
    helps = last_totals(app, "help_request.updated", since, False)
    assert helps == field["help_requests"]
    # the drill's reports counted apart, and their events carry the drill's totals
    drill_field = assert_events_match_situation(api, app, since, exercise=True)
    assert drill_field["hazards"]["open"] == 1 and drill_field["hazards"]["rectified"] == 1
    assert field["reports"] == {
        "hazard": 4,
        "rectified": 1,
        "help": 3,
        "check_in": 2,
        "check_out": 1,
    }
    # the screens are sent what was stored (on PostgreSQL the totals are set in SQL and read
    # back from the journal's statement)
    stored = {e["seq"]: (e["type"], e["data"]) for e in events_of_all(app, since)}
    assert {m["seq"]: (m["type"], m["data"]) for m in published} == stored


def test_a_request_for_help_closed_twice_at_once_moves_the_totals_once(api, app):
    """The session-6 review: the counters move by the status a change read, and a request for
    help was read without a lock, so a dispatcher closing its alarm while the crew closed it
    moved "open" to "closed" twice (open n-2, closed m+2, for ever). Its row is locked now:
    the second waits, then finds it closed (409)."""
    if app.db.engine.dialect.name == "sqlite":
        pytest.skip("row locks are PostgreSQL's (the deployed database); SQLite has none")
    token = field_token(api, app, group_id=group(api)["id"])
    made = [
        report(app, token, {"kind": "help", "people": 2, **HERE}, key()).json()["result"]
        for _ in range(2)
    ]
    twice, once = (int(m["help_request_id"]) for m in made)
    api.ok(api.post(f"/api/v1/help-requests/{once}/close"))
    since = last_seq(app)
    answers = at_once(app, [lambda: api.post(f"/api/v1/help-requests/{twice}/close")] * 2)
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    field = field_situation(api)
    assert field["help_requests"] == {"open": 0, "assigned": 0, "closed": 2}
    assert last_totals(app, "help_request.updated", since, False) == field["help_requests"]
