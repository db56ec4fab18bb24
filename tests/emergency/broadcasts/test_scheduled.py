"""Broadcasts with send_at: the job is kept in the scheduler's persistent store, so it runs
after a restart; a lost job is caught by the periodic safety net; cancelling removes it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text

from alerts.models import Broadcast
from emergency.audit.models import AuditEntry
from emergency.db import utcnow
from tests.emergency.broadcasts.factories import TEXTS, seed
from tests.emergency.broadcasts.test_broadcasts_api import outbox, post, zones_of
from tests.support import server


def jobs(app) -> list[str]:
    with app.db.engine.connect() as conn:
        return list(conn.execute(text("SELECT id FROM scheduled_job")).scalars())


def status_of(app, broadcast_id) -> str:
    with app.db.session() as session:
        return session.get(Broadcast, broadcast_id).status


def test_send_at_survives_a_restart(alerts_settings):
    settings = alerts_settings()
    with server.run(settings) as first:
        phones = seed(first.db, zones_of(first), 5)
        when = utcnow() + timedelta(hours=1)  # after this process has stopped
        r = post(
            first,
            {
                "messages": TEXTS,
                "zones": ["xiaohengqin"],
                "channels": ["sms"],
                "send_at": when.isoformat(),
            },
        )
        assert r.status_code == 201, r.text
        b = r.json()
        assert (b["status"], b["recipients"]) == ("scheduled", 5)
        assert b["send_at_local"].endswith("+08:00")
        assert outbox(first, b["id"]) == []
        assert f"broadcast-{b['id']}" in jobs(first)
    # The service is down at send_at; it comes back and the stored job runs (once due).
    with server.run(settings) as second:
        scheduler = second.app.state.scheduler  # the stored jobs, run when due
        assert scheduler.run_due(second.clock.advance(minutes=59)) == 0
        assert status_of(second, b["id"]) == "scheduled"
        assert scheduler.run_due(second.clock.advance(minutes=1)) == 1
        assert status_of(second, b["id"]) == "sending"
        rows = outbox(second, b["id"])
        assert sorted(m.address for m in rows) == sorted(phones)
        queued = second.app.state.runtime.queue.take(100, timeout=0)
        assert sorted(queued) == sorted(m.id for m in rows)
        with second.db.session() as session:
            started = session.execute(
                select(AuditEntry).where(AuditEntry.action == "broadcast.started")
            ).scalar_one()
        assert started.actor == "scheduler"  # the timed job, not the safety net
        assert f"broadcast-{b['id']}" not in jobs(second)


def test_a_lost_job_is_started_by_the_safety_net(alerts_app):
    from emergency.broadcasts.scheduled import start_due_broadcasts

    app = alerts_app  # no background scheduler: the safety net runs here, by hand
    seed(app.db, zones_of(app), 3)
    send_at = utcnow() + timedelta(minutes=5)
    b = post(
        app, {"messages": TEXTS, "zones": ["xiaohengqin"], "send_at": send_at.isoformat()}
    ).json()
    app.app.state.scheduler.cancel(f"broadcast-{b['id']}")  # lost
    runtime = app.app.state.runtime
    assert start_due_broadcasts(runtime=runtime) == 0  # not due yet
    due = send_at + timedelta(milliseconds=1)
    assert start_due_broadcasts(runtime=runtime, now=due) == 1
    assert start_due_broadcasts(runtime=runtime, now=due) == 0  # idempotent
    assert status_of(app, b["id"]) == "sending"
    assert len(outbox(app, b["id"])) == 3


def test_cancelling_a_scheduled_broadcast_removes_its_job(alerts_app):
    app = alerts_app
    seed(app.db, zones_of(app), 2)
    b = post(
        app,
        {
            "messages": TEXTS,
            "zones": ["xiaohengqin"],
            "send_at": (utcnow() + timedelta(hours=2)).isoformat(),
        },
    ).json()
    assert f"broadcast-{b['id']}" in jobs(app)
    r = app.client.post(f"/api/v1/broadcasts/{b['id']}/cancel", headers=app.auth("operator"))
    assert r.json()["status"] == "cancelled" and r.json()["messages_cancelled"] == 0
    assert f"broadcast-{b['id']}" not in jobs(app)


def test_approved_future_broadcast_is_scheduled_not_sent(alerts_settings):
    with server.run(alerts_settings(TYPHOON_APPROVAL_THRESHOLD=1), embedded_worker=False) as app:
        seed(app.db, zones_of(app), 2)
        b = post(
            app,
            {
                "messages": TEXTS,
                "zones": ["xiaohengqin"],
                "send_at": (utcnow() + timedelta(hours=1)).isoformat(),
            },
        ).json()
        assert b["status"] == "awaiting_approval"
        r = app.client.post(f"/api/v1/broadcasts/{b['id']}/approve", headers=app.auth("approver"))
        assert r.json()["status"] == "scheduled"
        assert f"broadcast-{b['id']}" in jobs(app)
        assert outbox(app, b["id"]) == []
