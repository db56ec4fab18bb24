"""GET /api/v1/me: who the token belongs to and what its role may do (screens use it to show
only the actions a person may take; the server still checks the role on every request)."""

from __future__ import annotations

from fastapi import APIRouter

from emergency.auth import service as auth_service
from emergency.auth.dependencies import Admin, CurrentUser, SessionDep
from emergency.auth.models import Role
from emergency.auth.schemas import Me, Revoked, Rotated
from emergency.db import stored_id
from emergency.idempotency import IdempotentDep

router = APIRouter(prefix="/api/v1", tags=["auth"])

# The same roles as the dependencies in emergency.auth.dependencies; admins may do everything.
ACTIONS: dict[str, tuple[Role, ...]] = {
    "raise_signal": (Role.operator,),
    "draft_broadcast": (Role.operator,),
    "cancel_broadcast": (Role.operator, Role.approver),
    "approve_broadcast": (Role.approver,),
    "manage_field": (Role.operator,),
    "liaison": (Role.liaison, Role.operator),
    # adding or changing the liaison contacts (the numbers notices go to): not the desk itself
    "manage_liaison_contacts": (Role.operator,),
    "field_report": (Role.field, Role.operator),
    # names and addresses of vulnerable residents (GET /api/v1/vulnerable/residents)
    "see_vulnerable": (Role.operator,),
}


def allowed(role: Role) -> dict[str, bool]:
    return {action: role == Role.admin or role in roles for action, roles in ACTIONS.items()}


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    """The caller's name and role, and which actions that role may take."""
    return Me(id=stored_id(user), name=user.name, role=user.role, can=allowed(Role(user.role)))


@router.post("/users/{name}/revoke", response_model=Revoked)
def revoke(name: str, user: Admin, session: SessionDep, once: IdempotentDep) -> Revoked:
    """Revoke every token of the user: its requests are 401 at once and its open live
    websockets close (4401) within seconds on every API process."""
    return once.run(
        lambda: Revoked(
            user=name, revoked=auth_service.revoke_tokens(session, name=name, actor=user.name)
        )
    )


@router.post("/users/{name}/rotate", response_model=Rotated)
def rotate(name: str, user: Admin, session: SessionDep) -> Rotated:
    """Revoke every token of the user and issue a new one (shown only in this answer)."""
    revoked, token = auth_service.rotate_token(session, name=name, actor=user.name)
    return Rotated(user=name, revoked=revoked, token=token)
