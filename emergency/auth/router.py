"""GET /api/v1/me: who the token belongs to and what its role may do (screens use it to show
only the actions a person may take; the server still checks the role on every request)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from emergency.auth.dependencies import CurrentUser
from emergency.auth.models import Role

router = APIRouter(prefix="/api/v1", tags=["auth"])

# The same roles as the dependencies in emergency.auth.dependencies; admins may do everything.
ACTIONS: dict[str, tuple[Role, ...]] = {
    "raise_signal": (Role.operator,),
    "draft_broadcast": (Role.operator,),
    "cancel_broadcast": (Role.operator, Role.approver),
    "approve_broadcast": (Role.approver,),
    "manage_field": (Role.operator,),
    "liaison": (Role.liaison, Role.operator),
    "field_report": (Role.field, Role.operator),
}


class Me(BaseModel):
    id: int
    name: str
    role: Role
    can: dict[str, bool]


def allowed(role: Role) -> dict[str, bool]:
    return {action: role == Role.admin or role in roles for action, roles in ACTIONS.items()}


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    """The caller's name and role, and which actions that role may take."""
    return Me(id=user.id, name=user.name, role=user.role, can=allowed(Role(user.role)))
