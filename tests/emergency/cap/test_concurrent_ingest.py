"""The same CAP alert posted several times at once is stored and acted on once: the unique
(sender, identifier) of cap_received decides, the losers answer 200 as duplicates (as the API
documents), never a 5xx, and nothing the alert sets off happens twice."""

from __future__ import annotations

import threading

import httpx
from sqlalchemy import func, select

from emergency.cap.models import CapReceived
from emergency.liaison.models import LiaisonNotice
from emergency.rules.models import RuleActionRun
from emergency.signals.models import SignalChange
from tests.emergency.cap.samples import CAP_HEADERS, fresh

POSTS = 6


def post_at_once(app, data: bytes, count: int = POSTS) -> list[httpx.Response]:
    headers = {**app.auth("operator"), **CAP_HEADERS}
    barrier = threading.Barrier(count)
    answers: list[httpx.Response | BaseException] = [None] * count  # type: ignore[list-item]

    def post(i: int) -> None:
        with httpx.Client(base_url=app.url, timeout=60) as client:
            barrier.wait()
            try:
                answers[i] = client.post("/api/v1/cap", content=data, headers=headers)
            except BaseException as exc:  # noqa: BLE001 - reported below
                answers[i] = exc

    threads = [threading.Thread(target=post, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert all(isinstance(a, httpx.Response) for a in answers), answers
    return answers  # type: ignore[return-value]


def count(session, model, *where) -> int:
    return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_identical_alerts_posted_at_once_are_stored_and_applied_once(app_server):
    data = fresh("smg_tc8ne.xml", identifier="SMG-TC-race-1")
    answers = post_at_once(app_server, data)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * (POSTS - 1) + [201], [a.text for a in answers]
    first = next(a.json() for a in answers if a.status_code == 201)
    dupes = [a.json() for a in answers if a.status_code == 200]
    assert all(d["duplicate"] and d["id"] == first["id"] for d in dupes)
    assert all(d["actions"] == [] and d["notices"] == [] for d in dupes)
    with app_server.db.session() as session:
        assert count(session, CapReceived, CapReceived.identifier == "SMG-TC-race-1") == 1
        assert count(session, SignalChange, SignalChange.source == "SMG") == 1
        assert count(session, LiaisonNotice) == 2  # the signal's notice and the No. 8 rule's
        runs = count(session, RuleActionRun)
    assert runs == len(first["actions"])


def test_same_identifier_with_another_sent_time_is_still_a_duplicate(app_server):
    # CAP: an identifier is unique per sender; a second alert reusing it (another <sent>) is
    # the same alert for us, whatever else changed.
    first = fresh("smg_tc3.xml", identifier="SMG-TC-race-2")
    r = app_server.client.post(
        "/api/v1/cap", content=first, headers={**app_server.auth("operator"), **CAP_HEADERS}
    )
    assert r.status_code == 201, r.text
    from datetime import UTC, datetime, timedelta

    later = fresh(
        "smg_tc8ne.xml", identifier="SMG-TC-race-2", at=datetime.now(UTC) + timedelta(minutes=1)
    )
    answers = post_at_once(app_server, later, count=3)
    assert [a.status_code for a in answers] == [200, 200, 200]
    active = app_server.client.get("/api/v1/signals/active", headers=app_server.auth("viewer"))
    assert [a["level"] for a in active.json() if a["source"] == "SMG"] == ["3"]
