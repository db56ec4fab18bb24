"""What the token API returns (GET /api/v1/me, revoking and rotating a user's tokens)."""

from __future__ import annotations

from pydantic import BaseModel

from emergency.auth.models import Role


class Me(BaseModel):
    id: int
    name: str
    role: Role
    can: dict[str, bool]


class Revoked(BaseModel):
    user: str
    revoked: int


class Rotated(BaseModel):
    user: str
    revoked: int
    token: str
