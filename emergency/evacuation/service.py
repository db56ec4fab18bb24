"""Evacuation orders, movements of people, and shelters.

Entry points for flows (all keyword-only, add + flush, never commit): `issue_order`,
`lift_order` (one zone each; idempotent: None when nothing changed), `set_shelter_open`
(idempotent), `set_occupancy`, `record_movement`, `nearest`. Orders emit
`evacuation.updated`; shelters emit `shelter.updated`. An evacuation order as one action (its
zones, shelters and the broadcast drafted with it) is `emergency.evacuation.flows`.

Reality and drills are apart: orders and movements carry `exercise` (a zone has at most one
active order of each), every shelter has a drill state (`shelter_state`), and every event says
which it is about and carries its totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from emergency.audit import service as audit_service
from emergency.clock import local_iso
from emergency.db import get_or_404, to_public, utcnow
from emergency.evacuation.models import (
    EvacuationOrder,
    Movement,
    OrderLevel,
    OrderStatus,
    Shelter,
)
from emergency.evacuation.schemas import (
    MovementPublic,
    NearestShelter,
    OrderPublic,
    ShelterPublic,
)
from emergency.events import service as event_service
from emergency.exceptions import Conflict, InvalidInput
from emergency.field.common import check_location, check_origin, zone_at
from geo import shelters as geo_shelters
from geo.zones import ZoneSet

ORDER_EVENT = "evacuation.updated"
SHELTER_EVENT = "shelter.updated"


# --- shelters ------------------------------------------------------------------------------


def sync_shelters(
    session: Session, *, shelters: list[geo_shelters.Shelter], zones: ZoneSet | None = None
) -> int:
    """Add the shelters of config/zones/shelters.geojson that the table lacks; names, places
    and capacity follow the file, occupancy and the open flag stay as they are. Returns how
    many were new."""
    created = 0
    for s in shelters:
        row = session.get(Shelter, s.id)
        if row is None:
            row = Shelter(
                id=s.id,
                lat=s.lat,
                lon=s.lon,
                capacity=s.capacity,
                occupancy=s.occupancy,
                is_open=s.is_open,
                updated_by="config",
            )
            # A shelter opens when the command post says so, not when the file is read.
            row.is_open = bool(s.properties.get("open_at_start", False))
            created += 1
        row.name, row.lat, row.lon, row.capacity = dict(s.name), s.lat, s.lon, s.capacity
        if zones is not None:
            row.zone_id = zones.zone_of(s.lon, s.lat)
        session.add(row)
    session.flush()
    return created


def list_shelters(session: Session) -> list[Shelter]:
    return list(session.exec(select(Shelter).order_by(col(Shelter.id))))


def shelter_state(shelter: Shelter, exercise: bool = False) -> tuple[bool, int]:
    """(open, occupancy) of a shelter in reality, or in the drills."""
    if exercise:
        return shelter.exercise_is_open, shelter.exercise_occupancy
    return shelter.is_open, shelter.occupancy


def get_shelter(session: Session, *, shelter_id: str, lock: bool = False) -> Shelter:
    return get_or_404(session, Shelter, shelter_id, "shelter", code="shelter_not_found", lock=lock)


def set_shelter_open(
    session: Session,
    *,
    shelter_id: str,
    open: bool,
    actor: str,
    origin: str,
    note: str | None = None,
    exercise: bool = False,
) -> Shelter | None:
    """Open or close a shelter (in a drill: its drill state); None when it already is so."""
    origin = check_origin(origin)
    shelter = get_shelter(session, shelter_id=shelter_id, lock=True)
    if shelter_state(shelter, exercise)[0] == open:
        return None
    action = "opened" if open else "closed"
    return _change_shelter(
        session,
        shelter,
        "is_open",
        open,
        actor=actor,
        exercise=exercise,
        audit=(action, {"open": not open}, {"open": open, "origin": origin, "note": note}),
        event=action,
    )


def set_occupancy(
    session: Session,
    *,
    shelter_id: str,
    occupancy: int,
    actor: str,
    note: str | None = None,
    exercise: bool = False,
) -> Shelter | None:
    """Correct a shelter's occupancy after a head count (people also leave shelters)."""
    if occupancy < 0:
        raise InvalidInput("occupancy: must be ≥ 0")
    shelter = get_shelter(session, shelter_id=shelter_id, lock=True)
    before = shelter_state(shelter, exercise)[1]
    if before == occupancy:
        return None
    return _change_shelter(
        session,
        shelter,
        "occupancy",
        occupancy,
        actor=actor,
        exercise=exercise,
        audit=("occupancy_set", {"occupancy": before}, {"occupancy": occupancy, "note": note}),
        event="occupancy",
    )


