"""Every figure of the after-action report, read from the database in one place.

`build(session, …)` returns plain data (dicts, lists, numbers, ISO times); the templates
only format it and the tests compare it with what was replayed. A period is [start, end):
signal changes, broadcasts, trips, hazards found, movements, checks, calls and audit entries
count when they happened inside it. `exercise` picks the drills' records (True) or the real
ones (False): signals, broadcasts, liaison notices and calls, rule runs, every field-operation
record (trips, hazards, evacuation orders and movements, crews, residents and their checks),
and the audit entries of their changes (`_is_exercise_entry`). A real report never counts a
drill, and `--exercise` shows nothing real.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from alerts.models import Broadcast, Message, MessageStatus
from emergency.audit.models import AuditEntry
from emergency.auth.models import User
from emergency.catalogue.service import Catalogue
from emergency.clock import local_iso
from emergency.crews.models import Crew, CrewStatus
from emergency.db import stored_id, utcnow
from emergency.drills.models import DrillUser
from emergency.evacuation.models import EvacuationOrder, Movement
from emergency.field.models import Hazard, InspectionGroup, PatrolTrip
from emergency.liaison.models import HotlineCall, LiaisonNotice
from emergency.rules.models import OperatorPrompt, RuleActionRun
from emergency.signals.models import SignalChange
from emergency.vulnerable.models import CheckState, ResidentCheck, VulnerableResident

FAR_PAST = datetime(1970, 1, 1).astimezone()


class _Exercised(Protocol):
    exercise: bool


R = TypeVar("R", bound=_Exercised)


@dataclass(frozen=True)
class _Period:
    """What the report reads: the records of [start, end), real or the drills' (`exercise`)."""

    session: Session
    start: datetime
    end: datetime
    exercise: bool

    def holds(self, column: datetime | None) -> ColumnElement[bool]:
        return (col(column) >= self.start) & (col(column) < self.end)

    def rows(self, model: type[R], at: datetime, *then: int | None) -> list[R]:
        """The rows of `model` (real, or the drills') whose column `at` falls in the period,
        ordered by `at`, then by `then`."""
        query = select(model).where(self.holds(at), col(model.exercise) == self.exercise)
        return list(self.session.exec(query.order_by(col(at), *(col(c) for c in then))))


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return round((b - a).total_seconds(), 1) if a and b else None


def _is_rule(actor: str) -> bool:
    """Actions the system took by itself: rules, the rules engine, timed jobs."""
    return actor.startswith("rule:") or actor in ("rules", "system", "scheduler")


def build(
    session: Session,
    *,
    catalogue: Catalogue,
    start: datetime | None = None,
    end: datetime | None = None,
    exercise: bool = False,
) -> dict[str, Any]:
    start = start or FAR_PAST
    end = end or utcnow()
    p = _Period(session, start, end, exercise)
    signals = _signals(p, catalogue)
    broadcasts = _broadcasts(p)
    drill_entry = _exercise_entries(session)
    inspections = _inspections(p)
    hazards = _hazards(p)
    evacuation = _evacuation(p)
    crews = _crews(p, drill_entry)
    vulnerable = _vulnerable(p)
    liaison = _liaison(p)
    actions = _actions(p, drill_entry)
    figures = {
        "signal_changes": len(signals["changes"]),
        "broadcasts": len(broadcasts),
        "recipients": sum(b["recipients"] for b in broadcasts),
        "messages_sent": sum(b["sent"] for b in broadcasts),
        "messages_delivered": sum(b["delivered"] for b in broadcasts),
        "messages_failed": sum(b["failed"] for b in broadcasts),
        "inspection_groups": inspections["groups_out"],
        "patrol_trips": inspections["trips"],
        "person_trips": inspections["person_trips"],
        "vehicle_trips": inspections["vehicle_trips"],
        "hazards_found": hazards["found"],
        "hazards_rectified": hazards["rectified"],
        "evacuation_orders": evacuation["orders_issued"],
        "people_evacuated": evacuation["people"],
        "crews": crews["crews"],
        "crew_people": crews["people"],
        "vulnerable_followed": vulnerable["followed"],
        "vulnerable_reached": vulnerable["reached"],
        "liaison_calls": len(liaison["calls"]),
        "liaison_notices": len(liaison["notices"]),
        "actions_by_rules": actions["by_rules_total"],
        "actions_by_people": actions["by_people_total"],
        "actions_by_system": actions["by_system_total"],
    }
    return {
        "title": "After-action report" + (" — EXERCISE" if exercise else ""),
        "exercise": exercise,
        "generated_at_local": local_iso(utcnow()),
        "period": {
            "from_local": local_iso(start) if start > FAR_PAST else None,
            "to_local": local_iso(end),
            "to": end.isoformat(),
        },
        "figures": figures,
        "timeline": _timeline(signals, broadcasts, hazards, evacuation, liaison, actions),
        "signals": signals,
        "broadcasts": broadcasts,
        "inspections": inspections,
        "hazards": hazards,
        "evacuation": evacuation,
        "crews": crews,
        "vulnerable": vulnerable,
        "liaison": liaison,
        "actions": actions,
    }


