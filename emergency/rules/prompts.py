"""Prompts for the duty operator: decisions the rules leave to a person ("reopening a bridge is
a decision, not an automatism") and liaison notices nobody acknowledged in time.

`create` is idempotent on its dedupe key; every prompt is audited and streamed
(`prompt.created`, `prompt.resolved`).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from emergency.audit import service as audit_service
from emergency.clock import local_iso
from emergency.db import get_or_404, newest_first, to_public, utcnow
from emergency.events import service as event_service
from emergency.exceptions import Conflict, InvalidInput
from emergency.rules.models import OperatorPrompt, PromptStatus
from emergency.rules.schemas import PromptPublic


def create(
    session: Session,
    *,
    dedupe_key: str,
    kind: str,
    texts: dict[str, str],
    actor: str,
    rule_id: str | None = None,
    notice_id: int | None = None,
    exercise: bool = False,
) -> tuple[OperatorPrompt, bool]:
    """(prompt, created): the prompt of that key, made now unless it exists already."""
    existing = session.exec(
        select(OperatorPrompt).where(OperatorPrompt.dedupe_key == dedupe_key)
    ).first()
    if existing is not None:
        return existing, False
    prompt = OperatorPrompt(
        dedupe_key=dedupe_key,
        kind=kind,
        texts=dict(texts),
        rule_id=rule_id,
        notice_id=notice_id,
        exercise=exercise,
        created_by=actor,
    )
    audit_service.record_write(
        session,
        prompt,
        actor=actor,
        action="prompt.created",
        target_type="operator_prompt",
        after={
            "kind": kind,
            "rule_id": rule_id,
            "notice_id": notice_id,
            "exercise": exercise,
            "text": texts.get("en"),
        },
    )
    event_service.emit(session, "prompt.created", public(prompt))
    return prompt, True


def resolve(
    session: Session, *, prompt_id: int, status: str, actor: str, note: str | None = None
) -> OperatorPrompt:
    """Mark a prompt done (the decision was taken, the call made) or dismissed."""
    try:
        status = PromptStatus(status)
    except ValueError:
        raise InvalidInput("status: must be 'done' or 'dismissed'") from None
    if status == PromptStatus.open:
        raise InvalidInput("status: must be 'done' or 'dismissed'")
    prompt = get_or_404(
        session, OperatorPrompt, prompt_id, "prompt", code="prompt_not_found", lock=True
    )
    if prompt.status != PromptStatus.open:
        raise Conflict(f"prompt {prompt_id} is already {prompt.status}", code="prompt_resolved")
    prompt.status, prompt.resolved_at, prompt.resolved_by, prompt.note = (
        status,
        utcnow(),
        actor,
        note,
    )
    audit_service.record_write(
        session,
        prompt,
        actor=actor,
        action=f"prompt.{status}",
        target_type="operator_prompt",
        before={"status": "open"},
        after={"status": status, "note": note},
    )
    event_service.emit(session, "prompt.resolved", public(prompt))
    return prompt


def list_prompts(
    session: Session, *, status: str | None = "open", limit: int = 200, exercise: bool | None = None
) -> list[OperatorPrompt]:
    query = newest_first(OperatorPrompt, limit=limit, exercise=exercise)
    if status:
        query = query.where(OperatorPrompt.status == status)
    return list(session.exec(query))


def public(prompt: OperatorPrompt) -> dict[str, Any]:
    """What the API and the `prompt.*` events show of a prompt."""
    local = local_iso(prompt.created_at)
    return to_public(PromptPublic, prompt, created_at_local=local).model_dump()
