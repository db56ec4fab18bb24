"""The storm: the system as separate processes on one PostgreSQL and Redis, and faults
injected while a broadcast is being sent. Shared by tests/emergency/test_storm_*.py and
benchmarks/bench_faults.py (which runs the long fault run), so there is one fault run.

- Helpers: service environment, users and subscribers written straight to the database,
  the scheduler's leader and the live workers read from Redis, ``LiveCollector`` (a
  ``/ws/live`` client reading in a thread), ``audit_verify`` (`typhoon audit verify`).
- ``run_faults(database_url, plan, workdir)``: a broadcast to ``plan.recipients`` made and
  approved through the API, sent by workers of which one is killed (SIGKILL) and restarted
  ``plan.kills`` times, while the Twilio-compatible server answers 429 for
  ``plan.throttle_seconds`` and 500 at random, Redis (a private server) restarts empty and
  PostgreSQL (behind an outage proxy) drops every connection for a while. Returns a
  ``FaultReport``: lost, duplicates, the bound on duplicates (messages in flight at the
  kills), durations, and whether the audit chain still verifies.

Everything is loopback; every wait is bounded; every process started is stopped.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.live import LiveClient

ROOT = Path(__file__).resolve().parents[2]
FROM = "+15005550006"
ZONE = "xiaohengqin"
SIGNAL_LEVELS = ("1", "3")  # Macau signals below 8: rules act, but never broadcast


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1):
    """Poll until ``predicate()`` is truthy and return it; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def redis_prefix() -> str:
    """This run's TYPHOON_REDIS_PREFIX (each test has its own; processes inherit it)."""
    return os.environ.get("TYPHOON_REDIS_PREFIX") or "typhoon"


def service_env(database_url: str, redis_url: str, twilio, **extra: Any) -> dict[str, str]:
    env = {
        "TYPHOON_DATABASE_URL": database_url,
        "TYPHOON_REDIS_URL": redis_url,
        "TYPHOON_REDIS_PREFIX": redis_prefix(),
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_FROM_NUMBER": FROM,
        "TWILIO_API_BASE_URL": twilio.base_url,
        "TYPHOON_PUBLIC_URL": "http://127.0.0.1:9",  # callbacks are off in the fake
        "TYPHOON_LOG_LEVEL": "INFO",
        "TYPHOON_WS_PING_SECONDS": "5",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def make_users(database_url: str, *roles: str) -> dict[str, str]:
    """One user per role; role → token."""
    from emergency.auth import service as auth_service
    from emergency.db import Database

    db = Database(database_url)
    tokens = {}
    try:
        with db.unit_of_work() as session:
            for role in roles:
                _, tokens[role] = auth_service.create_user(
                    session, name=f"storm-{role}", role=role, actor="storm"
                )
    finally:
        db.dispose()
    return tokens


def seed_subscribers(database_url: str, count: int) -> list[str]:
    """``count`` subscribers inside the ZONE (SMS only); their phone numbers."""
    from emergency.db import Database
    from geo.zones import load_zones
    from tests.emergency.broadcasts.factories import seed

    db = Database(database_url)
    try:
        return seed(db, load_zones(ROOT / "config" / "zones"), count)
    finally:
        db.dispose()


def _redis(redis_url: str):
    import redis

    return redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)


def leader(redis_url: str) -> str | None:
    """The node id holding the scheduler's leader lock (``host:pid:random``), or None."""
    from emergency.scheduler import LEADER_KEY

    client = _redis(redis_url)
    try:
        value = client.get(f"{redis_prefix()}:{LEADER_KEY}")
    except Exception:  # Redis restarting
        return None
    finally:
        client.close()
    return value.decode() if value else None


def leader_pid(redis_url: str) -> int | None:
    node = leader(redis_url)
    return int(node.split(":")[1]) if node else None


def live_workers(redis_url: str) -> list[str]:
    from emergency.dispatch.service import WORKERS_KEY

    client = _redis(redis_url)
    try:
        key = f"{redis_prefix()}:dispatch:{WORKERS_KEY}"
        return [m.decode() for m in client.zrangebyscore(key, time.time(), "+inf")]
    except Exception:
        return []
    finally:
        client.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_signal(api_url: str, token: str, level: str | None, timeout: float = 30.0) -> dict:
    r = httpx.post(
        f"{api_url}/api/v1/signals",
        headers=bearer(token),
        json={"source": "SMG", "kind": "tropical_cyclone", "level": level},
        timeout=timeout,
    )
    r.raise_for_status()
    return r.json()


