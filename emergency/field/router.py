"""HTTP routes of field operations: inspection groups, trips, hazards, requests for help,
photos, field links and field reports (the phones' endpoint).

Lists show real records; `?exercise=true` (or a drill user's token) shows the drill's. A body
with `"exercise": true`, or a drill user's token, makes the change a drill's
(emergency.drills)."""

from __future__ import annotations

from datetime import timedelta

import orjson
from fastapi import APIRouter, File, Header, Query, Response, UploadFile
from fastapi.responses import FileResponse

from emergency import visibility
from emergency.auth.dependencies import FieldReporter, Operator, Reader, SessionDep
from emergency.auth.models import User
from emergency.db import to_public, utcnow
from emergency.dependencies import SettingsDep
from emergency.drills import actions
from emergency.drills import service as drill_service
from emergency.drills.dependencies import DrillView
from emergency.exceptions import PayloadTooLarge
from emergency.field import flows as field_flows
from emergency.field import photos as photo_service
from emergency.field import qr
from emergency.field import service as field_service
from emergency.field.dependencies import FieldWriter, RowLimit, ZonesDep
from emergency.field.models import FieldAccount, Hazard
from emergency.field.report_route import FieldReportRoute
from emergency.field.schemas import (
    AssignIn,
    FieldContext,
    FieldLinkIn,
    FieldLinkListed,
    FieldLinkPublic,
    FieldReportIn,
    FieldReportPublic,
    FieldTotals,
    GroupIn,
    GroupPublic,
    HazardIn,
    HazardPublic,
    HelpAssignIn,
    HelpPublic,
    PhotoPublic,
    RectifyIn,
    TripPublic,
    VerifyIn,
)
from emergency.idempotency import IdempotentDep

router = APIRouter(prefix="/api/v1", tags=["field operations"])
_hazard_steps = actions.Steps(field_service.hazard_public)
_help_steps = actions.Steps(field_service.help_public)
_new_groups = actions.Creates(field_service.group_public)
_new_hazards: actions.Creates[Hazard, HazardPublic] = actions.Creates(
    lambda _session, hazard: field_service.hazard_public(hazard)
)


# --- field reports (phones) ------------------------------------------------------------------


def post_field_report(
    body: FieldReportIn,
    user: FieldWriter,
    session: SessionDep,
    zones: ZonesDep,
    idempotency_key: str | None = Header(
        None, alias="Idempotency-Key", description="a UUID made when the report was written"
    ),
) -> Response:
    """A report from the field. The same `Idempotency-Key` again stores nothing and answers
    the stored report with 200 (201 the first time)."""
    report, created = field_flows.submit_report(
        session, user=user, key=idempotency_key, body=body, zones=zones
    )
    # The hot path (issue 18): committed here, in the thread FieldReportRoute runs it in, and
    # answered with the JSON the response model describes, made once (FastAPI would validate
    # the model again to serialise it).
    session.commit()
    return Response(
        orjson.dumps(field_flows.public_json(report)),
        status_code=201 if created else 200,
        media_type="application/json",
    )


router.add_api_route(  # before the other routes: the busiest write is matched first
    "/field-reports",
    post_field_report,
    methods=["POST"],
    route_class_override=FieldReportRoute,  # one thread, no dependency solving (issue 18)
    response_model=FieldReportPublic,
    status_code=201,
    responses={200: {"description": "the report stored earlier under this key"}},
)


@router.get("/field-reports", response_model=list[FieldReportPublic])
def list_field_reports(
    user: Operator,
    session: SessionDep,
    exercise: DrillView,
    kind: str | None = None,
    limit: RowLimit = 200,
) -> list[FieldReportPublic]:
    return [
        field_flows.public(r)
        for r in field_flows.list_reports(session, kind=kind, limit=limit, exercise=exercise)
    ]


@router.get("/field/context", response_model=FieldContext)
def field_context(user: FieldReporter, session: SessionDep) -> FieldContext:
    """What the field form shows its team: group or crew, open hazards, shelters, residents."""
    return field_flows.context(session, user=user)


@router.post("/field/links", response_model=FieldLinkPublic, status_code=201)
def create_field_link(
    body: FieldLinkIn, user: Operator, session: SessionDep, settings: SettingsDep
) -> FieldLinkPublic:
    """A field token for a team's phone, and the link (or QR code) that carries it;
    `"exercise": true` issues it for a drill (everything reported through it is an exercise);
    with `expires_in_hours` the token stops working then."""
    expires_at = (
        utcnow() + timedelta(hours=body.expires_in_hours) if body.expires_in_hours else None
    )
    field_user, token, url = field_service.create_field_link(
        session,
        actor=user.name,
        public_url=settings.public_url,
        exercise=drill_service.is_drill(session, user, body.exercise),
        expires_at=expires_at,
        **body.model_dump(exclude={"exercise", "expires_in_hours"}),
    )
    return FieldLinkPublic(
        user=field_user.name,
        token=token,
        url=url,
        expires_at=expires_at,
        qr_png=qr.png_data_uri(url),
    )


