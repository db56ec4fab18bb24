"""Many processes on one PostgreSQL and Redis, as in production: 2 API processes, 2 dispatch
workers and 2 schedulers (one active through the Redis leader lock). Websocket clients on
either API see every event once and in seq order while signals are posted to both APIs and
a broadcast goes out through the API; killing the active scheduler (SIGKILL) mid-broadcast
hands over to the other, which completes the broadcast (only the active scheduler's
progress job can); the local Twilio server gets exactly one message per recipient."""

from __future__ import annotations

import itertools
import time
from contextlib import ExitStack

import pytest

from alerts.testing import run_twilio_server
from tests.support.processes import start, start_api
from tests.support.storm import (
    SIGNAL_LEVELS,
    LiveCollector,
    all_completed,
    broadcast_state,
    count_paths,
    create_broadcast,
    leader,
    leader_pid,
    live_workers,
    make_users,
    post_signal,
    seed_subscribers,
    service_env,
    wait_for,
)

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

RECIPIENTS = 300  # below the approval threshold: sent at once
RATE = 40  # SMS/s: ≈ 7.5 s of sending, so the scheduler dies in the middle of it
LOCK_TTL = 3  # s: the killed scheduler's lock expires this long after (10 s deployed)


@pytest.mark.timeout(480)  # ≈ 40 s here; generous for a loaded CI machine
def test_two_apis_two_workers_two_schedulers_and_a_failover(database_url, redis_url, tmp_path):
    if database_url.startswith("sqlite"):
        pytest.skip("several processes share PostgreSQL in production")
    from emergency.db import Database

    tokens = make_users(database_url, "operator", "approver", "viewer")
    phones = seed_subscribers(database_url, RECIPIENTS)
    levels = itertools.cycle(SIGNAL_LEVELS)
    with ExitStack() as stack:
        db = Database(database_url)
        stack.callback(db.dispose)
        twilio = stack.enter_context(run_twilio_server())
        env = service_env(
            database_url,
            redis_url,
            twilio,
            TYPHOON_SMS_RATE=RATE,
            TYPHOON_SCHEDULER_LOCK_TTL=LOCK_TTL,
        )
        apis = [stack.enter_context(start_api(env, tmp_path / f"api-{n}.log")) for n in "ab"]
        for n in (1, 2):
            stack.enter_context(start("worker", env, tmp_path / f"worker-{n}.log"))
        schedulers = {}
        for n in (1, 2):
            proc = stack.enter_context(start("scheduler", env, tmp_path / f"scheduler-{n}.log"))
            schedulers[proc.pid] = proc
        wait_for(lambda: len(live_workers(redis_url)) == 2, 60, "two live workers")
        first = wait_for(lambda: leader(redis_url), 60, "an active scheduler")
        active = int(first.split(":")[1])
        assert active in schedulers
        standby = next(pid for pid in schedulers if pid != active)

        clients = []
        for n, api in enumerate(apis * 2):  # two screens on each API
            client = LiveCollector(api.ws_url, tokens["viewer"], f"client-{n}-{api.port}")
            stack.callback(client.close)
            clients.append(client)

        def signal_on(index: int) -> None:
            post_signal(apis[index % 2].url, tokens["operator"], next(levels))

        for i in range(4):
            signal_on(i)
        broadcast = create_broadcast(apis[0].url, tokens)
        bid = broadcast["id"]
        assert broadcast["status"] == "sending" and broadcast["recipients"] == RECIPIENTS
        wait_for(lambda: len(twilio.per_recipient) >= RATE, 60, "the broadcast to be sent")
        status, _ = broadcast_state(db, bid)
        assert status == "sending" and len(twilio.per_recipient) < RECIPIENTS

        schedulers[active].kill()  # SIGKILL: the lock is not released, it must expire
        killed_at = time.monotonic()
        for i in range(4):  # the live stream goes on while no scheduler is active
            signal_on(i + 1)
        wait_for(lambda: leader_pid(redis_url) == standby, 60, "the standby to take over")
        handover = time.monotonic() - killed_at
        assert schedulers[standby].popen.poll() is None

        # Each signal change also texts the liaison contacts (a small broadcast of its
        # own): every broadcast must complete, each seen completed once by every screen.
        signal_on(0)
        wait_for(lambda: all_completed(db), 120, "every broadcast to complete", interval=0.5)
        ids = all_completed(db)

        def seen_all(client: LiveCollector) -> bool:
            done = {
                e["data"].get("id") for e in client.events if e["type"] == "broadcast.completed"
            }
            return ids <= done

        wait_for(lambda: all(seen_all(c) for c in clients), 60, "broadcast.completed events")
        last = max(c.last_seq() for c in clients)
        wait_for(lambda: all(c.last_seq() >= last for c in clients), 30, "the last event")
        final_status, counts = broadcast_state(db, bid)
        paths, unmatched = count_paths(db, list(twilio.received))
    print(
        f"\nscheduler hand-over after SIGKILL: {handover:.1f} s; events per client: "
        f"{[len(c.events) for c in clients]}; broadcasts {len(ids)}"
    )
    # Every event once, in order, on every screen of either API.
    assert [p for c in clients for p in c.problems()] == []
    start_seq = max(c.snapshot["seq"] for c in clients)
    seen = [
        [(e["seq"], e["type"]) for e in c.events if start_seq < e["seq"] <= last] for c in clients
    ]
    assert all(s == seen[0] for s in seen)
    completions = [e["data"]["id"] for e in clients[0].events if e["type"] == "broadcast.completed"]
    assert sorted(completions) == sorted(ids)  # each once
    assert sum(t == "signal.changed" for _, t in seen[0]) == 9
    # The broadcast: completed by the new leader, exactly once per recipient; the liaison
    # contacts one SMS per signal change each (each outbox row sent once, none missing).
    assert final_status == "completed" and counts == {"sent": RECIPIENTS}
    assert {p: twilio.per_recipient.get(p) for p in phones} == dict.fromkeys(phones, 1)
    assert paths["liaison"].messages > 0 and unmatched == 0
    assert all(c.lost == c.duplicates == 0 for c in paths.values()), paths