def create_broadcast(api_url: str, tokens: dict[str, str]) -> dict:
    """A broadcast to everyone in the ZONE through the API, approved when it must be."""
    from tests.emergency.broadcasts.factories import TEXTS

    r = httpx.post(
        f"{api_url}/api/v1/broadcasts",
        headers=bearer(tokens["operator"]),
        json={"messages": TEXTS, "zones": [ZONE], "channels": ["sms"]},
        timeout=120,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    if created["status"] == "awaiting_approval":
        r = httpx.post(
            f"{api_url}/api/v1/broadcasts/{created['id']}/approve",
            headers=bearer(tokens["approver"]),
            timeout=120,
        )
        assert r.status_code == 200, r.text
        created = r.json()
    return created


def broadcast_state(db, broadcast_id: int) -> tuple[str, dict[str, int]]:
    """(the broadcast's status, its messages counted by status), read from the database."""
    from sqlalchemy import select

    from alerts.dispatch.store import B, count_by_status

    with db.session() as session:
        status = session.execute(select(B.c.status).where(B.c.id == broadcast_id)).scalar_one()
        return str(status), count_by_status(session, broadcast_id)


def all_completed(db) -> set[int]:
    """The ids of every broadcast once all are completed; an empty set until then."""
    from sqlalchemy import select

    from alerts.dispatch.store import B

    with db.session() as session:
        rows = session.execute(select(B.c.id, B.c.status)).all()
    return {i for i, _ in rows} if rows and all(s == "completed" for _, s in rows) else set()


def liaison_sms_expected(db) -> dict[str, int]:
    """Phone → how many liaison-notice SMS the outbox holds for it (one per notice)."""
    from sqlalchemy import func, select

    from alerts.dispatch.store import B, M

    with db.session() as session:
        rows = session.execute(
            select(M.c.address, func.count())
            .join(B, B.c.id == M.c.broadcast_id)
            .where(B.c.origin == "liaison")
            .group_by(M.c.address)
        ).all()
    return {address: int(n) for address, n in rows}


def audit_verify(database_url: str) -> subprocess.CompletedProcess:
    """`typhoon audit verify` against the database, as an operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", "emergency", "audit", "verify"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TYPHOON_DATABASE_URL": database_url, "TYPHOON_LOG_FORMAT": "text"},
        cwd=ROOT,
    )


class LiveCollector:
    """A ``/ws/live`` client that reads in a thread: ``snapshot``, then ``events`` (pings
    left out) until ``close()``; a dropped connection is recorded in ``error``."""

    def __init__(self, ws_url: str, token: str, name: str) -> None:
        self.name = name
        self.client = LiveClient(ws_url, token)
        self.snapshot = self.client.next(timeout=30)
        assert self.snapshot["type"] == "snapshot", self.snapshot
        self.events: list[dict] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"live-{name}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        while not self._stop.is_set():
            try:
                message = self.client.next(timeout=1.0)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                if not self._stop.is_set():
                    self.error = f"closed: {exc}"
                return
            if message.get("type") not in ("ping", "pong"):
                self.events.append(message)

    def last_seq(self) -> int:
        return self.events[-1]["seq"] if self.events else self.snapshot["seq"]

    def problems(self) -> list[str]:
        """Every seq once and in order, from the snapshot on: what is wrong, if anything."""
        found, expected = [], self.snapshot["seq"] + 1
        for event in self.events:
            if event.get("seq") != expected:
                found.append(f"{self.name}: seq {event.get('seq')} where {expected} was due")
                expected = (event.get("seq") or expected) + 1
            else:
                expected += 1
        if self.error:
            found.append(f"{self.name}: {self.error}")
        return found

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.client.close()


# ---------------------------------------------------------------------------------------
# The fault run


@dataclass
class FaultPlan:
    recipients: int = 50_000
    kills: int = 10  # SIGKILL of a worker (restarted at once), spread over the broadcast
    throttle_seconds: float = 30.0  # the provider answers 429 to everything this long
    error_rate: float = 0.02  # … and 500 to this share of the requests, throughout
    redis_restart: bool = True  # the private Redis killed, back empty after redis_down
    redis_down: float = 2.0
    pg_outage: float = 3.0  # PostgreSQL connections dropped and refused this long (0: none)
    workers: int = 2
    sms_rate: int = 500  # segments/s across the workers (paces the broadcast over the faults)
    signal_every: float = 3.0  # a signal change through the API this often (audit, events)
    timeout: float = 900.0  # the whole run, from the broadcast's creation


@dataclass
class Fault:
    at: float  # share of the recipients reached at the provider when it fires
    kind: str  # kill | throttle | redis | postgres
    fired_after: float | None = None  # seconds from the broadcast's start
    in_flight: int = 0  # kill: the dead worker's claims left in `sending`


@dataclass
class FaultReport:
    plan: FaultPlan
    recipients: int = 0
    reached: int = 0  # distinct recipients the provider accepted a message for
    lost: int = 0  # recipients never reached (goal 0)
    duplicates: int = 0  # messages beyond the first per recipient (goal 0)
    in_flight_at_kills: int = 0  # the bound on duplicates
    failed: int = 0  # rows recorded failed (a permanent error; none expected)
    signals: int = 0  # signal changes the API took during the run (audited, with events)
    signals_refused: int = 0  # … and refused or timed out (the PostgreSQL outage)
    liaison_sms: int = 0  # SMS the liaison notices of those changes sent (one per contact)
    liaison_lost: int = 0
    liaison_duplicates: int = 0
    live_events: int = 0  # events a /ws/live screen received through it all
    live_problems: list[str] = field(default_factory=list)  # gaps, repeats, disorder
    final: dict[str, int] = field(default_factory=dict)
    broadcast_status: str = ""
    seconds: float = 0.0  # broadcast created → completed
    setup_seconds: float = 0.0
    provider: dict[str, Any] = field(default_factory=dict)  # the fake's counters
    faults: list[Fault] = field(default_factory=list)
    audit_ok: bool = False
    audit_output: str = ""
    finished: bool = False
    note: str = ""

    def summary(self) -> str:
        fired = sum(1 for f in self.faults if f.fired_after is not None)
        return (
            f"{self.recipients} recipients, {fired}/{len(self.faults)} faults "
            f"({self.plan.kills} kills, {self.plan.throttle_seconds:g} s of 429, "
            f"{self.provider.get('server_errors', 0)} random 500s, "
            f"Redis restart {self.plan.redis_restart}, PostgreSQL outage "
            f"{self.plan.pg_outage:g} s): lost {self.lost}, duplicates {self.duplicates} "
            f"(in flight at the kills: {self.in_flight_at_kills}), failed {self.failed}, "
            f"broadcast {self.broadcast_status} in {self.seconds:.1f} s "
            f"(set-up {self.setup_seconds:.1f} s), provider 429s "
            f"{self.provider.get('throttled', 0)}, signal changes {self.signals} "
            f"(+{self.signals_refused} refused; liaison SMS {self.liaison_sms}, lost "
            f"{self.liaison_lost}, duplicates {self.liaison_duplicates}), live screen {self.live_events} events "
            f"{'in order' if not self.live_problems else 'with PROBLEMS'}; "
            + (self.audit_output.splitlines() or ["audit: no output"])[0]
        )


def fault_schedule(plan: FaultPlan) -> list[Fault]:
    """When each fault fires, as a share of the recipients reached: kills spread evenly over
    5–90 %, the throttle, the Redis restart and the PostgreSQL outage between them."""
    faults = [Fault(0.05 + 0.85 * i / max(1, plan.kills - 1), "kill") for i in range(plan.kills)]
    if plan.throttle_seconds:
        faults.append(Fault(0.15, "throttle"))
    if plan.redis_restart:
        faults.append(Fault(0.40, "redis"))
    if plan.pg_outage:
        faults.append(Fault(0.65, "postgres"))
    return sorted(faults, key=lambda f: f.at)


def _last_seq(db) -> int:
    from sqlalchemy import func, select

    from emergency.events.models import Event

    with db.session() as session:
        return session.execute(select(func.max(Event.seq))).scalar_one() or 0


def _claims_of(db, pid: int) -> int:
    """Rows a (dead) worker process left in `sending`: its messages in flight."""
    from sqlalchemy import func, select

    from alerts.dispatch.store import M

    with db.session() as session:
        return session.execute(
            select(func.count()).where(M.c.status == "sending", M.c.claimed_by.like(f"%:{pid}:%"))
        ).scalar_one()


def run_faults(
    database_url: str,
    plan: FaultPlan,
    workdir: Path,
    log: Callable[[str], None] = lambda line: None,
) -> FaultReport:
    """The fault run on a migrated, empty PostgreSQL database (see the module docstring)."""
    from sqlalchemy.engine import make_url

    from alerts.testing import run_twilio_server
    from emergency.db import Database
    from tests.support.outages import OutageProxy, private_redis
    from tests.support.processes import start, start_api

    report = FaultReport(plan=plan, faults=fault_schedule(plan))
    workdir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    url = make_url(database_url)
    db = Database(database_url)  # the harness's own view, never through the proxy
    with ExitStack() as stack:
        stack.callback(db.dispose)
        twilio = stack.enter_context(run_twilio_server(record="full"))
        redis_url, restart_redis = stack.enter_context(private_redis())
        proxy = OutageProxy(url.host or "127.0.0.1", url.port or 5432)
        stack.callback(proxy.close)
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        env = service_env(
            proxied,
            redis_url,
            twilio,
            TYPHOON_SMS_RATE=plan.sms_rate,
            TYPHOON_CLAIM_TIMEOUT=20,  # reclaims a dead worker's messages after 15-20 s
            TYPHOON_QUEUE_MIN_IDLE=5,
        )
        tokens = make_users(database_url, "operator", "approver", "viewer")
        phones = seed_subscribers(database_url, plan.recipients)
        log(f"seeded {len(phones)} subscribers in {time.monotonic() - began:.1f} s")

        api = stack.enter_context(start_api(env, workdir / "api.log"))
        screen = LiveCollector(api.ws_url, tokens["viewer"], "screen")
        stack.callback(screen.close)
        stack.enter_context(start("scheduler", env, workdir / "scheduler.log"))
        workers = [
            stack.enter_context(start("worker", env, workdir / f"worker-{i}.log"))
            for i in range(plan.workers)
        ]
        wait_for(lambda: len(live_workers(redis_url)) >= plan.workers, 60, "the workers")
        wait_for(lambda: leader(redis_url), 60, "an active scheduler")
        report.setup_seconds = time.monotonic() - began

        twilio.control(error_rate=plan.error_rate)
        created = create_broadcast(api.url, tokens)
        started = time.monotonic()
        broadcast_id, report.recipients = created["id"], created["recipients"]
        log(f"broadcast {broadcast_id} to {report.recipients}: {created['status']}")
        pending = list(report.faults)
        kills = 0
        levels = itertools.cycle(SIGNAL_LEVELS)
        next_signal = time.monotonic()
        status, counts = "", {}
        while True:
            reached = len(twilio.per_recipient) / max(1, report.recipients)
            while pending and reached >= pending[0].at:
                fault = pending.pop(0)
                fault.fired_after = time.monotonic() - started
                if fault.kind == "kill":
                    slot = kills % len(workers)
                    victim = workers[slot]
                    victim.kill()  # SIGKILL: no chance to finish anything
                    fault.in_flight = _claims_of(db, victim.pid)
                    report.in_flight_at_kills += fault.in_flight
                    kills += 1
                    workers[slot] = stack.enter_context(
                        start("worker", env, workdir / f"worker-{slot}-{kills}.log")
                    )
                elif fault.kind == "throttle":
                    twilio.control(fail_429_for=plan.throttle_seconds)
                elif fault.kind == "redis":
                    restart_redis(plan.redis_down)
                elif fault.kind == "postgres":
                    proxy.outage(plan.pg_outage)
                log(
                    f"{fault.fired_after:6.1f} s  {fault.kind:<8} at {reached:.0%} reached"
                    + (f", {fault.in_flight} in flight" if fault.kind == "kill" else "")
                )
            if plan.signal_every and time.monotonic() >= next_signal:
                # The command post keeps working through the storm: audit rows, events and
                # liaison SMS written while the faults land (`audit verify` checks them).
                next_signal = time.monotonic() + plan.signal_every
                try:
                    post_signal(api.url, tokens["operator"], next(levels), timeout=10)
                    report.signals += 1
                except httpx.HTTPError:
                    report.signals_refused += 1
            status, counts = broadcast_state(db, broadcast_id)
            if not pending and status == "completed":
                report.finished = True
                break
            if time.monotonic() - started > plan.timeout:
                report.note = f"not finished after {plan.timeout:g} s: {status} {counts}"
                break
            time.sleep(0.25)
        report.seconds = time.monotonic() - started
        if report.finished:  # the liaison notices' SMS too (small broadcasts of their own)
            try:
                wait_for(lambda: all_completed(db), 120, "every broadcast", interval=0.5)
            except TimeoutError as exc:
                report.note = str(exc)
        last = _last_seq(db)
        try:  # the screen catches up with everything committed (bounded)
            wait_for(lambda: screen.last_seq() >= last or screen.error, 60, "the live screen")
        except TimeoutError as exc:
            report.live_problems.append(f"screen at seq {screen.last_seq()} of {last}: {exc}")
        report.live_events = len(screen.events)
        report.live_problems += screen.problems()
        report.broadcast_status, report.final = status, counts
        report.provider = twilio.stats()
        received = dict(twilio.per_recipient)
        liaison = liaison_sms_expected(db)
    # every process stopped, the fake, Redis and the proxy closed
    report.reached = sum(1 for p in phones if received.get(p))
    report.lost = len(phones) - report.reached
    # The broadcast's recipients only: the liaison contacts get one SMS per signal change.
    report.duplicates = sum(received[p] - 1 for p in phones if received.get(p, 0) > 1)
    report.failed = report.final.get("failed", 0)
    report.liaison_sms = sum(received.get(p, 0) for p in liaison)
    report.liaison_lost = sum(max(0, n - received.get(p, 0)) for p, n in liaison.items())
    report.liaison_duplicates = sum(max(0, received.get(p, 0) - n) for p, n in liaison.items())
    verified = audit_verify(database_url)
    report.audit_ok = verified.returncode == 0
    report.audit_output = (verified.stdout + verified.stderr).strip()
    log(report.summary())
    return report