@router.get("/field/links", response_model=list[FieldLinkListed])
def list_field_links(user: Operator, session: SessionDep) -> list[FieldLinkListed]:
    """The team phones' links (never their tokens), newest first."""
    return [_link_listed(*link) for link in field_service.list_field_links(session)]


@router.post("/field/links/{user_id}/revoke", response_model=FieldLinkListed)
def revoke_field_link(
    user_id: int, user: Operator, session: SessionDep, once: IdempotentDep
) -> FieldLinkListed:
    """The link stops working at once (a lost phone); again: no change."""

    return once.run(
        lambda: _link_listed(
            *field_service.revoke_field_link(session, user_id=user_id, actor=user.name)
        )
    )


def _link_listed(account: FieldAccount, field_user: User) -> FieldLinkListed:
    return to_public(FieldLinkListed, account, user=field_user.name, active=field_user.active)


# --- photos --------------------------------------------------------------------------------


@router.post(
    "/photos",
    response_model=PhotoPublic,
    status_code=201,
    responses={
        200: {"description": "the same photo was stored before"},
        413: {"description": "over 5 MB"},
        415: {"description": "not a JPEG, PNG or WebP image"},
        507: {"description": "the photo store is full (TYPHOON_PHOTOS_MAX_MB)"},
    },
)
async def upload_photo(
    user: FieldWriter,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    file: UploadFile = File(...),
) -> PhotoPublic:
    """A photo (multipart field `file`): checked by content, metadata removed, stored once."""
    data = await file.read(photo_service.MAX_BYTES + 1)
    if len(data) > photo_service.MAX_BYTES:
        raise PayloadTooLarge(f"photo: over the limit of {photo_service.MAX_BYTES} bytes")
    from starlette.concurrency import run_in_threadpool

    quota = int(settings.photos_max_mb * 1_000_000) if settings.photos_max_mb else None
    photo, created = await run_in_threadpool(
        photo_service.store,
        session,
        data=data,
        actor=user.name,
        data_dir=settings.data_dir,
        max_total_bytes=quota,
    )
    if not created:
        response.status_code = 200
    return to_public(PhotoPublic, photo, url=f"/api/v1/photos/{photo.id}")


