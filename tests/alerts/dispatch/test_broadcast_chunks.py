"""A broadcast bigger than one chunk: the start writes and queues only the first chunk, the
rest is written chunk by chunk (push subscriptions by id, then subscribers by id), every
recipient gets exactly one outbox row and one SMS, and the broadcast is completed only once
its whole audience is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.broadcasts import service as core
from alerts.dispatch.progress import ProgressTracker, tick
from alerts.dispatch.queue import InProcessQueue
from alerts.journal import RecordingJournal
from alerts.models import Broadcast, Message, PushSubscription
from alerts.subscribers import service as subscriber_service
from geo.zones import load_zones
from tests.alerts.dispatch.conftest import finished, run_worker, twilio_provider
from tests.emergency.broadcasts.factories import TEXTS, XIAOHENGQIN, seed

ZONES_DIR = Path(__file__).resolve().parents[3] / "config" / "zones"


@pytest.fixture(scope="module")
def zones():
    return load_zones(ZONES_DIR)


def create(db, zones, queue, **kw) -> core.Created:
    with db.unit_of_work() as session:
        return core.create_broadcast(
            session,
            zones=zones,
            queue=queue,
            messages=TEXTS,
            zone_ids=["xiaohengqin"],
            channels=kw.pop("channels", ["sms"]),
            created_by="duty-officer",
            approval_threshold=10**6,
            first_chunk=core.FIRST_CHUNK,
            **kw,
        )


def broadcast(db, broadcast_id) -> Broadcast:
    with db.session() as session:
        return session.get(Broadcast, broadcast_id)


def rows(db, broadcast_id) -> list[Message]:
    with db.session() as session:
        return list(
            session.execute(
                select(Message).where(Message.broadcast_id == broadcast_id).order_by(Message.id)
            ).scalars()
        )


def progress(db, tracker, journal) -> None:
    with db.unit_of_work() as session:
        tick(session, tracker=tracker, journal=journal)


def test_bigger_than_a_chunk_every_recipient_written_once_and_sent_once(
    db, twilio, zones, monkeypatch
):
    monkeypatch.setattr(core, "FIRST_CHUNK", 40)
    monkeypatch.setattr(core, "CHUNK", 50)
    phones = seed(db, zones, 230, at=XIAOHENGQIN)
    queue = InProcessQueue()
    created = create(db, zones, queue)
    bid = created.broadcast.id

    # The start: all of the audience counted, only the first chunk written and queued.
    b = broadcast(db, bid)
    assert (b.status, b.recipients, b.audience_complete) == ("sending", 230, False)
    assert sum(b.by_language.values()) == 230
    first = rows(db, bid)
    assert len(first) == 40 and len(queue) == 40

    # Those are sent; with nothing left queued the broadcast is still not completed.
    run_worker(db, queue, {"sms": twilio_provider(twilio)}, until=finished(db, bid))
    tracker, journal = ProgressTracker(), RecordingJournal()
    progress(db, tracker, journal)
    assert broadcast(db, bid).status == "sending"
    assert "broadcast.completed" not in [t for t, _ in journal.events]

    # The rest, chunk by chunk, each queued after its own commit.
    written = core.finish_audience(
        unit_of_work=db.unit_of_work, broadcast_id=bid, zones=zones, queue=queue
    )
    assert written == 190 and len(queue) == 190
    assert (
        core.finish_audience(
            unit_of_work=db.unit_of_work, broadcast_id=bid, zones=zones, queue=queue
        )
        == 0
    )  # done: a second writer finds nothing to do
    run_worker(db, queue, {"sms": twilio_provider(twilio)}, until=finished(db, bid))

    outbox = rows(db, bid)
    assert sorted(m.address for m in outbox) == sorted(phones)
    assert {m.status for m in outbox} == {"sent"}
    assert twilio.per_recipient == dict.fromkeys(phones, 1)
    progress(db, tracker, journal)
    b = broadcast(db, bid)
    assert (b.status, b.recipients, b.audience_complete, b.audience_cursor) == (
        "completed",
        230,
        True,
        None,
    )
    assert [t for t, _ in journal.events].count("broadcast.completed") == 1


def test_push_then_sms_by_id_and_an_opt_out_after_the_start_is_respected(db, zones, monkeypatch):
    monkeypatch.setattr(core, "FIRST_CHUNK", 10)
    phones = seed(db, zones, 60, at=XIAOHENGQIN, channels="sms,push")
    with db.unit_of_work() as session:
        for i in range(25):  # island-wide browsers: in every broadcast
            session.add(
                PushSubscription(
                    endpoint=f"https://push.example/send/{i:04d}",
                    p256dh="BPk" + "A" * 84,
                    auth="a" * 22,
                    language="pt",
                )
            )
    queue = InProcessQueue()
    created = create(db, zones, queue, channels=["sms", "push"])
    bid = created.broadcast.id
    b = broadcast(db, bid)
    assert b.recipients == 85 and b.audience_cursor.startswith("push:")
    assert [m.channel for m in rows(db, bid)] == ["push"] * 10

    # Someone not written yet opts out between chunks: the later chunks leave them out.
    with db.unit_of_work() as session:
        subscriber_service.set_opt_out(session, phone=phones[-1], opted_out=True)
    chunks = []
    while True:
        with db.unit_of_work() as session:
            chunk = core.write_next_chunk(
                session, broadcast_id=bid, zones=zones, queue=queue, size=7
            )
        if chunk is None:
            break
        chunks.append(chunk)
    assert chunks[-1].complete and not any(c.complete for c in chunks[:-1])
    outbox = rows(db, bid)
    assert len(outbox) == len({m.dedupe_key for m in outbox}) == 84
    assert sorted(m.address for m in outbox if m.channel == "sms") == sorted(phones[:-1])
    assert len({m.push_subscription_id for m in outbox if m.channel == "push"}) == 25
    # each chunk's ids queued once, after its commit; push first, both by id
    assert sorted(queue.take(1000, 0)) == [m.id for m in outbox]
    pushes = [m.push_subscription_id for m in outbox if m.channel == "push"]
    texts = [m.subscriber_id for m in outbox if m.channel == "sms"]
    assert pushes == sorted(pushes) and texts == sorted(texts)
    assert max(m.id for m in outbox if m.channel == "push") < min(
        m.id for m in outbox if m.channel == "sms"
    )
    b = broadcast(db, bid)
    assert (b.recipients, sum(b.by_language.values()), b.audience_complete) == (84, 84, True)


def test_a_row_already_there_does_not_fail_the_chunk_for_ever(db, zones, monkeypatch):
    """A phone number that moved to a later subscriber after its row was written: the chunk
    skips it (one message per number and broadcast) instead of failing again and again."""
    monkeypatch.setattr(core, "FIRST_CHUNK", 5)
    phones = seed(db, zones, 12, at=XIAOHENGQIN)
    queue = InProcessQueue()
    bid = create(db, zones, queue).broadcast.id
    [first] = [m for m in rows(db, bid) if m.address == phones[0]]
    with db.unit_of_work() as session:  # the number moves to a subscriber not written yet
        from alerts.models import Subscriber

        old = session.get(Subscriber, first.subscriber_id)
        later = session.execute(
            select(Subscriber).where(Subscriber.phone == phones[-1])
        ).scalar_one()
        old.phone, later.phone = "+8613800000000", None
        session.flush()
        later.phone = phones[0]
    written = core.finish_audience(
        unit_of_work=db.unit_of_work, broadcast_id=bid, zones=zones, queue=queue
    )
    outbox = rows(db, bid)
    assert written == 6 and len(outbox) == 11 and len({m.address for m in outbox}) == 11
    assert broadcast(db, bid).audience_complete
