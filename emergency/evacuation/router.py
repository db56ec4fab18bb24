"""HTTP routes of evacuation orders, movements and shelters.

Lists and totals are of reality; `?exercise=true` (or a drill user's token) shows the drill's
(its orders, movements, and every shelter's drill state). `"exercise": true` in a body makes
the change a drill's (emergency.drills). Every change accepts an `Idempotency-Key` header
(emergency.idempotency): the same key and body again answers the stored result, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query

from emergency.auth.dependencies import Operator, Reader, SessionDep
from emergency.broadcasts import service as broadcast_service
from emergency.db import stored_id
from emergency.dependencies import RuntimeDep
from emergency.drills import actions
from emergency.drills import service as drill_service
from emergency.drills.dependencies import DrillView
from emergency.evacuation import flows as evacuation_flows
from emergency.evacuation import service as evacuation_service
from emergency.evacuation.models import Movement, Shelter
from emergency.evacuation.schemas import (
    BroadcastRef,
    EvacuationSummary,
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
from emergency.field.dependencies import RowLimit, ZonesDep
from emergency.idempotency import IdempotentDep
from emergency.runtime import Runtime
from geo.zones import ZoneSet

router = APIRouter(prefix="/api/v1", tags=["evacuation"])
_new_movements: actions.Creates[Movement, MovementPublic] = actions.Creates(
    lambda _session, movement: evacuation_service.movement_public(movement)
)


@router.get("/shelters", response_model=list[ShelterPublic])
def list_shelters(user: Reader, session: SessionDep, exercise: DrillView) -> list[ShelterPublic]:
    return [
        evacuation_service.shelter_public(s, exercise)
        for s in evacuation_service.list_shelters(session)
    ]


@router.get("/shelters/nearest", response_model=list[NearestShelter])
def nearest_shelters(
    user: Reader,
    session: SessionDep,
    exercise: DrillView,
    lat: float = Query(..., examples=[22.13]),
    lon: float = Query(..., examples=[113.53]),
    people: int = Query(1, ge=1, le=5000),
    limit: int = Query(3, ge=1, le=20),
) -> list[NearestShelter]:
    """The nearest open shelters with room for `people`, nearest first (empty: none)."""
    return evacuation_service.nearest(
        session,
        lat=lat,
        lon=lon,
        people=people,
        limit=limit,
        exercise=exercise,
    )


@router.post("/shelters/{shelter_id}/open", response_model=ShelterPublic)
def open_or_close_shelter(
    shelter_id: str, body: ShelterOpenIn, user: Operator, once: IdempotentDep
) -> ShelterPublic:
    """Open (`"open": true`) or close a shelter; the same state again is a no-op."""
    change = evacuation_service.set_shelter_open
    return _change_shelter(once, change, shelter_id, body, origin="operator")


@router.put("/shelters/{shelter_id}/occupancy", response_model=ShelterPublic)
def set_occupancy(
    shelter_id: str, body: OccupancyIn, user: Operator, once: IdempotentDep
) -> ShelterPublic:
    """Correct the occupancy after a head count (people leave shelters too)."""
    return _change_shelter(once, evacuation_service.set_occupancy, shelter_id, body)


def _change_shelter(
    once: IdempotentDep,
    change: Callable[..., Shelter | None],
    shelter_id: str,
    body: ShelterOpenIn | OccupancyIn,
    **args: Any,
) -> ShelterPublic:
    """`change` done once to the shelter (its drill state for a drill's body or a drill user),
    answered with the shelter as it is now, in reality or in the drill; by the person and in
    the session `once` is bound to."""
    session, user = once.session, once.user
    exercise = drill_service.is_drill(session, user, body.exercise)

    def run() -> ShelterPublic:
        fields = body.model_dump(exclude={"exercise"})
        change(session, shelter_id=shelter_id, actor=user.name, exercise=exercise, **args, **fields)
        return evacuation_service.shelter_public(
            evacuation_service.get_shelter(session, shelter_id=shelter_id), exercise
        )

    return once.run(run)


@router.get("/evacuation/orders", response_model=list[OrderPublic])
def list_orders(
    user: Reader, session: SessionDep, zones: ZonesDep, exercise: DrillView, active: bool = False
) -> list[OrderPublic]:
    orders = evacuation_service.list_orders(session, active_only=active, exercise=exercise)
    return [evacuation_service.order_public(o, zones) for o in orders]


def _result(outcome: evacuation_flows.Outcome, zones: ZoneSet) -> OrderResult:
    orders = [evacuation_service.order_public(o, zones) for o in outcome.orders]
    b = outcome.broadcast
    return OrderResult(
        changed=bool(orders),
        order=orders[0] if orders else None,
        orders=orders,
        broadcast=BroadcastRef(
            id=stored_id(b),
            status=str(b.status),
            recipients=b.recipients,
            needs_approval=broadcast_service.public(b).needs_approval,
            exercise=b.exercise,
        )
        if b is not None and orders
        else None,
    )


@router.post("/evacuation/orders", response_model=OrderResult)
def issue_order(
    body: OrderIn, user: Operator, zones: ZonesDep, runtime: RuntimeDep, once: IdempotentDep
) -> OrderResult:
    """Advise or order the evacuation of zones, with the shelters to go to: one action that
    makes each zone's order and drafts its broadcast (template `evacuation_order`, approved by
    a second person). Zones already at that level are left as they are; all of them: a no-op
    (`changed: false`, no broadcast)."""
    order = {"level": body.level, "shelter_ids": body.shelter_ids}  # besides its zones
    return _order_action(evacuation_flows.issue, body, once, zones, runtime, **order)


@router.post("/evacuation/orders/lift", response_model=OrderResult)
def lift_order(
    body: LiftIn, user: Operator, zones: ZonesDep, runtime: RuntimeDep, once: IdempotentDep
) -> OrderResult:
    """Lift the orders in force for zones and draft the lift message (template
    `evacuation_lifted`); none in force: a no-op."""
    return _order_action(evacuation_flows.lift, body, once, zones, runtime)


def _order_action(
    flow: Callable[..., evacuation_flows.Outcome],
    body: OrderIn | LiftIn,
    once: IdempotentDep,
    zones: ZoneSet,
    runtime: Runtime,
    **args: Any,
) -> OrderResult:
    """The desk's issue or lift, done once: `flow` for the body's zones (a drill's for a drill's
    body or a drill user), answered with the orders and the broadcast drafted with them; by the
    person and in the session `once` is bound to."""
    session, user = once.session, once.user
    exercise = drill_service.is_drill(session, user, body.exercise)
    return once.run(
        lambda: _result(
            flow(
                session,
                zone_ids=body.zones(),
                actor=user.name,
                origin="operator",
                note=body.note,
                zones=zones,
                exercise=exercise,
                channels=body.channels,
                runtime=runtime,
                **args,
            ),
            zones,
        )
    )


@router.get("/evacuation/movements", response_model=list[MovementPublic])
def list_movements(
    user: Reader,
    session: SessionDep,
    exercise: DrillView,
    limit: RowLimit = 500,
) -> list[MovementPublic]:
    return [
        evacuation_service.movement_public(m)
        for m in evacuation_service.list_movements(session, limit=limit, exercise=exercise)
    ]


@router.post("/evacuation/movements", response_model=MovementPublic, status_code=201)
def record_movement(
    body: MovementIn, user: Operator, zones: ZonesDep, once: IdempotentDep
) -> MovementPublic:
    """People moved (reported to the desk by phone); field teams use /api/v1/field-reports.
    With an `Idempotency-Key`, a repeated request counts the people once."""
    return _new_movements(once, evacuation_service.record_movement, body, zones=zones)


@router.get("/evacuation/totals")
def totals(user: Reader, session: SessionDep, exercise: DrillView) -> EvacuationSummary:
    return EvacuationSummary.model_validate(evacuation_service.summary(session, exercise))