@router.get(
    "/photos/{photo_id}",
    response_class=FileResponse,
    responses={
        403: {"description": "a field token asking for another team's photo"},
        410: {"description": "removed by the retention rule (TYPHOON_RETAIN_PHOTOS_DAYS)"},
    },
)
def get_photo(
    photo_id: str, user: FieldReporter, session: SessionDep, settings: SettingsDep
) -> FileResponse:
    """A field photo: for operators, and for a field team its own team's photos (a photo may
    show a resident's home or face); not for viewers' screens."""
    photo = photo_service.get(session, photo_id=photo_id)
    photo_service.check_can_read(session, photo, user)
    path = photo_service.path_for(settings.data_dir, photo.id, photo.content_type)
    return FileResponse(
        path,
        media_type=photo.content_type,
        headers={
            "Cache-Control": "private, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- inspection groups and trips -----------------------------------------------------------


@router.get("/inspection-groups", response_model=list[GroupPublic])
def list_groups(user: Reader, session: SessionDep, exercise: DrillView) -> list[GroupPublic]:
    """Real groups with their real trips; `?exercise=true`: the drill's groups, and the drill's
    trips of every group."""
    groups = field_service.list_groups(session, exercise=exercise)
    if exercise:  # real groups that went out in a drill (a team training) are part of it
        trips = {t.group_id for t in field_service.list_trips(session, exercise=True, limit=5000)}
        groups += [g for g in field_service.list_groups(session) if g.id in trips]
    return [field_service.group_public(session, g, exercise) for g in groups]


@router.post("/inspection-groups", response_model=GroupPublic, status_code=201)
def create_group(
    body: GroupIn, user: Operator, zones: ZonesDep, once: IdempotentDep
) -> GroupPublic:
    """An inspection group (an `Idempotency-Key` makes a retry answer the first group)."""
    return _new_groups(once, field_service.create_group, body, zones=zones)


@router.get("/inspection-groups/{group_id}", response_model=GroupPublic)
def get_group(group_id: int, user: Reader, session: SessionDep, exercise: DrillView) -> GroupPublic:
    return field_service.group_public(
        session, field_service.get_group(session, group_id=group_id), exercise
    )


@router.get("/patrol-trips", response_model=list[TripPublic])
def list_trips(
    user: Reader,
    session: SessionDep,
    exercise: DrillView,
    group_id: int | None = None,
    limit: RowLimit = 500,
) -> list[TripPublic]:
    return [
        field_service.trip_public(t)
        for t in field_service.list_trips(
            session, group_id=group_id, limit=limit, exercise=exercise
        )
    ]


@router.get("/inspections/totals")
def inspection_totals(user: Reader, session: SessionDep, exercise: DrillView) -> FieldTotals:
    """Groups, trips, inspector person-trips, vehicle-trips, hazards by status and overdue."""
    return FieldTotals.model_validate(field_service.summary(session, exercise))


# --- hazards -------------------------------------------------------------------------------


@router.get("/hazards", response_model=list[HazardPublic])
def list_hazards(
    user: Reader,
    session: SessionDep,
    exercise: DrillView,
    status: str | None = Query(None, description="comma-separated, e.g. open,assigned"),
    overdue: bool | None = None,
    limit: RowLimit = 500,
) -> list[HazardPublic]:
    return [
        field_service.hazard_public(h)
        for h in field_service.list_hazards(
            session, status=status, overdue=overdue, limit=limit, exercise=exercise
        )
    ]


@router.post("/hazards", response_model=HazardPublic, status_code=201)
def report_hazard(
    body: HazardIn, user: Operator, zones: ZonesDep, once: IdempotentDep
) -> HazardPublic:
    """A hazard reported to the desk (field teams use /api/v1/field-reports); an
    `Idempotency-Key` makes a retry answer the first hazard (one record, one alarm)."""
    return _new_hazards(once, field_service.report_hazard, body, zones=zones)


@router.get("/hazards/{hazard_id}", response_model=HazardPublic)
def get_hazard(hazard_id: int, user: Reader, session: SessionDep) -> HazardPublic:
    return field_service.hazard_public(field_service.get_hazard(session, hazard_id=hazard_id))


@router.post("/hazards/{hazard_id}/assign", response_model=HazardPublic)
def assign_hazard(
    hazard_id: int, body: AssignIn, user: Operator, once: IdempotentDep
) -> HazardPublic:
    """open → assigned (to a group or a crew, with a deadline); rectified → assigned sends it
    back when the verifier is not satisfied."""
    return _hazard_steps(once, field_service.assign_hazard, body, hazard_id=hazard_id)


@router.post("/hazards/{hazard_id}/rectify", response_model=HazardPublic)
def rectify_hazard(
    hazard_id: int, body: RectifyIn, user: FieldReporter, once: IdempotentDep
) -> HazardPublic:
    return _hazard_steps(once, field_service.rectify_hazard, body, hazard_id=hazard_id, user=user)


@router.post("/hazards/{hazard_id}/verify", response_model=HazardPublic)
def verify_hazard(
    hazard_id: int, body: VerifyIn, user: Operator, once: IdempotentDep
) -> HazardPublic:
    return _hazard_steps(once, field_service.verify_hazard, body, hazard_id=hazard_id)


# --- requests for help ---------------------------------------------------------------------


@router.get("/help-requests", response_model=list[HelpPublic])
def list_help(
    user: Reader, session: SessionDep, exercise: DrillView, status: str | None = None
) -> list[HelpPublic]:
    """Requests for help; who is in need (note, photo, reporter) for operators only."""
    return [
        HelpPublic.model_validate(
            visibility.help_request(field_service.help_public(r).model_dump(), user.role)
        )
        for r in field_service.list_help_requests(session, status=status, exercise=exercise)
    ]


@router.post("/help-requests/{help_request_id}/assign", response_model=HelpPublic)
def assign_help(
    help_request_id: int,
    body: HelpAssignIn,
    user: Operator,
    once: IdempotentDep,
) -> HelpPublic:
    return _help_steps(
        once,
        field_service.assign_help_request,
        body,
        help_request_id=help_request_id,
    )


@router.post("/help-requests/{help_request_id}/close", response_model=HelpPublic)
def close_help(help_request_id: int, user: Operator, once: IdempotentDep) -> HelpPublic:
    return _help_steps(once, field_service.close_help_request, help_request_id=help_request_id)
