"""Passwords, one-time links to set them, and browser sessions (beside the API tokens)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from emergency.db import UTCDateTime, utcnow


class UserPassword(SQLModel, table=True):
    __tablename__ = "user_password"

    user_id: int = Field(
        primary_key=True, foreign_key="user_account.id", sa_column_kwargs={"autoincrement": False}
    )
    password_hash: str = Field(max_length=255)
    set_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PasswordLink(SQLModel, table=True):
    """A one-time link to set (or reset) a password."""

    __tablename__ = "password_link"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginSession(SQLModel, table=True):
    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
