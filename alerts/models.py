"""The tables of mass dispatch: subscribers, push subscriptions, broadcasts and their messages.

The message table is the outbox: every message of a broadcast is a row here before anything
is queued, and its row is the truth about it (the queue only carries ids). One row per
(broadcast, dedupe_key): a phone or a push endpoint gets a broadcast once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint, true
from sqlmodel import Column, Field, SQLModel

from alerts.sqltypes import JSONType, UTCDateTime, utcnow

LANGUAGES = ("zh-Hans", "zh-Hant", "pt", "en")


class Channel(StrEnum):
    sms = "sms"
    push = "push"


class BroadcastStatus(StrEnum):
    draft = "draft"
    awaiting_approval = "awaiting_approval"
    scheduled = "scheduled"
    sending = "sending"
    completed = "completed"
    cancelled = "cancelled"


class MessageStatus(StrEnum):
    held = "held"  # a direct send awaiting approval: stored, not queued (approval queues it)
    queued = "queued"  # stored, on (or about to be put on) the queue
    sending = "sending"  # claimed by a worker; the provider call may be under way
    sent = "sent"  # the provider accepted it (has its id)
    delivered = "delivered"  # the handset / push service confirmed
    failed = "failed"  # permanent error, or the provider said failed/undelivered
    cancelled = "cancelled"  # the broadcast was cancelled before it left


class Subscriber(SQLModel, table=True):
    __tablename__ = "subscriber"

    id: int | None = Field(default=None, primary_key=True)
    phone: str | None = Field(default=None, max_length=20, unique=True)  # E.164
    language: str = Field(max_length=8)
    lat: float | None = None
    lon: float | None = None
    zone_id: str | None = Field(default=None, max_length=60, index=True)
    channels: str = Field(default="sms", max_length=20)  # comma-separated Channel values
    name: str | None = Field(default=None, max_length=120)  # personal data: never logged
    tags: str = Field(default="", max_length=200)
    exercise_list: bool = Field(default=False, index=True)  # may receive exercise broadcasts
    opted_out: bool = Field(default=False, index=True)
    opted_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PushSubscription(SQLModel, table=True):
    """A browser's web-push subscription (from the dashboard or the field page)."""

    __tablename__ = "push_subscription"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int | None = Field(default=None, foreign_key="subscriber.id", index=True)
    endpoint: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=60)
    language: str = Field(default="zh-Hans", max_length=8)
    lat: float | None = None
    lon: float | None = None
    zone_id: str | None = Field(default=None, max_length=60, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Broadcast(SQLModel, table=True):
    __tablename__ = "broadcast"

    id: int | None = Field(default=None, primary_key=True)
    status: BroadcastStatus = Field(default=BroadcastStatus.draft, sa_type=String(20), index=True)
    title: str = Field(default="", max_length=200)
    messages: dict[str, str] = Field(sa_column=Column(JSONType, nullable=False))  # per language
    zones: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    area: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))  # GeoJSON
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    exercise: bool = False
    # The queue lane its messages travel in (alerts.dispatch.lanes): emergency, high, normal.
    priority: str = Field(
        default="normal", max_length=12, sa_column_kwargs={"server_default": "normal"}
    )
    send_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recipients: int = 0  # the audience counted when it was drafted, then when it was sent
    by_language: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    origin: str = Field(default="operator", max_length=120)  # operator, or rule:<id>
    # A caller-supplied key makes creation idempotent (a rule firing twice creates one).
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)
    created_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    approved_by: str | None = Field(default=None, max_length=120)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_by: str | None = Field(default=None, max_length=120)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The outbox rows of a big audience are written in chunks after the start (see
    # alerts.broadcasts.service): False until the last is; the cursor says where the next
    # chunk begins ("push:<push subscription id>" or "sms:<subscriber id>", the last seen).
    audience_complete: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
    audience_cursor: str | None = Field(default=None, max_length=40)


class Message(SQLModel, table=True):
    """One message to one recipient on one channel: the outbox row."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "dedupe_key", name="uq_message_broadcast_dedupe"),
        Index("ix_message_broadcast_status", "broadcast_id", "status"),
        Index("ix_message_status_next_attempt", "status", "next_attempt_at"),
        # The retention purge finds the messages whose addresses are still kept, oldest first.
        Index("ix_message_erased_queued", "erased_at", "queued_at"),
    )

    # BIGINT on PostgreSQL; on SQLite only INTEGER PRIMARY KEY autoincrements.
    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    broadcast_id: int = Field(foreign_key="broadcast.id")
    channel: Channel = Field(sa_type=String(8))
    subscriber_id: int | None = Field(default=None, foreign_key="subscriber.id")
    # indexed: removing a gone push subscription detaches its messages
    push_subscription_id: int | None = Field(
        default=None, foreign_key="push_subscription.id", index=True
    )
    dedupe_key: str = Field(max_length=120)  # "sms:+85366123456" or "push:<endpoint hash>"
    address: str = Field(sa_column=Column(Text, nullable=False))  # phone, or push endpoint
    language: str = Field(max_length=8)
    # A text of this recipient's own (a liaison notice with the contact's acknowledgement
    # link); None: the broadcast's text in `language`.
    body: str | None = Field(default=None, sa_column=Column(Text))
    segments: int = 1
    status: MessageStatus = Field(default=MessageStatus.queued, sa_type=String(12))
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=80)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    provider_id: str | None = Field(default=None, max_length=80, index=True)  # Twilio SID
    provider_status: str | None = Field(default=None, max_length=20)
    error_code: str | None = Field(default=None, max_length=20)
    error_message: str | None = Field(default=None, max_length=300)
    queued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Set when the address, the dedupe key and a text of its own were erased (retention, or
    # the person asked to be forgotten): `address` is then "" and `dedupe_key` "erased:<id>".
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PushVapidKey(SQLModel, table=True):
    """The development VAPID key pair, generated once when VAPID_* settings are unset, so the
    key that browsers subscribed with stays the same across restarts and processes."""

    __tablename__ = "push_vapid_key"

    id: int = Field(default=1, primary_key=True)  # one row
    # base64url raw scalar, encrypted with TYPHOON_SECRET_KEY ("fernet:…"; never plaintext)
    private_key: str = Field(max_length=200)
    public_key: str = Field(max_length=200)  # base64url uncompressed point
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PendingReceipt(SQLModel, table=True):
    """A Twilio status callback that arrived before its message had a provider id (the
    callback can beat the worker's own write); applied later by a periodic job."""

    __tablename__ = "pending_receipt"

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(max_length=80, index=True)
    provider_status: str = Field(max_length=20)
    error_code: str | None = Field(default=None, max_length=20)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
