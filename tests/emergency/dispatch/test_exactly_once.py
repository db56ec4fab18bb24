"""Exactly once after a kill (issue 19), on PostgreSQL with Redis, as the fault run found it.

A `typhoon worker` killed (SIGKILL) after Twilio accepted a liaison SMS and before it stored
the result leaves the row `sending`; the reconciler asks Twilio before sending it again. In
the fault run the liaison notices of the signal changes waited behind the 50,000-recipient
broadcast in the queue and reached each contact in bursts (25 within one second), so by the
time the reconciler asked, the SMS was no longer among the newest 20 messages to that number,
the only ones the look-up read: "not there", re-queued, and the contact got it twice.
Broadcast recipients get one message each, which is why only the liaison path showed it.

Here the kill is the state it leaves (the row claimed by a worker that is gone, Twilio holding
the message), then 25 more notices reach the contact through a live worker process, then the
reconciler runs as the scheduler runs it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from alerts.dispatch import store
from alerts.dispatch.store import M
from alerts.providers.base import OutgoingMessage
from alerts.providers.twilio import TwilioProvider
from alerts.sqltypes import utcnow
from alerts.testing import run_twilio_server
from tests.support import server
from tests.support.processes import start
from tests.support.storm import FROM, live_workers, service_env, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.heavy]  # a worker process

LATER = 25  # notices that reach the contact after the lost one, as in the run's burst
DEAD = "vm:999999:killed"  # the killed worker's id: no longer in the live-worker registry
SECRET_KEY = "exactly-once-test-key"  # one key for the API and the worker process


@pytest.fixture
def pg_url(database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("the worker processes share PostgreSQL in production")
    return database_url


def _signal(app, level: str) -> list[int]:
    r = app.client.post(
        "/api/v1/signals",
        headers=app.auth("operator"),
        json={"source": "SMG", "kind": "tropical_cyclone", "level": level},
    )
    assert r.status_code == 200, r.text
    return r.json()["notices"]


def _row(app, message_id: int):
    with app.db.session() as session:
        return session.execute(
            select(M.c.status, M.c.provider_id, M.c.claimed_by).where(M.c.id == message_id)
        ).one()


def _unfinished(app) -> int:
    with app.db.session() as session:
        return len(
            session.execute(select(M.c.id).where(M.c.status.in_(("queued", "sending")))).all()
        )


def test_a_killed_workers_liaison_sms_is_found_behind_a_burst_and_not_sent_again(
    pg_url, redis_url, settings_for, tmp_path
):
    with run_twilio_server() as twilio:
        settings = settings_for(
            pg_url,
            TYPHOON_REDIS_URL=redis_url,
            TWILIO_ACCOUNT_SID=twilio.account_sid,
            TWILIO_AUTH_TOKEN=twilio.auth_token,
            TWILIO_FROM_NUMBER=FROM,
            TWILIO_API_BASE_URL=twilio.base_url,
            TYPHOON_SECRET_KEY=SECRET_KEY,
        )
        # The API alone; the worker is a process of its own, the reconciler is called below.
        with server.run(settings, embedded_worker=False, embedded_scheduler=False) as app:
            [notice_id] = _signal(app, "1")
            r = app.client.get(f"/api/v1/liaison/notices/{notice_id}", headers=app.auth("liaison"))
            assert r.status_code == 200, r.text
            broadcast_id = r.json()["sms_broadcast_id"]
            with app.db.session() as session:
                lost_id, phone, body, queued_at = session.execute(
                    select(M.c.id, M.c.address, M.c.body, M.c.queued_at)
                    .where(M.c.broadcast_id == broadcast_id)
                    .order_by(M.c.id)
                    .limit(1)
                ).one()

            # The worker that is killed: it claims the SMS, Twilio accepts it, and the process
            # dies before the result is stored.
            with app.db.unit_of_work() as session:
                claimed = store.claim(session, [lost_id], worker_id=DEAD, now=utcnow())
            assert [c.id for c in claimed.claimed] == [lost_id]

            async def send_and_die() -> str | None:
                provider = TwilioProvider(
                    account_sid=twilio.account_sid,
                    auth_token=twilio.auth_token,
                    from_number=FROM,
                    api_base_url=twilio.base_url,
                )
                try:
                    answer = await provider.send(
                        OutgoingMessage(
                            message_id=lost_id,
                            channel="sms",
                            to=phone,
                            body=body,
                            first_attempt_at=queued_at,
                        )
                    )
                finally:
                    await provider.close()
                return answer.provider_id

            sid = asyncio.run(send_and_die())
            assert sid and [m.sid for m in twilio.received] == [sid]

            env = service_env(
                pg_url, redis_url, twilio, TYPHOON_SMS_RATE=1000, TYPHOON_SECRET_KEY=SECRET_KEY
            )
            with start("worker", env, tmp_path / "worker.log"):
                wait_for(lambda: live_workers(redis_url), 60, "the live worker")
                # The burst: more notices reach the same contact before the reconciler asks.
                for level in itertools.islice(itertools.cycle(("3", "1")), LATER):
                    _signal(app, level)
                wait_for(
                    lambda: (
                        twilio.per_recipient.get(phone, 0) >= LATER + 1 and _unfinished(app) == 1
                    ),
                    60,
                    "every other SMS sent",
                )
                assert _row(app, lost_id) == ("sending", None, DEAD)

                # The reconciler, as the active scheduler runs it, once the killed worker's
                # claim is older than the claim timeout.
                with app.db.unit_of_work() as session:
                    session.execute(
                        update(M)
                        .where(M.c.id == lost_id)
                        .values(claimed_at=utcnow() - timedelta(seconds=600))
                    )
                from emergency.dispatch.scheduled import reconcile_outbox

                reconcile_outbox(runtime=app.app.state.runtime)
                wait_for(lambda: _unfinished(app) == 0, 60, "the outbox to settle")

            per_message = Counter((m.to, m.body) for m in twilio.received)
            twice = [(to, n) for (to, _), n in per_message.items() if n > 1]
            assert twice == [], f"sent more than once: {twice}"
            assert per_message[(phone, body)] == 1
            assert _row(app, lost_id)[:2] == ("sent", sid)  # Twilio's SID, found by the look-up
