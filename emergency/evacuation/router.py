"""HTTP routes of evacuation orders, movements and shelters."""

from __future__ import annotations

from fastapi import APIRouter, Query

from emergency.auth.dependencies import Operator, Reader, SessionDep
from emergency.evacuation import service as evacuation_service
from emergency.evacuation.schemas import (
    LiftIn,
    MovementIn,
    MovementPublic,
    NearestShelter,
    OccupancyIn,
    OrderIn,
    OrderPublic,
    OrderResult,
    ShelterOpenIn,
    ShelterPublic,
)
from emergency.field.dependencies import ZonesDep

router = APIRouter(prefix="/api/v1", tags=["evacuation"])


@router.get("/shelters", response_model=list[ShelterPublic])
def list_shelters(user: Reader, session: SessionDep):
    return [evacuation_service.shelter_public(s) for s in evacuation_service.list_shelters(session)]


@router.get("/shelters/nearest", response_model=list[NearestShelter])
def nearest_shelters(
    user: Reader,
    session: SessionDep,
    lat: float = Query(..., examples=[22.13]),
    lon: float = Query(..., examples=[113.53]),
    people: int = Query(1, ge=1, le=5000),
    limit: int = Query(3, ge=1, le=20),
):
    """The nearest open shelters with room for `people`, nearest first (empty: none)."""
    return evacuation_service.nearest(session, lat=lat, lon=lon, people=people, limit=limit)


@router.post("/shelters/{shelter_id}/open", response_model=ShelterPublic)
def open_or_close_shelter(
    shelter_id: str, body: ShelterOpenIn, user: Operator, session: SessionDep
):
    """Open (`"open": true`) or close a shelter; the same state again is a no-op."""
    evacuation_service.set_shelter_open(
        session,
        shelter_id=shelter_id,
        open=body.open,
        actor=user.name,
        origin="operator",
        note=body.note,
    )
    return evacuation_service.shelter_public(
        evacuation_service.get_shelter(session, shelter_id=shelter_id)
    )


@router.put("/shelters/{shelter_id}/occupancy", response_model=ShelterPublic)
def set_occupancy(shelter_id: str, body: OccupancyIn, user: Operator, session: SessionDep):
    """Correct the occupancy after a head count (people leave shelters too)."""
    evacuation_service.set_occupancy(
        session, shelter_id=shelter_id, occupancy=body.occupancy, actor=user.name, note=body.note
    )
    return evacuation_service.shelter_public(
        evacuation_service.get_shelter(session, shelter_id=shelter_id)
    )


@router.get("/evacuation/orders", response_model=list[OrderPublic])
def list_orders(user: Reader, session: SessionDep, zones: ZonesDep, active: bool = False):
    orders = evacuation_service.list_orders(session, active_only=active)
    return [evacuation_service.order_public(o, zones) for o in orders]


@router.post("/evacuation/orders", response_model=OrderResult)
def issue_order(body: OrderIn, user: Operator, session: SessionDep, zones: ZonesDep):
    """Advise or order the evacuation of a zone; the level in force again is a no-op."""
    order = evacuation_service.issue_order(
        session,
        zone_id=body.zone_id,
        level=body.level,
        actor=user.name,
        origin="operator",
        note=body.note,
        zones=zones,
    )
    return OrderResult(
        changed=order is not None,
        order=evacuation_service.order_public(order, zones) if order else None,
    )


@router.post("/evacuation/orders/lift", response_model=OrderResult)
def lift_order(body: LiftIn, user: Operator, session: SessionDep, zones: ZonesDep):
    """Lift the order in force for a zone (none in force: a no-op)."""
    order = evacuation_service.lift_order(
        session,
        zone_id=body.zone_id,
        actor=user.name,
        origin="operator",
        note=body.note,
        zones=zones,
    )
    return OrderResult(
        changed=order is not None,
        order=evacuation_service.order_public(order, zones) if order else None,
    )


@router.get("/evacuation/movements", response_model=list[MovementPublic])
def list_movements(user: Reader, session: SessionDep, limit: int = Query(500, ge=1, le=5000)):
    return [
        evacuation_service.movement_public(m)
        for m in evacuation_service.list_movements(session, limit=limit)
    ]


@router.post("/evacuation/movements", response_model=MovementPublic, status_code=201)
def record_movement(body: MovementIn, user: Operator, session: SessionDep, zones: ZonesDep):
    """People moved (reported to the desk by phone); field teams use /api/v1/field-reports."""
    movement = evacuation_service.record_movement(
        session, actor=user.name, zones=zones, **body.model_dump()
    )
    return evacuation_service.movement_public(movement)


@router.get("/evacuation/totals")
def totals(user: Reader, session: SessionDep) -> dict:
    return evacuation_service.summary(session)
