"""Twilio's webhooks: delivery receipts and replies (STOP / START / HELP).

Both are form-encoded as Twilio sends them and must carry a valid `X-Twilio-Signature`:
HMAC-SHA1 keyed by TWILIO_AUTH_TOKEN over the *public* URL Twilio called —
TYPHOON_PUBLIC_URL + the path (+ the query string) — plus the POST parameters, checked with
the SDK's `RequestValidator`. Not the URL the proxy handed on: behind TLS termination that
is http://internal-host/…, and every signature would fail. A missing or wrong signature is a
403 and changes nothing; with no auth token configured nothing can be verified, so every
call is a 403 too (configure Twilio's callbacks only with credentials set). A form over 64 kB
is a 413. An address with TYPHOON_WEBHOOK_REFUSAL_LIMIT refused calls in a minute gets 429s
instead of 403s for the rest of that minute; a correctly signed call is never counted nor
limited. The address is the TCP peer's unless it is one of TYPHOON_TRUSTED_PROXIES.

Twilio waits at most 15 s: a status callback is one conditional UPDATE and returns.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response

from alerts import receipts
from emergency import request_limits
from emergency.exceptions import Forbidden, InvalidInput, PayloadTooLarge
from emergency.settings import Settings
from emergency.subscribers import flows as subscriber_flows

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])

MAX_FORM_BYTES = 64 * 1024


async def _signed_form(request: Request) -> dict[str, str]:
    """The form of a correctly signed call. The signature is checked first: a signed call
    is never counted nor limited, whatever came from its address before (Twilio's receipts
    must not be locked out by anyone's unsigned calls). Only refusals are counted; past the
    limit a refusal is a 429 instead of a 403."""
    settings = request.app.state.settings
    try:
        return await _verified_form(request, settings)
    except Forbidden as refused:
        refusals = _refusals(request)
        if refusals is not None:
            # The limiter may ask Redis (a blocking call): from a thread. With Redis down it
            # fails open to this process's window.
            client = request_limits.client_address(request)
            allowed, retry = await asyncio.to_thread(refusals.allow, client)
            if not allowed:
                raise request_limits.too_many(
                    "webhook calls refused from this address", retry
                ) from refused
        raise


def _refusals(request: Request) -> request_limits.RequestLimiter | None:
    """Refused calls per client address (TYPHOON_WEBHOOK_REFUSAL_LIMIT a minute)."""
    limit = request.app.state.settings.webhook_refusal_limit
    if not limit:
        return None
    return request_limits.limiter(request.app, "webhook-refusals", limit=limit, window=60.0)


async def _verified_form(request: Request, settings: Settings) -> dict[str, str]:
    token = settings.secret("twilio_auth_token")
    if not token:
        raise Forbidden(
            "Twilio webhooks are refused: TWILIO_AUTH_TOKEN is not set, so no "
            "signature can be verified",
            code="webhook_not_configured",
        )
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        raise Forbidden("missing X-Twilio-Signature", code="bad_signature")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PayloadTooLarge(f"form over {MAX_FORM_BYTES} bytes")
    form = await request.form()
    params = {key: str(value) for key, value in form.multi_items()}
    url = settings.public_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    from twilio.request_validator import RequestValidator

    if not RequestValidator(token).validate(url, params, signature):
        log.warning("Twilio webhook with a wrong signature", extra={"path": request.url.path})
        raise Forbidden("X-Twilio-Signature does not match", code="bad_signature")
    return params


@router.post("/status")
async def status_callback(request: Request) -> Response:
    """A delivery receipt: applied only if it moves the message forward."""
    params = await _signed_form(request)
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if not sid or not status:
        raise InvalidInput("MessageSid and MessageStatus are required")
    db = request.app.state.db

    def apply() -> str:
        with db.unit_of_work() as session:
            return receipts.apply_status(
                session,
                provider_id=sid,
                provider_status=status,
                error_code=params.get("ErrorCode") or None,
            ).value

    result = await asyncio.to_thread(apply)
    return Response(status_code=204, headers={"X-Receipt": result})


@router.post("/inbound")
async def inbound(request: Request) -> Response:
    """A reply: STOP/START update the opt-out, HELP answers; TwiML in the sender's language."""
    params = await _signed_form(request)
    sender = params.get("From", "")
    body = params.get("Body", "")
    db = request.app.state.db

    def handle() -> str:
        with db.unit_of_work() as session:
            outcome = receipts.handle_inbound(session, from_phone=sender, body=body)
            if outcome.changed:
                subscriber_flows.record_opt_out(
                    session, outcome.change, actor="sms-reply", via="sms"
                )
            return receipts.twiml(outcome.reply)

    xml = await asyncio.to_thread(handle)
    return Response(content=xml, media_type="application/xml")
