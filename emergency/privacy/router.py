"""The personal-data API (admin only): forget a person, export what we hold about them.
The phone number goes in the body, so it never lands in an access log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from emergency.auth.dependencies import Admin, SessionDep
from emergency.dependencies import RuntimeDep
from emergency.privacy import service as privacy_service
from emergency.privacy.schemas import ExportPublic, ForgetPublic, PersonIn

router = APIRouter(prefix="/api/v1/subscribers", tags=["personal data"])


@router.post("/forget", response_model=ForgetPublic)
def forget(body: PersonIn, user: Admin, session: SessionDep, runtime: RuntimeDep) -> ForgetPublic:
    """Remove a person everywhere their number leads (subscriber, push subscriptions,
    vulnerable-resident records, liaison contact, hotline logs, every message's address).
    Idempotent: again, nothing is found. Audited by ids only."""
    result = privacy_service.forget(
        session,
        phone=body.phone,
        actor=user.name,
        config_phones=privacy_service.liaison_file_phones(
            runtime.settings.config_dir, runtime.catalogue
        ),
    )
    return ForgetPublic(found=result.found, **result.as_dict())


@router.post("/export", response_model=ExportPublic)
def export(body: PersonIn, user: Admin, session: SessionDep) -> dict[str, Any]:
    """Everything held about a phone number, as JSON (the person's right of access)."""
    return privacy_service.export(session, phone=body.phone, actor=user.name)
