"""Issue 20 item 7: which workers send without Redis is part of the situation (from the
database), so a screen opened during an outage sees it: listed while a worker renews it,
gone on recovery or once the worker is not heard of for STALE seconds (it died degraded)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update


def degraded(app) -> list[dict]:
    answer = app.client.get("/api/v1/situation", headers=app.auth("viewer"))
    assert answer.status_code == 200, answer.text
    return answer.json()["dispatch"]["degraded_workers"]


def test_degraded_workers_are_in_the_snapshot_until_they_recover_or_go_quiet(app_server):
    from emergency.dispatch import status
    from emergency.events import service as event_service

    app = app_server

    def say(worker: str, without_redis: list[str], rate: float | None) -> None:
        with app.db.unit_of_work() as session:
            status.record(session, worker_id=worker, without_redis=without_redis, sms_rate=rate)

    assert degraded(app) == []
    say("a:1:aaaaaa", ["queue"], 5.0)
    say("b:2:bbbbbb", ["queue", "rate"], 5.0)
    say("a:1:aaaaaa", ["queue", "rate"], 5.0)  # a renewal: no second event
    listed = degraded(app)
    assert [(w["worker"], w["without_redis"], w["sms_rate"]) for w in listed] == [
        ("a:1:aaaaaa", ["queue", "rate"], 5.0),
        ("b:2:bbbbbb", ["queue", "rate"], 5.0),
    ]
    assert all(w["since_local"].endswith("+08:00") for w in listed)

    # b died degraded: after STALE seconds without renewal it is not listed any more
    with app.db.unit_of_work() as session:
        session.execute(
            update(status.DispatchDegraded)
            .where(status.DispatchDegraded.worker_id == "b:2:bbbbbb")
            .values(seen_at=status.utcnow() - timedelta(minutes=5))
        )
    assert [w["worker"] for w in degraded(app)] == ["a:1:aaaaaa"]

    app.drain()  # the scheduler's sweep: b's row goes, and open screens are told
    with app.db.session() as session:
        assert session.get(status.DispatchDegraded, "b:2:bbbbbb") is None
        assert session.get(status.DispatchDegraded, "a:1:aaaaaa") is not None

    say("a:1:aaaaaa", [], None)  # Redis answers a again
    say("a:1:aaaaaa", [], None)  # and again: nothing more to say
    assert degraded(app) == []
    with app.db.session() as session:
        said = [
            e for e in event_service.events_since(session, 0) if e["type"].startswith("dispatch.")
        ]
    assert [(e["type"], e["data"]["worker"], e["data"].get("gone")) for e in said] == [
        ("dispatch.degraded", "a:1:aaaaaa", None),
        ("dispatch.degraded", "b:2:bbbbbb", None),
        ("dispatch.recovered", "b:2:bbbbbb", True),  # gone while degraded
        ("dispatch.recovered", "a:1:aaaaaa", None),
    ]
    assert [w["worker"] for w in said[1]["data"]["degraded_workers"]] == [
        "a:1:aaaaaa",
        "b:2:bbbbbb",
    ]
    assert [w["worker"] for w in said[2]["data"]["degraded_workers"]] == ["a:1:aaaaaa"]
    assert said[3]["data"]["degraded_workers"] == []
