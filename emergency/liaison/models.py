"""Hengqin-Macau liaison: contacts on the Macau side, the 24-hour hotline's call log, notices
of shared-signal changes with one acknowledgement row per contact."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import String, Text
from sqlmodel import Column, Field, SQLModel

from emergency.db import JSONType, UTCDateTime, utcnow
from emergency.drills.models import exercise_field


class LiaisonContact(SQLModel, table=True):
    __tablename__ = "liaison_contact"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=60, unique=True)  # stable slug (config/liaison.yaml)
    name: str = Field(max_length=120)  # personal data: never logged
    organisation: dict[str, str] = Field(sa_column=Column(JSONType, nullable=False))
    role: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    phone: str | None = Field(default=None, max_length=20)
    email: str | None = Field(default=None, max_length=200)
    language: str = Field(default="zh-Hant", max_length=8)
    active: bool = True
    demo: bool = False
    origin: str = Field(default="config", max_length=12)  # config or api
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by: str = Field(default="config", max_length=120)


class Direction(StrEnum):
    inbound = "inbound"  # Macau called us
    outbound = "outbound"  # we called Macau


class HotlineCall(SQLModel, table=True):
    """One call on the 24-hour Hengqin-Macau emergency line."""

    __tablename__ = "hotline_call"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    direction: Direction = Field(sa_type=String(10))
    caller: str = Field(max_length=200)  # who called / was called (name, organisation)
    contact_id: int | None = Field(default=None, foreign_key="liaison_contact.id")
    summary: str = Field(sa_column=Column(Text, nullable=False))
    follow_up: str | None = Field(default=None, sa_column=Column(Text))
    follow_up_done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    follow_up_done_by: str | None = Field(default=None, max_length=120)
    signals: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    logged_by: str = Field(max_length=120)
    logged_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Set when caller, summary and follow-up were erased (retention, or a person forgotten);
    # the row stays for the after-action report's counts.
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    exercise: bool = exercise_field()  # a drill's call (the replay logs them)


class NoticeKind(StrEnum):
    signal = "signal"  # a shared signal changed (automatic)
    rule = "rule"  # a rule's liaison action
    manual = "manual"  # written by the liaison desk


class NoticeStatus(StrEnum):
    open = "open"  # nobody has acknowledged yet
    acknowledged = "acknowledged"  # at least one contact (or the liaison desk) acknowledged
    escalated = "escalated"  # nobody acknowledged in time: the duty operator was asked to call


class LiaisonNotice(SQLModel, table=True):
    __tablename__ = "liaison_notice"

    id: int | None = Field(default=None, primary_key=True)
    kind: NoticeKind = Field(sa_type=String(10))
    # What makes a notice unique: "signal:<change id>", or "<rule journal key>".
    dedupe_key: str = Field(max_length=200, unique=True)
    texts: dict[str, str] = Field(sa_column=Column(JSONType, nullable=False))  # per language
    signal: str | None = Field(default=None, max_length=80)  # SOURCE:kind:level now
    previous: str | None = Field(default=None, max_length=80)
    signal_change_id: int | None = Field(default=None, foreign_key="signal_change.id")
    exercise: bool = False
    status: NoticeStatus = Field(default=NoticeStatus.open, sa_type=String(14), index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(max_length=200)
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)  # acknowledge before this
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


class NoticeRecipient(SQLModel, table=True):
    """One contact a notice went to, with the link token that acknowledges it."""

    __tablename__ = "liaison_notice_recipient"

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="liaison_notice.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="liaison_contact.id")
    # The ack link's secret. Kept readable: the liaison desk passes links on (a token
    # acknowledges one notice for one contact and can do nothing else). None once the link
    # has expired (TYPHOON_RETAIN_ACK_LINK_DAYS) and the retention purge dropped it.
    token: str | None = Field(default=None, max_length=64, unique=True)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=120)  # user, or "link"
    note: str | None = Field(default=None, max_length=500)