def _signals(p: _Period, catalogue: Catalogue) -> dict[str, Any]:
    rows = p.rows(SignalChange, SignalChange.at, SignalChange.id)
    changes: list[dict[str, Any]] = [
        {
            "id": c.id,
            "at": c.at.isoformat(),
            "at_local": local_iso(c.at),
            "signal": f"{c.source}:{c.kind}",
            "source": c.source,
            "kind": c.kind,
            "previous_level": c.previous_level,
            "level": c.level,
            "change": c.change,
            "origin": str(c.origin),
            "actor": c.actor,
            "by_rule": _is_rule(c.actor),
            "name": _name(catalogue, c.source, c.kind, c.level),
        }
        for c in rows
    ]
    # Time in force: each level from its change to the next change of the same signal (or
    # the end of the period, "still in force").
    periods: list[dict[str, Any]] = []
    open_: dict[str, dict[str, Any]] = {}
    for c, row in zip(changes, rows, strict=True):
        current = open_.pop(c["signal"], None)
        if current is not None:
            current.update(to_local=c["at_local"], seconds=_secs(current["_from"], row.at))
            periods.append(current)
        if c["level"] is not None:
            open_[c["signal"]] = {
                "signal": c["signal"],
                "level": c["level"],
                "name": c["name"],
                "rank": _rank(catalogue, c["source"], c["kind"], c["level"]),
                "color": _color(catalogue, c["source"], c["kind"], c["level"]),
                "from_local": c["at_local"],
                "_from": row.at,
            }
    for current in open_.values():
        current.update(to_local=None, seconds=_secs(current["_from"], p.end), in_force=True)
        periods.append(current)
    for held in periods:
        held["from"] = held.pop("_from").isoformat()
        held.setdefault("in_force", False)
    periods.sort(key=lambda held: (held["from"], held["signal"]))
    return {
        "changes": changes,
        "periods": periods,
        # who changed them: people (operators), feeds (CAP in), the system (rules, expiry)
        "by_people": sum(1 for c in changes if c["origin"] in ("operator", "replay")),
        "by_feeds": sum(1 for c in changes if c["origin"] in ("cap", "feed")),
        "by_rules": sum(1 for c in changes if c["origin"] in ("rule", "expiry")),
    }


def _name(catalogue: Catalogue, source: str, kind: str, level: str | None) -> str:
    try:
        return catalogue.name(source, kind, level, language="en")
    except Exception:  # a signal no longer in the catalogue: its code says enough
        return f"{source}:{kind}:{level or '—'}"


def _rank(catalogue: Catalogue, source: str, kind: str, level: str | None) -> int:
    try:
        return catalogue.rank(source, kind, level)
    except Exception:
        return 0


def _color(catalogue: Catalogue, source: str, kind: str, level: str) -> str | None:
    """The level's own colour in config/signals.yaml (as on the dashboard's tiles)."""
    try:
        return catalogue.level(source, kind, level).color
    except Exception:
        return None


def _hours(a: datetime, b: datetime) -> float:
    return round((b - a).total_seconds() / 3600, 2)


def _secs(a: datetime, b: datetime) -> float:
    return round((b - a).total_seconds(), 1)


