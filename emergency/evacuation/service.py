"""Evacuation orders, movements of people, and shelters.

Entry points for rules and flows (all keyword-only, add + flush, never commit):
`issue_order`, `lift_order` (idempotent: None when nothing changed), `set_shelter_open`
(idempotent), `set_occupancy`, `record_movement`, `nearest`. Orders emit
`evacuation.updated`; shelters emit `shelter.updated`.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, col, select

from emergency.audit import service as audit_service
from emergency.clock import local_iso
from emergency.db import utcnow
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
from emergency.exceptions import Conflict, InvalidInput, NotFound
from emergency.field.common import check_location, check_origin
from geo import shelters as geo_shelters
from geo.zones import ZoneSet

ORDER_EVENT = "evacuation.updated"
SHELTER_EVENT = "shelter.updated"


# --- shelters ------------------------------------------------------------------------------


def sync_shelters(session: Session, *, path: Path, zones: ZoneSet | None = None) -> int:
    """Add the shelters of a GeoJSON file that the table lacks; names, places and capacity
    follow the file, occupancy and the open flag stay as they are. Returns how many were new."""
    created = 0
    for s in geo_shelters.load_shelters(path):
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


def get_shelter(session: Session, *, shelter_id: str, lock: bool = False) -> Shelter:
    query = select(Shelter).where(Shelter.id == shelter_id)
    row = session.exec(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"shelter {shelter_id!r} not found", code="shelter_not_found")
    return row


def set_shelter_open(
    session: Session,
    *,
    shelter_id: str,
    open: bool,
    actor: str,
    origin: str,
    note: str | None = None,
) -> Shelter | None:
    """Open or close a shelter; None when it already is so."""
    origin = check_origin(origin)
    shelter = get_shelter(session, shelter_id=shelter_id, lock=True)
    if shelter.is_open == open:
        return None
    shelter.is_open, shelter.updated_at, shelter.updated_by = open, utcnow(), actor
    session.add(shelter)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="shelter.opened" if open else "shelter.closed",
        target_type="shelter",
        target_id=shelter.id,
        before={"open": not open},
        after={"open": open, "origin": origin, "note": note},
    )
    _emit_shelter(session, shelter, action="opened" if open else "closed")
    return shelter


def set_occupancy(
    session: Session, *, shelter_id: str, occupancy: int, actor: str, note: str | None = None
) -> Shelter | None:
    """Correct a shelter's occupancy after a head count (people also leave shelters)."""
    if occupancy < 0:
        raise InvalidInput("occupancy: must be ≥ 0")
    shelter = get_shelter(session, shelter_id=shelter_id, lock=True)
    if shelter.occupancy == occupancy:
        return None
    before = shelter.occupancy
    shelter.occupancy, shelter.updated_at, shelter.updated_by = occupancy, utcnow(), actor
    session.add(shelter)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="shelter.occupancy_set",
        target_type="shelter",
        target_id=shelter.id,
        before={"occupancy": before},
        after={"occupancy": occupancy, "note": note},
    )
    _emit_shelter(session, shelter, action="occupancy")
    return shelter


def nearest(
    session: Session, *, lat: float, lon: float, people: int = 1, limit: int = 3
) -> list[NearestShelter]:
    """The nearest open shelters with room for `people`, nearest first."""
    check_location(lat, lon)
    rows = {s.id: s for s in list_shelters(session)}
    values = [
        geo_shelters.Shelter(
            id=s.id,
            name=s.name,
            lon=s.lon,
            lat=s.lat,
            capacity=s.capacity,
            occupancy=s.occupancy,
            is_open=s.is_open,
        )
        for s in rows.values()
    ]
    matches = geo_shelters.nearest_shelters(
        lon=lon, lat=lat, shelters=values, people=people, limit=limit
    )
    return [
        NearestShelter(
            shelter=shelter_public(rows[m.shelter.id]), distance_m=round(m.distance_m, 1)
        )
        for m in matches
    ]


