"""An evacuation order as one action, by a rule or a person.

`issue` orders (or advises) the evacuation of zones, with the shelters to go to, and drafts
its broadcast from the template `evacuation_order` to those zones, through the broadcast
service: a template that is not pre-approved waits for a second person. Every zone's order
keeps the broadcast's id (`broadcast_id`). `lift` lifts the orders in force and drafts the
lift message (`evacuation_lifted`), kept as `lift_broadcast_id`. Zones already at that level
(or with nothing to lift) change nothing and draft nothing.

A drill's order is an exercise order, and its broadcast an exercise broadcast (the exercise
list, texts marked EXERCISE). The broadcast's idempotency key comes from the state it changes
(the zones and their latest orders), so of two identical requests at once one does it and
the other gets 409; a rule passes the key of its run. The orders are written before the
broadcast: on SQLite the broadcast's savepoint must not be the transaction's first write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from alerts.broadcasts import service as broadcast_core
from alerts.models import Broadcast
from alerts.templates import TemplateError
from emergency.audit import service as audit_service
from emergency.broadcasts import service as broadcast_service
from emergency.catalogue import LANGUAGES
from emergency.db import stored_id
from emergency.evacuation import service as evacuation_service
from emergency.evacuation.models import EvacuationOrder, OrderLevel
from emergency.exceptions import Conflict, InvalidInput
from geo.zones import ZoneSet

if TYPE_CHECKING:
    from emergency.runtime import Runtime

ORDER_TEMPLATE = "evacuation_order"
LIFT_TEMPLATE = "evacuation_lifted"
NEAREST_SHELTER = {
    "zh-Hans": "最近的开放避护场所",
    "zh-Hant": "最近的開放避護場所",
    "pt": "o abrigo aberto mais proximo",
    "en": "the nearest open shelter",
}
LEVEL_NAMES = {
    OrderLevel.mandatory: {
        "zh-Hans": "撤离令",
        "zh-Hant": "撤離令",
        "pt": "obrigatoria",
        "en": "mandatory",
    },
    OrderLevel.advised: {
        "zh-Hans": "建议撤离",
        "zh-Hant": "建議撤離",
        "pt": "aconselhada",
        "en": "advised",
    },
}


@dataclass
class Outcome:
    """The orders made (one per zone that changed) and the broadcast drafted with them."""

    orders: list[EvacuationOrder] = field(default_factory=list)
    broadcast: Broadcast | None = None


def issue(
    session: Session,
    *,
    zone_ids: Sequence[str],
    level: str,
    actor: str,
    origin: str,
    shelter_ids: Sequence[str] = (),
    note: str | None = None,
    zones: ZoneSet | None = None,
    exercise: bool = False,
    channels: Sequence[str] = ("sms", "push"),
    idempotency_key: str | None = None,
    template: str = ORDER_TEMPLATE,
    runtime: Runtime,
) -> Outcome:
    """Order (or advise) the evacuation of `zone_ids` to `shelter_ids` (open ones; none: the
    nearest open shelter) and draft its broadcast to the zones that change."""
    zones = zones if zones is not None else runtime.zones
    level = evacuation_service.check_level(level)
    zone_ids = _checked_zones(zone_ids, zones)
    shelters = []
    for shelter_id in dict.fromkeys(shelter_ids):
        shelter = evacuation_service.get_shelter(session, shelter_id=shelter_id)
        if not evacuation_service.shelter_state(shelter, exercise)[0]:
            raise Conflict(
                f"shelter {shelter_id!r} is closed{' in the drill' if exercise else ''}: open it "
                "before sending people there",
                code="shelter_closed",
            )
        shelters.append(shelter)
    changing: dict[str, str] = {}  # zone → what its order does: issued, or changed (superseded)
    for zone_id in zone_ids:
        current = evacuation_service.active_order(session, zone_id=zone_id, exercise=exercise)
        if current is None or current.level != level:
            changing[zone_id] = "issued" if current is None else "changed"
    if not changing:
        return Outcome()
    key = idempotency_key or _key(session, "evacuation-order", list(changing), exercise, level)
    if broadcast_core.by_idempotency_key(session, key) is not None:
        return Outcome()  # the same order, made a moment ago
    orders: list[EvacuationOrder] = []
    for zone_id in changing:
        order = evacuation_service.issue_order(
            session,
            zone_id=zone_id,
            level=level,
            actor=actor,
            origin=origin,
            note=note,
            zones=zones,
            exercise=exercise,
            shelter_ids=[s.id for s in shelters],
            emit=False,
        )
        if order is not None:  # None: the zone has that order already (not in `changing`)
            orders.append(order)
    shelter_names = _joined([s.name for s in shelters]) if shelters else dict(NEAREST_SHELTER)
    values = {
        "zone": _joined([_zone_name(zones, z) for z in changing]),
        "shelter": shelter_names,
        "level": LEVEL_NAMES[level],
    }
    sending = _Sending(runtime, channels, exercise, actor, origin)
    broadcast = _draft(session, sending, template, values, list(changing), key, orders)
    for order in orders:
        evacuation_service.emit_order(session, order, action=changing[order.zone_id], zones=zones)
    return Outcome(orders, broadcast)


def lift(
    session: Session,
    *,
    zone_ids: Sequence[str],
    actor: str,
    origin: str,
    note: str | None = None,
    zones: ZoneSet | None = None,
    exercise: bool = False,
    channels: Sequence[str] = ("sms", "push"),
    idempotency_key: str | None = None,
    template: str = LIFT_TEMPLATE,
    runtime: Runtime,
) -> Outcome:
    """Lift the orders in force for `zone_ids` and draft the lift message to those zones."""
    zones = zones if zones is not None else runtime.zones
    zone_ids = _checked_zones(zone_ids, zones)
    lifting = [
        z
        for z in zone_ids
        if evacuation_service.active_order(session, zone_id=z, exercise=exercise) is not None
    ]
    if not lifting:
        return Outcome()
    key = idempotency_key or _key(session, "evacuation-lift", lifting, exercise, "lift")
    if broadcast_core.by_idempotency_key(session, key) is not None:
        return Outcome()
    orders: list[EvacuationOrder] = []
    for zone_id in lifting:
        order = evacuation_service.lift_order(
            session,
            zone_id=zone_id,
            actor=actor,
            origin=origin,
            note=note,
            zones=zones,
            exercise=exercise,
            emit=False,
        )
        if order is not None:  # None: no order in force (not in `lifting`)
            orders.append(order)
    values = {"zone": _joined([_zone_name(zones, z) for z in lifting])}
    sending = _Sending(runtime, channels, exercise, actor, origin)
    broadcast = _draft(session, sending, template, values, lifting, key, orders, lifted=True)
    for order in orders:
        evacuation_service.emit_order(session, order, action="lifted", zones=zones)
    return Outcome(orders, broadcast)


# --- helpers -----------------------------------------------------------------------------


def _checked_zones(zone_ids: Sequence[str], zones: ZoneSet) -> list[str]:
    ids = list(dict.fromkeys(zone_ids))
    if not ids:
        raise InvalidInput("zone_ids: name at least one zone", code="unknown_zone")
    for zone_id in ids:
        evacuation_service.check_zone(zone_id, zones)
    return ids


@dataclass(frozen=True)
class _Sending:
    """Who changes the evacuation, and how the broadcast drafted with it goes out."""

    runtime: Runtime
    channels: Sequence[str]
    exercise: bool
    actor: str
    origin: str


def _draft(
    session: Session,
    sending: _Sending,
    template: str,
    values: dict[str, dict[str, str]],
    zone_ids: list[str],
    key: str,
    orders: list[EvacuationOrder],
    *,
    lifted: bool = False,
) -> Broadcast:
    """The broadcast, drafted (never pre-approved here: the template decides whether a
    second person approves it), with the variables its template declares, and the orders
    linked to it (`lift_broadcast_id` for orders `lifted`, else `broadcast_id`). 409 when a
    request racing this one drafted it first (the same key): this one then changes nothing."""
    runtime, exercise, actor = sending.runtime, sending.exercise, sending.actor
    try:
        declared: Collection[str] = runtime.config.templates.get(template).variables
    except TemplateError:
        declared = values  # the broadcast service names the unknown template (422)
    broadcast = broadcast_service.create_broadcast(
        session,
        actor=actor,
        template=template,
        variables={k: v for k, v in values.items() if k in declared},
        zones=zone_ids,
        channels=list(sending.channels),
        exercise=exercise,
        origin=sending.origin,
        idempotency_key=key,
        runtime=runtime,
    )
    if _already_linked(session, stored_id(broadcast)):
        raise Conflict(
            "the same evacuation change was just made by another request: nothing done twice",
            code="evacuation_in_progress",
        )
    audit_service.record_write(
        session,
        broadcast,
        actor=actor,
        action="evacuation.broadcast_drafted",
        target_type="broadcast",
        after={
            "template": template,
            "zones": zone_ids,
            "order_ids": [o.id for o in orders],
            "status": str(broadcast.status),
        },
        exercise=exercise,
    )
    for order in orders:
        if lifted:
            order.lift_broadcast_id = broadcast.id
        else:
            order.broadcast_id = broadcast.id
        session.add(order)
    session.flush()
    return broadcast


def _key(session: Session, kind: str, zone_ids: list[str], exercise: bool, what: str) -> str:
    """A key from the state the action changes: each zone with its latest order (any status)."""
    latest = dict(
        session.exec(
            select(EvacuationOrder.zone_id, EvacuationOrder.id)
            .where(col(EvacuationOrder.zone_id).in_(zone_ids), EvacuationOrder.exercise == exercise)
            .order_by(col(EvacuationOrder.id))
        ).all()
    )
    state = f"{exercise}|{what}|" + ",".join(f"{z}@{latest.get(z, 0)}" for z in zone_ids)
    return f"{kind}:{hashlib.sha256(state.encode()).hexdigest()[:40]}"


def _already_linked(session: Session, broadcast_id: int) -> bool:
    """Orders (of a committed request) already point at this broadcast."""
    linked = (EvacuationOrder.broadcast_id == broadcast_id) | (
        EvacuationOrder.lift_broadcast_id == broadcast_id
    )
    return session.exec(select(EvacuationOrder.id).where(linked)).first() is not None


def _zone_name(zones: ZoneSet, zone_id: str) -> dict[str, str]:
    zone = zones.get(zone_id)
    return dict(zone.name) if zone is not None else {lang: zone_id for lang in LANGUAGES}


def _joined(names: list[dict[str, str]]) -> dict[str, str]:
    """Names per language, joined as each language lists them."""
    return {
        lang: ("、" if lang.startswith("zh") else ", ").join(
            n.get(lang) or n.get("en") or next(iter(n.values()), "") for n in names
        )
        for lang in LANGUAGES
    }
