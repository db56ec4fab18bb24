"""HTTP routes of field operations: inspection groups, trips, hazards, requests for help,
photos, field links and field reports (the phones' endpoint)."""

from __future__ import annotations

from fastapi import APIRouter, File, Header, Query, Response, UploadFile
from fastapi.responses import FileResponse

from emergency.auth.dependencies import FieldReporter, Operator, Reader, SessionDep
from emergency.dependencies import SettingsDep
from emergency.exceptions import PayloadTooLarge
from emergency.field import flows as field_flows
from emergency.field import photos as photo_service
from emergency.field import qr
from emergency.field import service as field_service
from emergency.field.dependencies import FieldRateLimited, ZonesDep
from emergency.field.schemas import (
    AssignIn,
    FieldContext,
    FieldLinkIn,
    FieldLinkPublic,
    FieldReportIn,
    FieldReportPublic,
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

router = APIRouter(prefix="/api/v1", tags=["field operations"])


# --- field reports (phones) ------------------------------------------------------------------


@router.post(
    "/field-reports",
    response_model=FieldReportPublic,
    status_code=201,
    dependencies=[FieldRateLimited],
    responses={200: {"description": "the report stored earlier under this key"}},
)
def post_field_report(
    body: FieldReportIn,
    user: FieldReporter,
    session: SessionDep,
    zones: ZonesDep,
    response: Response,
    idempotency_key: str | None = Header(
        None, alias="Idempotency-Key", description="a UUID made when the report was written"
    ),
):
    """A report from the field. The same `Idempotency-Key` again stores nothing and answers
    the stored report with 200 (201 the first time)."""
    report, created = field_flows.submit_report(
        session, user=user, key=idempotency_key, body=body, zones=zones
    )
    if not created:
        response.status_code = 200
    return field_flows.public(report)


@router.get("/field-reports", response_model=list[FieldReportPublic])
def list_field_reports(
    user: Operator,
    session: SessionDep,
    kind: str | None = None,
    limit: int = Query(200, ge=1, le=5000),
):
    return [
        field_flows.public(r) for r in field_flows.list_reports(session, kind=kind, limit=limit)
    ]


@router.get("/field/context", response_model=FieldContext)
def field_context(user: FieldReporter, session: SessionDep):
    """What the field form shows its team: group or crew, open hazards, shelters, residents."""
    return field_flows.context(session, user=user)


@router.post("/field/links", response_model=FieldLinkPublic, status_code=201)
def create_field_link(
    body: FieldLinkIn, user: Operator, session: SessionDep, settings: SettingsDep
):
    """A field token for a team's phone, and the link (or QR code) that carries it."""
    field_user, token, url = field_service.create_field_link(
        session,
        label=body.label,
        actor=user.name,
        public_url=settings.public_url,
        group_id=body.group_id,
        crew_id=body.crew_id,
    )
    return FieldLinkPublic(user=field_user.name, token=token, url=url, qr_png=qr.png_data_uri(url))


# --- photos --------------------------------------------------------------------------------


@router.post(
    "/photos",
    response_model=PhotoPublic,
    status_code=201,
    dependencies=[FieldRateLimited],
    responses={
        200: {"description": "the same photo was stored before"},
        413: {"description": "over 5 MB"},
        415: {"description": "not a JPEG, PNG or WebP image"},
    },
)
async def upload_photo(
    user: FieldReporter,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    file: UploadFile = File(...),
):
    """A photo (multipart field `file`): checked by content, metadata removed, stored once."""
    data = await file.read(photo_service.MAX_BYTES + 1)
    if len(data) > photo_service.MAX_BYTES:
        raise PayloadTooLarge(f"photo: over the limit of {photo_service.MAX_BYTES} bytes")
    from starlette.concurrency import run_in_threadpool

    photo, created = await run_in_threadpool(
        photo_service.store, session, data=data, actor=user.name, data_dir=settings.data_dir
    )
    if not created:
        response.status_code = 200
    return PhotoPublic(
        id=photo.id,
        url=f"/api/v1/photos/{photo.id}",
        content_type=photo.content_type,
        size=photo.size,
        width=photo.width,
        height=photo.height,
    )


@router.get("/photos/{photo_id}", response_class=FileResponse)
def get_photo(photo_id: str, user: Reader, session: SessionDep, settings: SettingsDep):
    photo = photo_service.get(session, photo_id=photo_id)
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
def list_groups(user: Reader, session: SessionDep):
    return [field_service.group_public(session, g) for g in field_service.list_groups(session)]


@router.post("/inspection-groups", response_model=GroupPublic, status_code=201)
def create_group(body: GroupIn, user: Operator, session: SessionDep, zones: ZonesDep):
    group = field_service.create_group(session, actor=user.name, zones=zones, **body.model_dump())
    return field_service.group_public(session, group)


@router.get("/inspection-groups/{group_id}", response_model=GroupPublic)
def get_group(group_id: int, user: Reader, session: SessionDep):
    return field_service.group_public(session, field_service.get_group(session, group_id=group_id))


@router.get("/patrol-trips", response_model=list[TripPublic])
def list_trips(
    user: Reader,
    session: SessionDep,
    group_id: int | None = None,
    limit: int = Query(500, ge=1, le=5000),
):
    return [
        field_service.trip_public(t)
        for t in field_service.list_trips(session, group_id=group_id, limit=limit)
    ]


@router.get("/inspections/totals")
def inspection_totals(user: Reader, session: SessionDep) -> dict:
    """Groups, trips, inspector person-trips, vehicle-trips, hazards by status and overdue."""
    return field_service.summary(session)


# --- hazards -------------------------------------------------------------------------------


@router.get("/hazards", response_model=list[HazardPublic])
def list_hazards(
    user: Reader,
    session: SessionDep,
    status: str | None = Query(None, description="comma-separated, e.g. open,assigned"),
    overdue: bool | None = None,
    limit: int = Query(500, ge=1, le=5000),
):
    return [
        field_service.hazard_public(h)
        for h in field_service.list_hazards(session, status=status, overdue=overdue, limit=limit)
    ]


@router.post("/hazards", response_model=HazardPublic, status_code=201)
def report_hazard(body: HazardIn, user: Operator, session: SessionDep, zones: ZonesDep):
    """A hazard reported to the desk (field teams use /api/v1/field-reports)."""
    return field_service.hazard_public(
        field_service.report_hazard(session, actor=user.name, zones=zones, **body.model_dump())
    )


@router.get("/hazards/{hazard_id}", response_model=HazardPublic)
def get_hazard(hazard_id: int, user: Reader, session: SessionDep):
    return field_service.hazard_public(field_service.get_hazard(session, hazard_id=hazard_id))


@router.post("/hazards/{hazard_id}/assign", response_model=HazardPublic)
def assign_hazard(hazard_id: int, body: AssignIn, user: Operator, session: SessionDep):
    """open → assigned (to a group or a crew, with a deadline); rectified → assigned sends it
    back when the verifier is not satisfied."""
    return field_service.hazard_public(
        field_service.assign_hazard(
            session, hazard_id=hazard_id, actor=user.name, **body.model_dump()
        )
    )


@router.post("/hazards/{hazard_id}/rectify", response_model=HazardPublic)
def rectify_hazard(hazard_id: int, body: RectifyIn, user: FieldReporter, session: SessionDep):
    return field_service.hazard_public(
        field_service.rectify_hazard(
            session, hazard_id=hazard_id, actor=user.name, **body.model_dump()
        )
    )


@router.post("/hazards/{hazard_id}/verify", response_model=HazardPublic)
def verify_hazard(hazard_id: int, body: VerifyIn, user: Operator, session: SessionDep):
    return field_service.hazard_public(
        field_service.verify_hazard(session, hazard_id=hazard_id, actor=user.name, note=body.note)
    )


# --- requests for help ---------------------------------------------------------------------


@router.get("/help-requests", response_model=list[HelpPublic])
def list_help(user: Reader, session: SessionDep, status: str | None = None):
    return [
        field_service.help_public(r)
        for r in field_service.list_help_requests(session, status=status)
    ]


@router.post("/help-requests/{help_request_id}/assign", response_model=HelpPublic)
def assign_help(help_request_id: int, body: HelpAssignIn, user: Operator, session: SessionDep):
    return field_service.help_public(
        field_service.assign_help_request(
            session, help_request_id=help_request_id, crew_id=body.crew_id, actor=user.name
        )
    )


@router.post("/help-requests/{help_request_id}/close", response_model=HelpPublic)
def close_help(help_request_id: int, user: Operator, session: SessionDep):
    return field_service.help_public(
        field_service.close_help_request(session, help_request_id=help_request_id, actor=user.name)
    )