def _change_shelter(
    session: Session,
    shelter: Shelter,
    state: Literal["is_open", "occupancy"],
    value: bool | int,
    *,
    actor: str,
    exercise: bool,
    audit: tuple[str, dict[str, Any], dict[str, Any]],
    event: str,
) -> Shelter:
    """One of the shelter's `state` set (in a drill its drill state, `exercise_<state>`; else
    the real one, with who and when), audited (`shelter.<action>`, before, after) and sent to
    the screens (`event`: the event's action)."""
    if exercise:
        setattr(shelter, f"exercise_{state}", value)
    else:
        setattr(shelter, state, value)
        shelter.updated_at, shelter.updated_by = utcnow(), actor
    session.add(shelter)
    session.flush()
    action, before, after = audit
    audit_service.record(
        session,
        actor=actor,
        action=f"shelter.{action}",
        target_type="shelter",
        target_id=shelter.id,
        before=before,
        after=after,
        exercise=exercise,
    )
    _emit_shelter(session, shelter, action=event, exercise=exercise)
    return shelter


def nearest(
    session: Session,
    *,
    lat: float,
    lon: float,
    people: int = 1,
    limit: int = 3,
    exercise: bool = False,
) -> list[NearestShelter]:
    """The nearest open shelters with room for `people`, nearest first (in a drill: by the
    drill's state)."""
    check_location(lat, lon)
    rows = {s.id: s for s in list_shelters(session)}
    values = []
    for s in rows.values():
        is_open, occupancy = shelter_state(s, exercise)
        values.append(
            geo_shelters.Shelter(
                id=s.id,
                name=s.name,
                lon=s.lon,
                lat=s.lat,
                capacity=s.capacity,
                occupancy=occupancy,
                is_open=is_open,
            )
        )
    matches = geo_shelters.nearest_shelters(
        lon=lon, lat=lat, shelters=values, people=people, limit=limit
    )
    return [
        NearestShelter(
            shelter=shelter_public(rows[m.shelter.id], exercise), distance_m=round(m.distance_m, 1)
        )
        for m in matches
    ]


def shelter_public(s: Shelter, exercise: bool = False) -> ShelterPublic:
    """The shelter as reality sees it, or as the drills do (`exercise`)."""
    is_open, occupancy = shelter_state(s, exercise)
    return to_public(
        ShelterPublic,
        s,
        occupancy=occupancy,
        room=max(s.capacity - occupancy, 0),
        is_open=is_open,
        over_capacity=occupancy > s.capacity,
        updated_at_local=local_iso(s.updated_at),
        exercise=exercise,
    )


def _emit_shelter(session: Session, shelter: Shelter, *, action: str, exercise: bool) -> None:
    event_service.emit(
        session,
        SHELTER_EVENT,
        {
            "action": action,
            "exercise": exercise,
            "shelter": shelter_public(shelter, exercise).model_dump(mode="json"),
            "totals": shelter_totals(session, exercise),
        },
    )


def shelter_totals(session: Session, exercise: bool = False) -> dict[str, int]:
    states = [(s, *shelter_state(s, exercise)) for s in list_shelters(session)]
    open_rows = [(s, occupancy) for s, is_open, occupancy in states if is_open]
    return {
        "shelters": len(states),
        "open": len(open_rows),
        "capacity_open": sum(s.capacity for s, _ in open_rows),
        "occupancy": sum(occupancy for _, _, occupancy in states),
        "room_open": sum(max(s.capacity - occupancy, 0) for s, occupancy in open_rows),
    }


# --- orders --------------------------------------------------------------------------------


def check_zone(zone_id: str, zones: ZoneSet | None) -> None:
    if zones is not None and zone_id not in zones:
        raise InvalidInput(f"zone_id: unknown zone {zone_id!r}", code="unknown_zone")


def check_level(level: str) -> OrderLevel:
    try:
        return OrderLevel(level)
    except ValueError:
        raise InvalidInput(f"level: {level!r} must be 'advised' or 'mandatory'") from None


def active_order(
    session: Session, *, zone_id: str, exercise: bool = False
) -> EvacuationOrder | None:
    """The zone's order in force, in reality or in the drills (locked until the commit)."""
    return session.exec(
        select(EvacuationOrder)
        .where(
            EvacuationOrder.zone_id == zone_id,
            EvacuationOrder.status == OrderStatus.active,
            EvacuationOrder.exercise == exercise,
        )
        .with_for_update()
    ).first()


