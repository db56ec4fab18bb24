"""HTTP routes of the signals domain (thin: check, call the service, return public models)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from emergency.auth.dependencies import Operator, Reader, SessionDep
from emergency.clock import ApiTime
from emergency.dependencies import CatalogueDep, RuntimeDep
from emergency.drills import service as drill_service
from emergency.idempotency import IdempotentDep
from emergency.signals import flows
from emergency.signals import service as signal_service
from emergency.signals.models import Origin
from emergency.signals.schemas import (
    ActiveSignalPublic,
    SignalChangePublic,
    SignalChangeResult,
    SignalIn,
)

router = APIRouter(prefix="/api/v1/signals", tags=["signals"])


@router.post("", response_model=SignalChangeResult)
def post_signal(
    body: SignalIn, user: Operator, session: SessionDep, runtime: RuntimeDep, once: IdempotentDep
) -> SignalChangeResult:
    """Raise, change or lower (`"level": null`) a signal. Repeating the level in force is a no-op.

    The change sets off the rules, our CAP alert and the liaison notice (`actions`, …).
    An `Idempotency-Key` header makes a retry answer the first result. A drill user's
    change is a drill's, asked or not."""
    exercise = drill_service.is_drill(session, user, body.exercise)

    def apply() -> SignalChangeResult:
        outcome = flows.apply_signal(
            session,
            runtime=runtime,
            source=body.source,
            kind=body.kind,
            level=body.level,
            actor=user.name,
            origin=Origin.operator,
            note=body.note,
            exercise=exercise,
            expires_at=signal_service.check_expiry(body.expires_at, level=body.level),
        )
        change = outcome.change
        return SignalChangeResult(
            changed=change is not None,
            change=signal_service.change_public(change) if change else None,
            active=signal_service.active_signals(
                session, catalogue=runtime.catalogue, exercise=exercise
            ),
            actions=outcome.actions,
            published=outcome.published,
            notices=outcome.notices,
        )

    return once.run(apply)


@router.get("/active", response_model=list[ActiveSignalPublic])
def get_active(
    user: Reader, session: SessionDep, catalogue: CatalogueDep, exercise: bool = False
) -> list[ActiveSignalPublic]:
    """The levels in force (`?exercise=true`: a drill's levels)."""
    return signal_service.active_signals(session, catalogue=catalogue, exercise=exercise)


@router.get("", response_model=list[SignalChangePublic])
def get_history(
    user: Reader,
    session: SessionDep,
    source: str | None = None,
    kind: str | None = None,
    since: ApiTime | None = None,
    limit: int = Query(200, ge=1, le=5000),
    exercise: bool | None = None,
) -> list[SignalChangePublic]:
    changes = signal_service.history(
        session, source=source, kind=kind, since=since, limit=limit, exercise=exercise
    )
    return [signal_service.change_public(c) for c in changes]
