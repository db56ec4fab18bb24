"""CAP 1.2 over HTTP.

- POST /api/v1/cap (operator token): one alert, `application/cap+xml` or `application/xml`;
  201 with what it changed, 200 for a duplicate (nothing changed), 4xx for a bad alert
  (413 cap_too_large over TYPHOON_CAP_MAX_BYTES, 415, 422 cap_forbidden_dtd / cap_not_xml /
  cap_too_complex / cap_schema_invalid / cap_rule_violation / cap_unknown_signal /
  cap_sent_in_future …) with nothing stored. The parse runs in a worker thread with a
  deadline (TYPHOON_CAP_PARSE_SECONDS), never on the event loop.
- GET /api/v1/cap/received: what came in and what it did; GET /api/v1/cap/received/{id}.xml:
  the bytes exactly as received.
- GET /api/v1/cap/feed.atom, GET /api/v1/cap/alerts and GET /api/v1/cap/alerts/{identifier}.xml:
  our own alerts, public (no token), with ETags; per client address at most
  TYPHOON_CAP_FEED_RATE_LIMIT requests a minute (then 429 with Retry-After).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from emergency import request_limits
from emergency.auth.dependencies import Operator, Reader, SessionDep
from emergency.cap import flows as cap_flows
from emergency.cap import service as cap_service
from emergency.cap.alert import CAP_MIME
from emergency.cap.atom import ATOM_MIME
from emergency.cap.models import CapPublished, CapReceived
from emergency.cap.schemas import CapIngestPublic, CapPublishedPublic, CapReceivedPublic
from emergency.clock import local_iso
from emergency.db import to_public
from emergency.dependencies import RuntimeDep
from emergency.drills import service as drill_service
from emergency.exceptions import AppError, NotFound, PayloadTooLarge
from emergency.runtime import Runtime

router = APIRouter(prefix="/api/v1/cap", tags=["cap"])


def public_rate_limited(request: Request) -> None:
    """The public CAP output needs no token: each client address gets
    TYPHOON_CAP_FEED_RATE_LIMIT requests a minute across it, then 429 with Retry-After.
    Conditional requests (304) count too."""
    limit = request.app.state.settings.cap_feed_rate_limit
    if not limit:
        return
    allowed, retry = request_limits.limiter(
        request.app, "cap_feed", limit=limit, window=60.0
    ).allow(request_limits.client_address(request))
    if not allowed:
        raise request_limits.too_many("requests for the public CAP feed from this address", retry)


PublicRateLimited = Depends(public_rate_limited)

ACCEPTED_TYPES = ("application/cap+xml", "application/xml", "text/xml")


async def cap_body(request: Request) -> bytes:
    """The request body, refused before parsing when it is not XML or over the size limit."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ACCEPTED_TYPES:
        raise AppError(
            f"send the alert as application/cap+xml or application/xml, not {media_type or 'no type'!r}",
            code="unsupported_media_type",
            status_code=415,
        )
    limit = request.app.state.settings.cap_max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the alert is {declared} bytes, over the limit of {limit}", code="cap_too_large"
        )
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(
                f"the alert is over the limit of {limit} bytes", code="cap_too_large"
            )
    return bytes(body)


@router.post(
    "",
    status_code=201,
    response_model=CapIngestPublic,
    responses={200: {"description": "a duplicate: this alert was received before"}},
    openapi_extra={
        "requestBody": {
            "content": {
                CAP_MIME: {"schema": {"type": "string"}},
                "application/xml": {"schema": {"type": "string"}},
            },
            "required": True,
        }
    },
)
def post_cap(
    # The token first: FastAPI solves dependencies in order, and a stranger's body is not read.
    user: Operator,
    body: Annotated[bytes, Depends(cap_body)],
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
) -> CapIngestPublic:
    """Ingest one CAP 1.2 alert; its signals go through the same flow as an operator's."""
    result = cap_flows.ingest_cap(
        session,
        runtime=runtime,
        data=body,
        posted_by=user.name,
        drill=drill_service.is_drill_user(session, user),
    )
    record = result.record
    if result.duplicate:
        response.status_code = 200
    return to_public(
        CapIngestPublic,
        record,
        duplicate=result.duplicate,
        signals=result.signals,
        actions=[] if result.duplicate else result.actions,
        published=[] if result.duplicate else result.published,
        notices=[] if result.duplicate else result.notices,
    )


@router.get("/received", response_model=list[CapReceivedPublic])
def list_received(
    user: Reader, session: SessionDep, limit: int = Query(100, ge=1, le=1000)
) -> list[CapReceivedPublic]:
    return [_received_public(r) for r in cap_flows.list_received(session, limit=limit)]


@router.get("/received/{received_id}.xml", response_class=Response)
def get_received_xml(received_id: int, user: Reader, session: SessionDep) -> Response:
    row = cap_flows.get_received(session, received_id=received_id)
    data = row.raw if row.raw is not None else row.raw_xml.encode("utf-8")
    return Response(data, media_type=CAP_MIME)


@router.get("/alerts", response_model=list[CapPublishedPublic], dependencies=[PublicRateLimited])
def list_published(
    session: SessionDep, runtime: RuntimeDep, limit: int = Query(50, ge=1, le=500)
) -> list[CapPublishedPublic]:
    """Our own alerts, newest first (public, like the feed)."""
    return [_published_public(runtime, r) for r in cap_service.list_published(session, limit=limit)]


@router.get("/alerts/{identifier}.xml", response_class=Response, dependencies=[PublicRateLimited])
def get_alert_xml(identifier: str, session: SessionDep, request: Request) -> Response:
    """One of our alerts as CAP 1.2 XML (public: a public alert)."""
    row = cap_service.get_published(session, identifier=identifier)
    if row is None:
        raise NotFound(f"no alert {identifier!r}", code="cap_alert_not_found")
    etag = f'"{row.identifier}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(
        row.xml.encode("utf-8"),
        media_type=CAP_MIME,
        headers={"ETag": etag, "Cache-Control": "public, max-age=3600"},
    )


@router.get("/feed.atom", response_class=Response, dependencies=[PublicRateLimited])
def get_feed(session: SessionDep, runtime: RuntimeDep, request: Request) -> Response:
    """Our newest alerts (signal changes and public broadcasts) as Atom 1.0 with CAP 1.2
    entries. Public; answers 304 to a conditional request when nothing is new."""
    etag = f'"feed-{cap_service.feed_version(session)}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    data = cap_service.atom(session, runtime=runtime)
    return Response(
        data, media_type=ATOM_MIME, headers={"ETag": etag, "Cache-Control": "public, max-age=10"}
    )


def _received_public(row: CapReceived) -> CapReceivedPublic:
    return to_public(CapReceivedPublic, row, received_at_local=local_iso(row.received_at))


def _published_public(runtime: Runtime, row: CapPublished) -> CapPublishedPublic:
    return to_public(
        CapPublishedPublic,
        row,
        sent_local=local_iso(row.sent),
        url=cap_service.alert_url(runtime, row.identifier),
    )