def issue_order(
    session: Session,
    *,
    zone_id: str,
    level: str,
    actor: str,
    origin: str,
    note: str | None = None,
    zones: ZoneSet | None = None,
    exercise: bool = False,
    shelter_ids: Sequence[str] = (),
    emit: bool = True,
) -> EvacuationOrder | None:
    """Order (or advise) the evacuation of a zone. The same level again → None; another
    level supersedes the order in force. `zones`, when given, checks the zone id. The flow
    (emergency.evacuation.flows) gives the shelters, links the broadcast drafted with it and
    then emits the event itself (`emit=False`)."""
    origin = check_origin(origin)
    level = check_level(level)
    check_zone(zone_id, zones)
    now = utcnow()
    current = active_order(session, zone_id=zone_id, exercise=exercise)
    if current is not None and current.level == level:
        return None
    if current is not None:
        _end_order(session, current, OrderStatus.superseded, actor=actor, origin=origin, at=now)
    order = EvacuationOrder(
        zone_id=zone_id,
        level=level,
        issued_at=now,
        issued_by=actor,
        origin=origin,
        note=note,
        shelter_ids=list(shelter_ids),
        exercise=exercise,
    )
    session.add(order)
    session.flush()
    _audit_order(
        session,
        "issued",
        order,
        actor=actor,
        before=current.level if current else None,
        after={
            "level": level,
            "origin": origin,
            "note": note,
            "order_id": order.id,
            "shelter_ids": list(shelter_ids),
        },
    )
    if emit:
        emit_order(session, order, action="changed" if current else "issued", zones=zones)
    return order


def lift_order(
    session: Session,
    *,
    zone_id: str,
    actor: str,
    origin: str,
    note: str | None = None,
    zones: ZoneSet | None = None,
    exercise: bool = False,
    emit: bool = True,
) -> EvacuationOrder | None:
    """Lift the order in force for a zone; None when there is none (`emit`: as issue_order)."""
    origin = check_origin(origin)
    check_zone(zone_id, zones)
    current = active_order(session, zone_id=zone_id, exercise=exercise)
    if current is None:
        return None
    _end_order(session, current, OrderStatus.lifted, actor=actor, origin=origin, at=utcnow())
    after = {"level": None, "origin": origin, "note": note}
    _audit_order(session, "lifted", current, actor=actor, before=current.level, after=after)
    if emit:
        emit_order(session, current, action="lifted", zones=zones)
    return current


def _end_order(
    session: Session,
    order: EvacuationOrder,
    status: OrderStatus,
    *,
    actor: str,
    origin: str,
    at: datetime,
) -> None:
    """The order in force ends: superseded by another level, or lifted."""
    order.status, order.ended_at, order.ended_by, order.ended_origin = status, at, actor, origin
    session.add(order)
    session.flush()


def _audit_order(
    session: Session,
    action: str,
    order: EvacuationOrder,
    *,
    actor: str,
    before: str | None,
    after: dict[str, Any],
) -> None:
    """`evacuation.order_<action>`, audited against the order's zone (`before`: its level)."""
    audit_service.record(
        session,
        actor=actor,
        action=f"evacuation.order_{action}",
        target_type="evacuation_zone",
        target_id=order.zone_id,
        before={"level": before},
        after=after,
        exercise=order.exercise,
    )


def list_orders(
    session: Session, *, active_only: bool = False, limit: int = 500, exercise: bool = False
) -> list[EvacuationOrder]:
    query = (
        select(EvacuationOrder)
        .where(EvacuationOrder.exercise == exercise)
        .order_by(col(EvacuationOrder.id).desc())
        .limit(limit)
    )
    if active_only:
        query = query.where(EvacuationOrder.status == OrderStatus.active)
    return list(session.exec(query))


def order_public(order: EvacuationOrder, zones: ZoneSet | None = None) -> OrderPublic:
    zone = zones.get(order.zone_id) if zones is not None else None
    return to_public(
        OrderPublic,
        order,
        zone_name=dict(zone.name) if zone else None,
        issued_at_local=local_iso(order.issued_at),
        shelter_ids=list(order.shelter_ids or []),
    )


def emit_order(
    session: Session, order: EvacuationOrder, *, action: str, zones: ZoneSet | None
) -> None:
    _emit(session, "order", action, order_public(order, zones), exercise=order.exercise)


def _emit(session: Session, entity: str, action: str, public: BaseModel, *, exercise: bool) -> None:
    """`evacuation.updated` about an order or a movement (`entity`), with the totals."""
    event_service.emit(
        session,
        ORDER_EVENT,
        {
            "entity": entity,
            "action": action,
            "exercise": exercise,
            entity: public.model_dump(mode="json"),
            "totals": evacuation_totals(session, exercise),
        },
    )


# --- movements -----------------------------------------------------------------------------


