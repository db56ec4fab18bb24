"""The storm: the system as separate processes on one PostgreSQL and Redis, and faults
injected while a broadcast is being sent. Shared by tests/emergency/test_storm_*.py and
benchmarks/bench_faults.py (which runs the long fault run), so there is one fault run.

- Helpers: service environment, users and subscribers written straight to the database,
  the scheduler's leader and the live workers read from Redis, ``LiveCollector`` (a
  ``/ws/live`` client reading in a thread), ``audit_verify`` (`typhoon audit verify`),
  ``count_paths`` (every SMS row of the outbox against the provider's messages, per path:
  broadcast, liaison, escalation), ``duplicate_details`` (what each duplicate's row went
  through, and when the provider took each copy: the cause is read from it).
- ``run_faults(database_url, plan, workdir)``: a broadcast to ``plan.recipients`` made and
  approved through the API, sent by workers of which one is killed (SIGKILL) and restarted
  ``plan.kills`` times, while the Twilio-compatible server answers 429 for
  ``plan.throttle_seconds`` and 500 at random, Redis (a private server) restarts empty and
  PostgreSQL (behind an outage proxy) drops every connection for a while; meanwhile an
  operator changes a signal every few seconds (liaison notices by SMS) and critical hazards
  come in (alarms escalated by SMS to the duty leads). Returns a ``FaultReport``: lost and
  duplicates per path, the messages in flight at the kills, durations, and whether the audit
  chain still verifies.

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

from tests.support import processes
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
    """The dispatch workers alive now (this run's prefix)."""
    return processes.live_workers(redis_url, redis_prefix())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def report_critical_hazard(api_url: str, token: str, timeout: float = 30.0) -> dict:
    """A critical hazard reported to the desk: it raises an alarm (escalated by SMS to the duty
    leads when nobody acknowledges it in time)."""
    r = httpx.post(
        f"{api_url}/api/v1/hazards",
        headers=bearer(token),
        json={"kind": "fallen_tree", "severity": "critical", "place": "storm"},
        timeout=timeout,
    )
    r.raise_for_status()
    return r.json()


def alarms_pending(db) -> int:
    """Open alarms not yet escalated (the escalation job takes them within 15 s)."""
    from sqlalchemy import func, select

    from emergency.alarms.models import Alarm, AlarmStatus

    with db.session() as session:
        return session.execute(
            select(func.count())
            .select_from(Alarm)
            .where(Alarm.status == AlarmStatus.open, Alarm.escalated_at.is_(None))
        ).scalar_one()


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


PATHS = ("broadcast", "liaison", "escalation")


def path_of(origin: str | None) -> str:
    """Which outbound path a broadcast is: a liaison notice's SMS, an alarm's escalation to
    the duty leads, or a broadcast (every other origin)."""
    return {"liaison": "liaison", "alarm": "escalation"}.get(origin or "", "broadcast")


@dataclass
class PathCount:
    """One path's SMS: outbox rows against what the provider accepted for them."""

    messages: int = 0  # outbox rows (one SMS each)
    accepted: int = 0  # messages the provider accepted for those rows, repeats included
    lost: int = 0  # rows the provider never got (goal 0)
    duplicates: int = 0  # messages beyond one per row (goal 0)

    def __str__(self) -> str:
        return f"{self.messages} SMS, lost {self.lost}, duplicates {self.duplicates}"


def count_paths(db, received) -> tuple[dict[str, PathCount], int]:
    """Every SMS row of the outbox matched with the provider's messages by number and text
    (a broadcast's row takes its text in the row's language, a direct row has its own: a
    liaison notice's with the contact's link, an alarm escalation's), per path. Returns the
    counts and how many provider messages match no row at all (goal 0)."""
    from collections import Counter

    from sqlalchemy import select

    from alerts.dispatch.store import B, M
    from alerts.dispatch.worker import text_for

    with db.session() as session:
        broadcasts = {
            bid: (path_of(origin), dict(messages or {}))
            for bid, origin, messages in session.execute(select(B.c.id, B.c.origin, B.c.messages))
        }
        rows = session.execute(
            select(M.c.broadcast_id, M.c.address, M.c.language, M.c.body).where(
                M.c.channel == "sms"
            )
        ).all()
    expected: Counter[tuple[str, str]] = Counter()
    path: dict[tuple[str, str], str] = {}
    for broadcast_id, address, language, body in rows:
        kind, texts = broadcasts[broadcast_id]
        key = (address, body or text_for(texts, language) or "")
        expected[key] += 1
        path[key] = kind
    got = Counter((m.to, m.body) for m in received)
    counts = {kind: PathCount() for kind in PATHS}
    for key, n in expected.items():
        count = counts[path[key]]
        count.messages += n
        count.accepted += got[key]
        count.lost += max(0, n - got[key])
        count.duplicates += max(0, got[key] - n)
    unmatched = sum(n for key, n in got.items() if key not in expected)
    return counts, unmatched


def duplicate_details(db, received, started_at: float) -> list[str]:
    """One line per SMS the provider took more often than the outbox holds it: its row (id,
    path, status, attempts, claim, last error, recorded SID) and when the provider took each
    copy, in seconds after ``started_at`` (a ``time.time()``), to set beside the faults' times
    and the process logs. Empty when nothing was sent twice."""
    from collections import Counter

    from sqlalchemy import select

    from alerts.dispatch.store import B, M
    from alerts.dispatch.worker import text_for

    got = Counter((m.to, m.body) for m in received)
    twice = {key for key, n in got.items() if n > 1}
    if not twice:
        return []
    with db.session() as session:
        broadcasts = {
            bid: (path_of(origin), dict(messages or {}))
            for bid, origin, messages in session.execute(select(B.c.id, B.c.origin, B.c.messages))
        }
        rows = session.execute(
            select(
                M.c.id,
                M.c.broadcast_id,
                M.c.address,
                M.c.language,
                M.c.body,
                M.c.status,
                M.c.attempts,
                M.c.claimed_by,
                M.c.error_code,
                M.c.provider_id,
            ).where(M.c.channel == "sms", M.c.address.in_(sorted({to for to, _ in twice})))
        ).all()
    by_key: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        kind, texts = broadcasts[row.broadcast_id]
        by_key.setdefault(
            (row.address, row.body or text_for(texts, row.language) or ""), []
        ).append((kind, row))
    lines = []
    for key in sorted(twice):
        held = by_key.get(key, [])
        if got[key] <= len(held):
            continue  # as many rows as copies (e.g. the same text in two broadcasts)
        copies = ", ".join(
            f"{m.sid[:14]}… at {m.at - started_at:.1f} s"
            for m in sorted(received, key=lambda m: m.at)
            if (m.to, m.body) == key
        )
        for kind, row in held or [("unmatched", None)]:
            what = (
                f"row {row.id} of broadcast {row.broadcast_id} ({row.status}, "
                f"{row.attempts} attempts, claimed by {row.claimed_by}, last error "
                f"{row.error_code}, recorded {str(row.provider_id)[:14]}…)"
                if row is not None
                else "no outbox row"
            )
            lines.append(f"{kind}: {got[key]} copies of {what}: {copies}")
    return lines


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
    # A critical hazard reported this often: its alarm goes unacknowledged and is escalated by
    # SMS to the duty leads (at the alarm job's next run, every 15 s), through the faults.
    alarm_every: float = 6.0
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
    lost: int = 0  # SMS never sent, every path (goal 0)
    duplicates: int = 0  # SMS sent more than once, every path, and any matching no row (goal 0)
    in_flight_at_kills: int = 0  # claims the killed workers left in `sending`
    failed: int = 0  # rows recorded failed (a permanent error; none expected)
    signals: int = 0  # signal changes the API took during the run (audited, with events)
    signals_refused: int = 0  # … and refused or timed out (the PostgreSQL outage)
    alarms: int = 0  # critical hazards reported during the run (each escalated by SMS)
    alarms_refused: int = 0
    # SMS per path (broadcast, liaison notices, alarm escalations): outbox rows against what
    # the provider accepted; `lost` and `duplicates` above are their totals.
    paths: dict[str, PathCount] = field(default_factory=dict)
    unmatched: int = 0  # provider messages that match no outbox row (goal 0)
    # Each SMS sent twice: its row's state and when each copy was taken (duplicate_details).
    duplicate_lines: list[str] = field(default_factory=list)
    started_at: float = 0.0  # time.time() once the broadcast was created (faults' origin)
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
            f"(+{self.signals_refused} refused), alarms {self.alarms} "
            f"(+{self.alarms_refused} refused); SMS per path: "
            + "; ".join(f"{kind} {count}" for kind, count in self.paths.items())
            + (f"; {self.unmatched} matching no outbox row" if self.unmatched else "")
            + f"; live screen {self.live_events} events "
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
            # An alarm nobody acknowledged is escalated at the alarm job's next run.
            TYPHOON_ALARM_ESCALATE_MINUTES=0.01,
        )
        tokens = make_users(database_url, "operator", "approver", "viewer")
        phones = seed_subscribers(database_url, plan.recipients)
        log(f"seeded {len(phones)} subscribers in {time.monotonic() - began:.1f} s")

        api = stack.enter_context(processes.start_api(env, workdir / "api.log"))
        screen = LiveCollector(api.ws_url, tokens["viewer"], "screen")
        stack.callback(screen.close)
        stack.enter_context(processes.start("scheduler", env, workdir / "scheduler.log"))
        workers = [
            stack.enter_context(processes.start("worker", env, workdir / f"worker-{i}.log"))
            for i in range(plan.workers)
        ]
        wait_for(lambda: len(live_workers(redis_url)) >= plan.workers, 60, "the workers")
        wait_for(lambda: leader(redis_url), 60, "an active scheduler")
        report.setup_seconds = time.monotonic() - began

        twilio.control(error_rate=plan.error_rate)
        created = create_broadcast(api.url, tokens)
        started, report.started_at = time.monotonic(), time.time()  # the faults' origin
        broadcast_id, report.recipients = created["id"], created["recipients"]
        log(f"broadcast {broadcast_id} to {report.recipients}: {created['status']}")
        pending = list(report.faults)
        kills = 0
        levels = itertools.cycle(SIGNAL_LEVELS)
        next_signal = next_alarm = time.monotonic()
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
                        processes.start("worker", env, workdir / f"worker-{slot}-{kills}.log")
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
            if plan.alarm_every and time.monotonic() >= next_alarm:
                # … and critical hazards come in: alarms nobody acknowledges, escalated by SMS.
                next_alarm = time.monotonic() + plan.alarm_every
                try:
                    report_critical_hazard(api.url, tokens["operator"], timeout=10)
                    report.alarms += 1
                except httpx.HTTPError:
                    report.alarms_refused += 1
            status, counts = broadcast_state(db, broadcast_id)
            if not pending and status == "completed":
                report.finished = True
                break
            if time.monotonic() - started > plan.timeout:
                report.note = f"not finished after {plan.timeout:g} s: {status} {counts}"
                break
            time.sleep(0.25)
        report.seconds = time.monotonic() - started
        if report.finished:  # the liaison notices' and escalations' SMS too (small broadcasts)
            try:
                wait_for(lambda: alarms_pending(db) == 0, 60, "every alarm escalated")
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
    # Every process stopped, the fake, Redis and the proxy closed: nothing can be sent any more.
    received = list(twilio.received)
    report.reached = len({m.to for m in received} & set(phones))
    report.paths, report.unmatched = count_paths(db, received)
    report.duplicate_lines = duplicate_details(db, received, report.started_at)
    db.dispose()
    report.lost = sum(count.lost for count in report.paths.values())
    report.duplicates = sum(c.duplicates for c in report.paths.values()) + report.unmatched
    report.failed = report.final.get("failed", 0)
    verified = audit_verify(database_url)
    report.audit_ok = verified.returncode == 0
    report.audit_output = (verified.stdout + verified.stderr).strip()
    log(report.summary())
    for line in report.duplicate_lines:  # beside the faults' times logged above
        log(f"sent twice: {line}")
    return report
