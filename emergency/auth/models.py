"""Users, their role, and their API tokens (stored as hashes only)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from emergency.db import UTCDateTime, utcnow


class Role(StrEnum):
    admin = "admin"
    operator = "operator"  # raise signals, draft broadcasts, manage field operations
    approver = "approver"  # approve broadcasts (never one they drafted)
    liaison = "liaison"  # Macau liaison: contacts, hotline log, acknowledgements
    field = "field"  # field reports only
    viewer = "viewer"  # read-only, live view


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80, unique=True)
    role: Role = Field(sa_type=String(20))
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # made by `typhoon serve --demo`: only such users get a demo token re-issued and shown
    demo: bool = False


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    label: str = Field(default="", max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # None: never


class UserPublic(SQLModel):
    id: int
    name: str
    role: Role
    active: bool
