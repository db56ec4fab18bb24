"""Drill users: everything such a user does is an exercise (the demo's replay, a field link
issued for a drill). A user is marked once, when it is made, and stays a drill user."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import false
from sqlmodel import Field, SQLModel

from emergency.db import UTCDateTime, utcnow


class DrillUser(SQLModel, table=True):
    __tablename__ = "drill_user"

    user_id: int = Field(
        primary_key=True, foreign_key="user_account.id", sa_column_kwargs={"autoincrement": False}
    )
    label: str = Field(default="", max_length=120)  # which drill, e.g. "demo" or "Yagi drill"
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(max_length=120)


def exercise_field(*, index: bool = False) -> Any:  # what sqlmodel.Field gives
    """The `exercise` column of a field-operation record: True for a drill's records, which
    real figures never count. Rows made before drills were told apart are real (false)."""
    return Field(default=False, index=index, sa_column_kwargs={"server_default": false()})