def _broadcasts(p: _Period) -> list[dict[str, Any]]:
    rows = list(
        p.session.exec(
            select(Broadcast)
            .where(p.holds(Broadcast.created_at), Broadcast.exercise == p.exercise)
            .order_by(col(Broadcast.id))
        )
    )
    out = []
    for b in rows:
        counts = dict(
            p.session.exec(
                select(Message.status, func.count())
                .where(Message.broadcast_id == b.id)
                .group_by(Message.status)
            ).all()
        )
        first, last = p.session.exec(
            select(func.min(Message.sent_at), func.max(Message.sent_at)).where(
                Message.broadcast_id == b.id
            )
        ).one()
        n = {s.value: int(counts.get(s.value, 0)) for s in MessageStatus}
        started = b.started_at or b.created_at
        out.append(
            {
                "id": b.id,
                "title": b.title,
                "status": str(b.status),
                "exercise": b.exercise,
                # drafted by a person (origin operator), or made by a rule or a liaison notice
                "origin": b.origin,
                "created_by": b.created_by,
                "by_people": b.origin == "operator",
                "created_at_local": local_iso(b.created_at),
                "created_at": b.created_at.isoformat(),
                "started_at_local": local_iso(b.started_at),
                "zones": list(b.zones),
                "recipients": sum(n.values()) or b.recipients,
                # every message that left: sent, and those delivered since
                "sent": n["sent"] + n["delivered"],
                "delivered": n["delivered"],
                "failed": n["failed"],
                "queued": n["queued"] + n["sending"],
                "cancelled": n["cancelled"],
                "first_at_local": local_iso(first),
                "last_at_local": local_iso(last),
                "to_first_s": _seconds(started, first),
                "to_last_s": _seconds(started, last),
                "sent_times": _sent_times(p.session, stored_id(b), started),
            }
        )
    return out


def _sent_times(session: Session, broadcast_id: int, started: datetime) -> list[float]:
    """Seconds after the start at which each message left (for the delivery chart)."""
    times = session.exec(
        select(Message.sent_at)
        .where(Message.broadcast_id == broadcast_id, col(Message.sent_at).is_not(None))
        .order_by(col(Message.sent_at))
    ).all()
    return [max(0.0, (t - started).total_seconds()) for t in times if t is not None]


def _inspections(p: _Period) -> dict[str, Any]:
    trips = p.rows(PatrolTrip, PatrolTrip.checked_in_at)
    names = dict(p.session.exec(select(InspectionGroup.id, InspectionGroup.name)).all())
    per_group: dict[int, dict[str, Any]] = {}
    for t in trips:
        g = per_group.setdefault(
            t.group_id,
            {
                "name": names.get(t.group_id, str(t.group_id)),
                "trips": 0,
                "person_trips": 0,
                "vehicle_trips": 0,
            },
        )
        g["trips"] += 1
        g["person_trips"] += t.persons
        g["vehicle_trips"] += t.vehicles
    return {
        "groups_out": len(per_group),  # groups that went out on patrol in the period
        "trips": len(trips),
        "person_trips": sum(t.persons for t in trips),
        "vehicle_trips": sum(t.vehicles for t in trips),
        "groups": sorted(per_group.values(), key=lambda g: g["name"]),
    }


def _hazards(p: _Period) -> dict[str, Any]:
    found = p.rows(Hazard, Hazard.reported_at)
    rectified = p.session.exec(
        select(func.count())
        .select_from(Hazard)
        .where(
            col(Hazard.rectified_at).is_not(None),
            p.holds(Hazard.rectified_at),
            Hazard.exercise == p.exercise,
        )
    ).one()
    return {
        "found": len(found),
        "rectified": int(rectified),
        "by_kind": dict(Counter(str(h.kind) for h in found)),
        "items": [
            {
                "id": h.id,
                "kind": str(h.kind),
                "severity": str(h.severity),
                "status": str(h.status),
                "place": h.place,
                "zone_id": h.zone_id,
                "reported_at_local": local_iso(h.reported_at),
                "reported_at": h.reported_at.isoformat(),
                "rectified_at_local": local_iso(h.rectified_at),
                "rectified_at": h.rectified_at.isoformat() if h.rectified_at else None,
                "hours_to_rectify": _hours(h.reported_at, h.rectified_at)
                if h.rectified_at
                else None,
            }
            for h in found
        ],
    }


