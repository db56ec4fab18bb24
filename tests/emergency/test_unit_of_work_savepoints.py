"""The unit of work follows the root transaction, not its savepoints (SQLAlchemy fires
before_commit / after_commit / after_rollback for `begin_nested()` too): rows written in a
savepoint (a rule's broadcast, a liaison notice's SMS) are queued, and events published,
only once the whole unit commits; a failed savepoint drops nothing but its own entries."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from alerts.dispatch.queue import InProcessQueue
from alerts.dispatch.store import enqueue_after_commit
from emergency import journal_writer
from emergency.audit import service as audit_service
from emergency.audit.models import AuditEntry
from emergency.db import Database, savepoint
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
    with db.session() as session:
        stored = event_service.events_since(session, 0)
    assert [m["type"] for m in stored] == ["thing.before", "thing.inside", "thing.after"]
    assert [m["seq"] for m in stored] == list(range(stored[0]["seq"], stored[0]["seq"] + 3))
    # One wake-up for the unit of work, naming its last seq: screens read the events.
    assert db.bus.published == [{"seq": stored[-1]["seq"]}]


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
    assert len(db.bus.published) == 1
    with db.session() as session:
        assert [m["type"] for m in event_service.events_since(session, 0)] == ["thing.changed"]
        assert session.execute(select(func.count()).select_from(Event)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 1


def test_a_timed_broadcast_is_scheduled_after_the_root_commit(db):
    from alerts.journal import after_commit

    ran: list[str] = []
    with db.unit_of_work() as session:
        with session.begin_nested():  # as a rule's broadcast action
            after_commit(session, lambda: ran.append("scheduled"), repaired_by="a test")
        assert ran == []  # the broadcast row is not committed yet
    assert ran == ["scheduled"]


def test_an_after_commit_step_runs_never_after_a_rollback(db):
    from alerts.journal import after_commit

    ran: list[str] = []
    with pytest.raises(ValueError), db.unit_of_work() as session:
        after_commit(session, lambda: ran.append("scheduled"))
        raise ValueError("the request failed")
    assert ran == []


_COUNTER = text("INSERT INTO sequence_counter (name, value) VALUES (:name, :value)")


def _counters(session) -> dict[str, int]:
    rows = session.execute(text("SELECT name, value FROM sequence_counter WHERE name LIKE 't.%'"))
    return dict(rows.all())


@pytest.mark.parametrize("audited", [True, False], ids=["with-audit", "alone"])
def test_a_deferred_write_is_written_with_the_journal(db, audited):
    """A deferred write (a field report's result) waits for the journal: on PostgreSQL, with an
    audit entry, a CTE of the statement that takes the chain's numbers; else alone."""
    with db.unit_of_work() as session:
        journal_writer.defer(session, _COUNTER, {"name": "t.kept", "value": 7})
        with pytest.raises(ValueError), savepoint(session):
            journal_writer.defer(session, _COUNTER, {"name": "t.dropped", "value": 1})
            raise ValueError("a rule action failed")
        if audited:
            audit_service.record(
                session, actor="op", action="thing.changed", target_type="thing", target_id=1
            )
        assert _counters(session) == {}  # not written yet
    with db.session() as session:
        assert _counters(session) == {"t.kept": 7}
        assert audit_service.verify(session).ok


def test_a_deferred_write_of_a_rolled_back_unit_is_never_written(db):
    with pytest.raises(ValueError), db.unit_of_work() as session:
        journal_writer.defer(session, _COUNTER, {"name": "t.lost", "value": 1})
        raise ValueError("the request failed")
    with db.unit_of_work() as session:
        audit_service.record(
            session, actor="op", action="thing.changed", target_type="thing", target_id=1
        )
    with db.session() as session:
        assert _counters(session) == {}
