"""What the red review of issue 14 found on a running server: twelve requests at once creating
one liaison contact key got one 201 and eleven 500s (SQLite and PostgreSQL), and twelve at
once subscribing one phone number got 500s on PostgreSQL. The service checks for the
duplicate, then inserts: another request may commit the same key in between, and the unique
index refuses the insert. That is a conflict the client can act on (409), never a 500.

The race is made certain rather than hoped for: a second writer commits the same key just
before the request's own insert is flushed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from emergency.liaison.models import LiaisonContact


@contextmanager
def another_request_commits_first(app, key: str) -> Iterator[list[int]]:
    """Just before a session flushes a new contact with `key`, commit one with the same key
    from another connection (once); yields the ids so committed."""
    committed: list[int] = []
    started: list[bool] = []

    def before_flush(session: Session, _context: object, _instances: object) -> None:
        if started or not any(isinstance(o, LiaisonContact) and o.key == key for o in session.new):
            return
        started.append(True)  # the other writer's own flush comes through here too
        with app.db.unit_of_work() as other:
            row = LiaisonContact(
                key=key, name="Other desk", organisation={"en": "Other"}, updated_by="test"
            )
            other.add(row)
            other.flush()
            assert row.id is not None
            committed.append(row.id)

    event.listen(Session, "before_flush", before_flush)
    try:
        yield committed
    finally:
        event.remove(Session, "before_flush", before_flush)


def test_a_key_taken_between_check_and_insert_is_409_not_500(app_server):
    operator = app_server.auth("operator")  # only operators and admins add contacts (#13)
    key = f"race_{uuid.uuid4().hex[:8]}"
    body = {"key": key, "name": "Duty desk", "organisation": {"en": "SMG"}, "phone": "+85366771234"}
    with another_request_commits_first(app_server, key) as committed:
        r = app_server.client.post("/api/v1/liaison/contacts", headers=operator, json=body)
    assert committed, "the concurrent writer never ran"
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "conflict"
    assert "+85366771234" not in r.text and "try again" in error["message"]
    with app_server.db.session() as session:
        rows = session.execute(select(LiaisonContact.id).where(LiaisonContact.key == key)).all()
    assert [r[0] for r in rows] == committed  # the other request's contact, nothing of ours
    # and the service is fine afterwards: the same request again is the ordinary 409
    again = app_server.client.post("/api/v1/liaison/contacts", headers=operator, json=body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "contact_exists"
