"""The unit of work follows the root transaction, not its savepoints (SQLAlchemy fires
before_commit / after_commit / after_rollback for `begin_nested()` too): rows written in a
savepoint (a rule's broadcast, a liaison notice's SMS) are queued, and events published,
only once the whole unit commits; a failed savepoint drops nothing but its own entries."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from alerts.dispatch.queue import InProcessQueue
from alerts.outbox import enqueue_after_commit
from emergency.audit import service as audit_service
from emergency.audit.models import AuditEntry
from emergency.db import Database
from emergency.events import service as event_service
from emergency.events.models import Event


class Recorder:
    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, message: dict) -> None:
        self.published.append(message)


@pytest.fixture
def db(database_url):
    database = Database(database_url, bus=Recorder())
    yield database
    database.dispose()


def test_ids_from_a_savepoint_are_queued_after_the_root_commit(db):
    queue = InProcessQueue()
    with db.unit_of_work() as session:
        with session.begin_nested():
            enqueue_after_commit(session, queue, [1, 2, 3])
        assert len(queue) == 0  # the savepoint is released, nothing is committed yet
    assert queue.take(10, timeout=0.1) == [1, 2, 3]
    assert len(queue) == 0


def test_ids_of_a_rolled_back_unit_are_never_queued(db):
    queue = InProcessQueue()
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        with session.begin_nested():
            enqueue_after_commit(session, queue, [7])
        raise RuntimeError("the request failed")
    assert len(queue) == 0


def test_events_of_a_savepoint_are_published_after_the_root_commit(db):
    with db.unit_of_work() as session:
        event_service.emit(session, "thing.before", {"n": 1})
        with session.begin_nested():
            event_service.emit(session, "thing.inside", {"n": 2})
        assert db.bus.published == []  # not committed: no screen may see it yet
        event_service.emit(session, "thing.after", {"n": 3})
    published = db.bus.published
    assert [m["type"] for m in published] == ["thing.before", "thing.inside", "thing.after"]
    assert [m["seq"] for m in published] == list(
        range(published[0]["seq"], published[0]["seq"] + 3)
    )


def test_a_failed_savepoint_keeps_the_rest_of_the_unit(db):
    with db.unit_of_work() as session:
        audit_service.record(
            session,
            actor="op",
            action="thing.changed",
            target_type="thing",
            target_id=1,
            after={"v": 1},
        )
        event_service.emit(session, "thing.changed", {"id": 1})
        with pytest.raises(ValueError), session.begin_nested():
            raise ValueError("a rule action failed")
    assert [m["type"] for m in db.bus.published] == ["thing.changed"]
    with db.session() as session:
        assert session.execute(select(func.count()).select_from(Event)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 1


def test_a_timed_broadcast_is_scheduled_after_the_root_commit(db):
    from emergency.broadcasts import service as broadcast_service

    ran: list[str] = []
    with db.unit_of_work() as session:
        with session.begin_nested():  # as a rule's broadcast action
            broadcast_service._after_commit(session, lambda: ran.append("scheduled"))
        assert ran == []  # the broadcast row is not committed yet
    assert ran == ["scheduled"]