def record_movement(
    session: Session,
    *,
    people: int,
    actor: str,
    shelter_id: str | None = None,
    to_place: str | None = None,
    from_zone_id: str | None = None,
    from_place: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    note: str | None = None,
    field_report_id: int | None = None,
    zones: ZoneSet | None = None,
    exercise: bool = False,
) -> Movement:
    """People moved to a shelter (its occupancy grows) or to another safe place.

    A closed shelter cannot take people (409: open it first, or send them elsewhere); an
    open one may go over its capacity, because the people are there: the screens flag it.
    A drill's movement (`exercise`) fills the shelter's drill state and follows the drill's
    order of its zone.
    """
    if people < 1:
        raise InvalidInput("people: must be at least 1")
    if not shelter_id and not (to_place and to_place.strip()):
        raise InvalidInput("shelter_id or to_place: say where the people were moved to")
    check_location(lat, lon)
    if from_zone_id is None:
        from_zone_id = zone_at(zones, lat, lon)
    else:
        check_zone(from_zone_id, zones)
    shelter = None
    if shelter_id:
        shelter = get_shelter(session, shelter_id=shelter_id, lock=True)
        if not shelter_state(shelter, exercise)[0]:
            where = "in the drill" if exercise else ""
            raise Conflict(
                f"shelter {shelter_id!r} is closed{where and ' ' + where}: open it before moving "
                "people in",
                code="shelter_closed",
            )
    order = active_order(session, zone_id=from_zone_id, exercise=exercise) if from_zone_id else None
    movement = Movement(
        people=people,
        from_zone_id=from_zone_id,
        from_place=from_place,
        lat=lat,
        lon=lon,
        shelter_id=shelter_id or None,
        to_place=to_place,
        order_id=order.id if order else None,
        reported_by=actor,
        field_report_id=field_report_id,
        note=note,
        exercise=exercise,
    )
    if shelter is not None and exercise:
        shelter.exercise_occupancy += people
        session.add(shelter)
    elif shelter is not None:
        shelter.occupancy += people
        shelter.updated_at, shelter.updated_by = utcnow(), actor
        session.add(shelter)
    audit_service.record_write(
        session,
        movement,
        actor=actor,
        action="evacuation.people_moved",
        target_type="evacuation_movement",
        after={"people": people, "shelter_id": shelter_id, "from_zone_id": from_zone_id},
        exercise=exercise,
    )
    _emit(session, "movement", "recorded", movement_public(movement), exercise=exercise)
    if shelter is not None:
        _emit_shelter(session, shelter, action="people_arrived", exercise=exercise)
    return movement


def list_movements(session: Session, *, limit: int = 500, exercise: bool = False) -> list[Movement]:
    return list(
        session.exec(
            select(Movement)
            .where(Movement.exercise == exercise)
            .order_by(col(Movement.id).desc())
            .limit(limit)
        )
    )


def movement_public(m: Movement) -> MovementPublic:
    return to_public(MovementPublic, m, at_local=local_iso(m.at))


def evacuation_totals(session: Session, exercise: bool = False) -> dict[str, int]:
    """Orders in force, orders issued (every action, zone by zone) and people moved: of
    reality, or of the drills."""
    active = list_orders(session, active_only=True, exercise=exercise)
    mine = Movement.exercise == exercise
    moved = session.exec(select(func.coalesce(func.sum(Movement.people), 0)).where(mine)).one()
    to_shelters = session.exec(
        select(func.coalesce(func.sum(Movement.people), 0)).where(
            mine, col(Movement.shelter_id).is_not(None)
        )
    ).one()
    issued = session.exec(
        select(func.count())
        .select_from(EvacuationOrder)
        .where(EvacuationOrder.exercise == exercise)
    ).one()
    return {
        "orders_active": len(active),
        "orders_mandatory": sum(1 for o in active if o.level == OrderLevel.mandatory),
        "orders_advised": sum(1 for o in active if o.level == OrderLevel.advised),
        "orders_issued": int(issued),
        "people_evacuated": int(moved),
        "people_to_shelters": int(to_shelters),
        "movements": int(
            session.exec(select(func.count()).select_from(Movement).where(mine)).one()
        ),
    }


def summary(session: Session, exercise: bool = False) -> dict[str, Any]:
    """The situation's `evacuation` section (of reality, or of the drills)."""
    return {
        **evacuation_totals(session, exercise),
        "orders": [
            order_public(o).model_dump(mode="json")
            for o in list_orders(session, active_only=True, exercise=exercise)
        ],
        "shelters": shelter_totals(session, exercise),
        "shelter_list": [
            shelter_public(s, exercise).model_dump(mode="json") for s in list_shelters(session)
        ],
    }