def _evacuation(p: _Period) -> dict[str, Any]:
    moves = p.rows(Movement, Movement.at)
    by_place: Counter[str] = Counter()
    for m in moves:
        by_place[m.shelter_id or m.to_place or "?"] += m.people
    orders = p.rows(EvacuationOrder, EvacuationOrder.issued_at, EvacuationOrder.id)
    return {
        # every zone ordered (or advised) to evacuate, and the broadcast drafted with it
        "orders_issued": len(orders),
        "orders": [
            {
                "id": o.id,
                "zone_id": o.zone_id,
                "level": str(o.level),
                "status": str(o.status),
                "issued_at_local": local_iso(o.issued_at),
                "issued_at": o.issued_at.isoformat(),
                "issued_by": o.issued_by,
                "origin": o.origin,
                "shelter_ids": list(o.shelter_ids or []),
                "broadcast_id": o.broadcast_id,
                "lift_broadcast_id": o.lift_broadcast_id,
                "ended_at_local": local_iso(o.ended_at),
            }
            for o in orders
        ],
        "people": sum(m.people for m in moves),
        "movements": len(moves),
        "by_destination": dict(by_place),
        "items": [
            {
                "at_local": local_iso(m.at),
                "at": m.at.isoformat(),
                "people": m.people,
                "from": m.from_place or m.from_zone_id,
                "to": m.shelter_id or m.to_place,
            }
            for m in moves
        ],
    }


def _crews(p: _Period, drill_entry: Callable[[AuditEntry], bool]) -> dict[str, Any]:
    """The crews on the roster (released ones stood down), and status changes in the period."""
    crews = [
        c
        for c in p.session.exec(select(Crew).where(Crew.exercise == p.exercise).order_by(Crew.name))
        if c.status != CrewStatus.released
    ]
    changes = Counter(
        e.summary.get("after", {}).get("status") if isinstance(e.summary, dict) else None
        for e in p.session.exec(
            select(AuditEntry).where(
                AuditEntry.action == "crew.status_changed", p.holds(AuditEntry.at)
            )
        )
        if drill_entry(e) == p.exercise
    )
    return {
        "crews": len(crews),
        "people": sum(c.headcount for c in crews),
        "status_changes": {k: v for k, v in changes.items() if k},
        "items": [
            {
                "name": c.name,
                "headcount": c.headcount,
                "station": c.station,
                "status": str(c.status),
            }
            for c in crews
        ],
    }


def _vulnerable(p: _Period) -> dict[str, Any]:
    followed = p.session.exec(
        select(func.count())
        .select_from(VulnerableResident)
        .where(VulnerableResident.exercise == p.exercise)
    ).one()
    checks = p.rows(ResidentCheck, ResidentCheck.at)
    reached = {c.resident_id for c in checks if c.state == CheckState.reached}
    return {
        "followed": int(followed),
        "reached": len(reached),
        "checks": len(checks),
        "by_state": dict(Counter(str(c.state) for c in checks)),
    }


def _liaison(p: _Period) -> dict[str, Any]:
    calls = p.rows(HotlineCall, HotlineCall.at)
    notices = p.rows(LiaisonNotice, LiaisonNotice.created_at)
    return {
        "calls": [
            {
                "at_local": local_iso(c.at),
                "at": c.at.isoformat(),
                "direction": str(c.direction),
                "caller": c.caller,
                "summary": c.summary,
                "follow_up": c.follow_up,
                "logged_by": c.logged_by,
            }
            for c in calls
        ],
        "notices": [
            {
                "at_local": local_iso(n.created_at),
                "at": n.created_at.isoformat(),
                "signal": n.signal,
                "previous": n.previous,
                "status": str(n.status),
                "text": n.texts.get("en") or next(iter(n.texts.values()), ""),
            }
            for n in notices
        ],
        "acknowledged": sum(1 for n in notices if str(n.status) == "acknowledged"),
    }


def _exercise_entries(session: Session) -> Callable[[AuditEntry], bool]:
    """A test of audit entries: True for a drill's. Field operations mark their own
    (`summary.exercise`); signals, rules and prompts say it in `after`; the rest by what the
    entry is about (an exercise broadcast, notice, prompt, alarm, CAP alert, drill user)."""
    from emergency.alarms.models import Alarm

    def ids(model: type[_Exercised], key: int | None) -> set[str]:
        return {str(i) for i in session.exec(select(col(key)).where(col(model.exercise)))}

    by_target = {
        "broadcast": ids(Broadcast, Broadcast.id),
        "liaison_notice": ids(LiaisonNotice, LiaisonNotice.id),
        "operator_prompt": ids(OperatorPrompt, OperatorPrompt.id),
        "alarm": ids(Alarm, Alarm.id),
        "user": {str(i) for i in session.exec(select(DrillUser.user_id))},
    }

    def drill_entry(entry: AuditEntry) -> bool:
        summary = entry.summary if isinstance(entry.summary, dict) else {}
        after = summary.get("after")
        if not isinstance(after, dict):
            after = {}
        if summary.get("exercise") is True or after.get("exercise") is True:
            return True
        if entry.target_type == "cap_alert":
            return after.get("status") == "Exercise"
        if entry.target_type == "rule" and str(after.get("key", "")).startswith("exercise:"):
            return True
        return entry.target_id in by_target.get(entry.target_type, ())

    return drill_entry


