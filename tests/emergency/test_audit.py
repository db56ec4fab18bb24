"""The audit chain verifies, and detects a changed, a deleted and a truncated row
(`typhoon audit verify` exits 1 and names the rows)."""

from __future__ import annotations

from sqlalchemy import text

from emergency.audit import service as audit_service
from emergency.db import Database
from tests.support.cli import typhoon


def _fill(db, n=5):
    for i in range(n):
        with db.unit_of_work() as session:
            audit_service.record(
                session,
                actor="tester",
                action="thing.changed",
                target_type="thing",
                target_id=i,
                before={"v": i},
                after={"v": i + 1},
            )


def _verify_cli(url):
    return typhoon("audit", "verify", env={"TYPHOON_DATABASE_URL": url})


def test_chain_verifies_then_detects_a_changed_row(database_url):
    db = Database(database_url)
    _fill(db)
    ok = _verify_cli(database_url)
    assert ok.returncode == 0 and "5 entries verified" in ok.stdout
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 3"))
    broken = _verify_cli(database_url)
    db.dispose()
    assert broken.returncode == 1
    assert "row 3: content changed" in broken.stderr


def test_detects_a_deleted_row_and_a_cut_tail(database_url):
    db = Database(database_url)
    _fill(db, 6)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq = 2"))
        conn.execute(text("DELETE FROM audit_entry WHERE seq = 6"))
    with db.session() as session:
        result = audit_service.verify(session)
    db.dispose()
    assert not result.ok
    assert any("rows 2..2 are missing" in p for p in result.problems)
    assert any("row 3: does not follow" in p for p in result.problems)
    assert any("6..6 are missing at the end" in p for p in result.problems)


def test_rolled_back_work_leaves_no_audit_row(database_url):
    db = Database(database_url)
    try:
        with db.unit_of_work() as session:
            audit_service.record(session, actor="t", action="x", target_type="t", target_id=1)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with db.session() as session:
        assert audit_service.entries(session) == []
        assert audit_service.verify(session).ok
    db.dispose()


def test_a_writer_that_waited_for_the_chain_follows_the_one_it_waited_for(database_url):
    """Two transactions write audit entries at once: the second waits for the chain's lock
    while the first commits, and must then chain on the first's last row (not on a snapshot
    taken before its wait: on PostgreSQL that would restart the chain at the genesis hash)."""
    import threading

    from sqlalchemy import event

    from tests.support.waits import lock_waiters, wait_for

    db = Database(database_url)
    try:
        _fill(db, 2)
        first = db.session()
        audit_service.record(
            first, actor="a", action="thing.changed", target_type="thing", target_id="first"
        )
        audit_service.write_pending(first)  # the chain's lock is held until `first` commits
        errors: list[BaseException] = []
        other = Database(database_url)  # the second writer's own connections
        asked = threading.Event()

        @event.listens_for(other.engine, "before_cursor_execute")
        def _asking(conn, cursor, statement, *args) -> None:
            if "sequence_counter" in statement and "UPDATE" in statement.upper():
                asked.set()  # about to ask for the chain's lock

        def second_writer() -> None:
            try:
                _fill(other, 1)  # waits for the lock
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        waiting = threading.Thread(target=second_writer)
        waiting.start()
        if database_url.startswith("postgresql"):
            # waiting for the lock (PostgreSQL's journal asks on the driver's connection,
            # emergency.rawsql: no SQLAlchemy cursor event)
            wait_for(lambda: lock_waiters(database_url) >= 1, what="the second writer's wait")
        else:
            assert asked.wait(30), "the second writer never asked for the lock"
        assert waiting.is_alive()
        first.commit()
        first.close()
        waiting.join(60)
        assert not waiting.is_alive() and not errors, errors
        with db.session() as session:
            result = audit_service.verify(session)
        assert result.ok, result.problems
        assert result.checked == 4
        other.dispose()
    finally:
        db.dispose()
