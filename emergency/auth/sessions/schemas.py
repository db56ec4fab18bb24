"""What sign-in and setting a password accept and return."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from emergency.auth.models import Role


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=256)


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=256)


class PasswordSet(BaseModel):
    name: str
    role: Role


class SessionPublic(BaseModel):
    name: str
    role: Role
    can: dict[str, bool]
    csrf_token: str = Field(description="send it back as X-CSRF-Token on every change")
    expires_at: datetime