def shelter_public(s: Shelter) -> ShelterPublic:
    return ShelterPublic(
        id=s.id,
        name=s.name,
        lat=s.lat,
        lon=s.lon,
        capacity=s.capacity,
        occupancy=s.occupancy,
        room=max(s.capacity - s.occupancy, 0),
        is_open=s.is_open,
        over_capacity=s.occupancy > s.capacity,
        zone_id=s.zone_id,
        updated_at=s.updated_at,
        updated_at_local=local_iso(s.updated_at),
    )


def _emit_shelter(session: Session, shelter: Shelter, *, action: str) -> None:
    event_service.emit(
        session,
        SHELTER_EVENT,
        {
            "action": action,
            "shelter": shelter_public(shelter).model_dump(mode="json"),
            "totals": shelter_totals(session),
        },
    )


def shelter_totals(session: Session) -> dict[str, int]:
    rows = list_shelters(session)
    open_rows = [s for s in rows if s.is_open]
    return {
        "shelters": len(rows),
        "open": len(open_rows),
        "capacity_open": sum(s.capacity for s in open_rows),
        "occupancy": sum(s.occupancy for s in rows),
        "room_open": sum(max(s.capacity - s.occupancy, 0) for s in open_rows),
    }


# --- orders --------------------------------------------------------------------------------


def _check_zone(zone_id: str, zones: ZoneSet | None) -> None:
    if zones is not None and zone_id not in zones:
        raise InvalidInput(f"zone_id: unknown zone {zone_id!r}", code="unknown_zone")


def active_order(session: Session, *, zone_id: str) -> EvacuationOrder | None:
    return session.exec(
        select(EvacuationOrder)
        .where(EvacuationOrder.zone_id == zone_id, EvacuationOrder.status == OrderStatus.active)
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
) -> EvacuationOrder | None:
    """Order (or advise) the evacuation of a zone. The same level again → None; another
    level supersedes the order in force. `zones`, when given, checks the zone id."""
    origin = check_origin(origin)
    try:
        level = OrderLevel(level)
    except ValueError:
        raise InvalidInput(f"level: {level!r} must be 'advised' or 'mandatory'") from None
    _check_zone(zone_id, zones)
    now = utcnow()
    current = active_order(session, zone_id=zone_id)
    if current is not None and current.level == level:
        return None
    if current is not None:
        current.status, current.ended_at, current.ended_by = OrderStatus.superseded, now, actor
        current.ended_origin = origin
        session.add(current)
        session.flush()
    order = EvacuationOrder(
        zone_id=zone_id, level=level, issued_at=now, issued_by=actor, origin=origin, note=note
    )
    session.add(order)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="evacuation.order_issued",
        target_type="evacuation_zone",
        target_id=zone_id,
        before={"level": current.level if current else None},
        after={"level": level, "origin": origin, "note": note, "order_id": order.id},
    )
    _emit_order(session, order, action="changed" if current else "issued", zones=zones)
    return order


def lift_order(
    session: Session,
    *,
    zone_id: str,
    actor: str,
    origin: str,
    note: str | None = None,
    zones: ZoneSet | None = None,
) -> EvacuationOrder | None:
    """Lift the order in force for a zone; None when there is none."""
    origin = check_origin(origin)
    _check_zone(zone_id, zones)
    current = active_order(session, zone_id=zone_id)
    if current is None:
        return None
    current.status, current.ended_at, current.ended_by = OrderStatus.lifted, utcnow(), actor
    current.ended_origin = origin
    session.add(current)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="evacuation.order_lifted",
        target_type="evacuation_zone",
        target_id=zone_id,
        before={"level": current.level},
        after={"level": None, "origin": origin, "note": note},
    )
    _emit_order(session, current, action="lifted", zones=zones)
    return current


def list_orders(
    session: Session, *, active_only: bool = False, limit: int = 500
) -> list[EvacuationOrder]:
    query = select(EvacuationOrder).order_by(col(EvacuationOrder.id).desc()).limit(limit)
    if active_only:
        query = query.where(EvacuationOrder.status == OrderStatus.active)
    return list(session.exec(query))


def order_public(order: EvacuationOrder, zones: ZoneSet | None = None) -> OrderPublic:
    zone = zones.get(order.zone_id) if zones is not None else None
    return OrderPublic(
        id=order.id,
        zone_id=order.zone_id,
        zone_name=dict(zone.name) if zone else None,
        level=order.level,
        status=order.status,
        issued_at=order.issued_at,
        issued_at_local=local_iso(order.issued_at),
        issued_by=order.issued_by,
        origin=order.origin,
        note=order.note,
        ended_at=order.ended_at,
        ended_by=order.ended_by,
    )