def _actions(p: _Period, drill_entry: Callable[[AuditEntry], bool]) -> dict[str, Any]:
    """What rules did (their journal) and who did what (the audit log, by action): rules,
    people (an actor who is a user) and the rest (the dispatch engine, feeds, the CLI)."""
    users = set(p.session.exec(select(User.name)).all())
    entries = [
        (e.actor, e.action)
        for e in p.session.exec(select(AuditEntry).where(p.holds(AuditEntry.at)))
        if drill_entry(e) == p.exercise
    ]
    by_rules = Counter(a for actor, a in entries if _is_rule(actor))
    by_people = Counter(a for actor, a in entries if not _is_rule(actor) and actor in users)
    by_system = Counter(a for actor, a in entries if not _is_rule(actor) and actor not in users)
    runs = p.rows(RuleActionRun, RuleActionRun.at, RuleActionRun.id)
    return {
        "names": sorted({*by_rules, *by_people, *by_system}),
        "by_rules": dict(sorted(by_rules.items())),
        "by_people": dict(sorted(by_people.items())),
        "by_system": dict(sorted(by_system.items())),
        "by_rules_total": sum(by_rules.values()),
        "by_people_total": sum(by_people.values()),
        "by_system_total": sum(by_system.values()),
        "rule_runs": [
            {
                "at_local": local_iso(r.at),
                "at": r.at.isoformat(),
                "rule": r.rule_id,
                "do": r.do,
                "status": str(r.status),
                "summary": r.summary,
            }
            for r in runs
        ],
    }


def _entry(what: str, row: dict[str, Any], at: str, text: str) -> dict[str, Any]:
    """A line of the timeline: `row`'s time `at` (and `at`_local), what it is, in words."""
    return {"at": row[at], "at_local": row[f"{at}_local"], "what": what, "text": text}


def _timeline(
    signals: dict[str, Any],
    broadcasts: list[dict[str, Any]],
    hazards: dict[str, Any],
    evacuation: dict[str, Any],
    liaison: dict[str, Any],
    actions: dict[str, Any],
) -> list[dict[str, Any]]:
    items = [
        _entry(
            "signal",
            c,
            "at",
            f"{c['signal']} {c['previous_level'] or '—'} → {c['level'] or 'lowered'}"
            f" ({c['actor']})",
        )
        for c in signals["changes"]
    ]
    items += [
        _entry(
            "broadcast",
            b,
            "created_at",
            f"broadcast #{b['id']} {b['title'] or ''} to {b['recipients']} ({b['origin']})",
        )
        for b in broadcasts
    ]
    items += [
        _entry(
            "hazard",
            h,
            "reported_at",
            f"hazard #{h['id']} {h['kind']} ({h['severity']}) {h['place'] or ''}",
        )
        for h in hazards["items"]
    ]
    items += [
        _entry("rectified", h, "rectified_at", f"hazard #{h['id']} rectified")
        for h in hazards["items"]
        if h["rectified_at"]
    ]
    items += [
        _entry("evacuation", m, "at", f"{m['people']} people moved to {m['to']}")
        for m in evacuation["items"]
    ]
    for o in evacuation["orders"]:
        text = f"{o['level']} evacuation of {o['zone_id']} ({o['origin']})"
        if o["broadcast_id"]:
            text += f", broadcast #{o['broadcast_id']}"
        items.append(_entry("evacuation_order", o, "issued_at", text))
    items += [
        _entry("liaison", c, "at", f"{c['direction']} call: {c['caller']}")
        for c in liaison["calls"]
    ]
    items += [
        _entry("rule", r, "at", f"{r['rule']}: {r['summary']} [{r['status']}]")
        for r in actions["rule_runs"]
    ]
    return sorted(items, key=lambda i: i["at"])