def _emit_order(session: Session, order: EvacuationOrder, *, action: str, zones) -> None:
    event_service.emit(
        session,
        ORDER_EVENT,
        {
            "entity": "order",
            "action": action,
            "order": order_public(order, zones).model_dump(mode="json"),
            "totals": evacuation_totals(session),
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
) -> Movement:
    """People moved to a shelter (its occupancy grows) or to another safe place.

    A closed shelter cannot take people (409: open it first, or send them elsewhere); an
    open one may go over its capacity, because the people are there: the screens flag it.
    """
    if people < 1:
        raise InvalidInput("people: must be at least 1")
    if not shelter_id and not (to_place and to_place.strip()):
        raise InvalidInput("shelter_id or to_place: say where the people were moved to")
    check_location(lat, lon)
    if from_zone_id is None and zones is not None and lat is not None:
        from_zone_id = zones.zone_of(lon, lat)
    elif from_zone_id is not None:
        _check_zone(from_zone_id, zones)
    shelter = None
    if shelter_id:
        shelter = get_shelter(session, shelter_id=shelter_id, lock=True)
        if not shelter.is_open:
            raise Conflict(
                f"shelter {shelter_id!r} is closed: open it before moving people in",
                code="shelter_closed",
            )
    order = active_order(session, zone_id=from_zone_id) if from_zone_id else None
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
    )
    session.add(movement)
    if shelter is not None:
        shelter.occupancy += people
        shelter.updated_at, shelter.updated_by = utcnow(), actor
        session.add(shelter)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="evacuation.people_moved",
        target_type="evacuation_movement",
        target_id=movement.id,
        after={"people": people, "shelter_id": shelter_id, "from_zone_id": from_zone_id},
    )
    event_service.emit(
        session,
        ORDER_EVENT,
        {
            "entity": "movement",
            "action": "recorded",
            "movement": movement_public(movement).model_dump(mode="json"),
            "totals": evacuation_totals(session),
        },
    )
    if shelter is not None:
        _emit_shelter(session, shelter, action="people_arrived")
    return movement


def list_movements(session: Session, *, limit: int = 500) -> list[Movement]:
    return list(session.exec(select(Movement).order_by(col(Movement.id).desc()).limit(limit)))


def movement_public(m: Movement) -> MovementPublic:
    return MovementPublic(
        id=m.id,
        people=m.people,
        from_zone_id=m.from_zone_id,
        from_place=m.from_place,
        lat=m.lat,
        lon=m.lon,
        shelter_id=m.shelter_id,
        to_place=m.to_place,
        order_id=m.order_id,
        at=m.at,
        at_local=local_iso(m.at),
        reported_by=m.reported_by,
        field_report_id=m.field_report_id,
        note=m.note,
    )


def evacuation_totals(session: Session) -> dict[str, int]:
    active = list_orders(session, active_only=True)
    moved = session.exec(select(func.coalesce(func.sum(Movement.people), 0))).one()
    to_shelters = session.exec(
        select(func.coalesce(func.sum(Movement.people), 0)).where(
            col(Movement.shelter_id).is_not(None)
        )
    ).one()
    return {
        "orders_active": len(active),
        "orders_mandatory": sum(1 for o in active if o.level == OrderLevel.mandatory),
        "orders_advised": sum(1 for o in active if o.level == OrderLevel.advised),
        "people_evacuated": int(moved),
        "people_to_shelters": int(to_shelters),
        "movements": int(session.exec(select(func.count()).select_from(Movement)).one()),
    }


def summary(session: Session) -> dict:
    """The situation's `evacuation` section."""
    return {
        **evacuation_totals(session),
        "orders": [
            order_public(o).model_dump(mode="json") for o in list_orders(session, active_only=True)
        ],
        "shelters": shelter_totals(session),
        "shelter_list": [shelter_public(s).model_dump(mode="json") for s in list_shelters(session)],
    }
