"""What the subscribers and push API accept and return."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SubscriberIn(BaseModel):
    """One subscriber added by an operator (e.g. a resident who phoned the hotline)."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=40, examples=["+853 6612 3456", "13812345678"])
    language: str = Field(
        max_length=20,
        examples=["zh-Hant"],
        description="zh-Hans, zh-Hant, pt, en (zh-CN, zh-TW, pt-PT… accepted)",
    )
    lat: float | None = None
    lon: float | None = None
    zone: str | None = Field(default=None, max_length=60)
    channels: list[str] = Field(default_factory=lambda: ["sms"])
    name: str | None = Field(default=None, max_length=120)
    tags: list[str] = Field(default_factory=list, max_length=20)
    exercise: bool = Field(default=False, description="on the exercise list (drills reach it)")


class SubscriberPublic(BaseModel):
    id: int
    phone: str = Field(description="masked: only the last 4 digits are shown")
    language: str
    zone_id: str | None
    has_location: bool
    channels: list[str]
    tags: list[str]
    exercise_list: bool
    opted_out: bool


class OptOutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=40)
    opted_out: bool = True


class OptOutPublic(BaseModel):
    subscriber_id: int
    opted_out: bool
    changed: bool


class VapidPublicKey(BaseModel):
    public_key: str = Field(description="base64url, for pushManager.subscribe()")


class PushKeys(BaseModel):
    model_config = ConfigDict(extra="ignore")

    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=60)


class BrowserSubscription(BaseModel):
    """The browser's PushSubscription.toJSON()."""

    model_config = ConfigDict(extra="ignore")  # expirationTime and what browsers add

    endpoint: str = Field(max_length=2000)
    keys: PushKeys


class PushSubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subscription: BrowserSubscription
    language: str = Field(default="zh-Hans", max_length=20)
    lat: float | None = None
    lon: float | None = None
    zone: str | None = Field(default=None, max_length=60)
    exercise: bool = Field(
        default=False, description="staff browsers only (needs a token): drills reach this browser"
    )


class PushSubscriptionPublic(BaseModel):
    id: int
    created: bool
    language: str
    zone_id: str | None
    island_wide: bool = Field(description="no location or zone: receives every public broadcast")
    exercise: bool


class PushUnsubscribeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(max_length=2000)


class SubscriberStats(BaseModel):
    """GET /api/v1/subscribers/stats: the by_* counts are of those not opted out."""

    total: int
    active: int
    opted_out: int
    exercise_list: int = Field(description="on the exercise list and not opted out")
    by_language: dict[str, int]
    by_zone: dict[str, int] = Field(description="home community (`none`: without one)")
    by_channel: dict[str, int] = Field(description="sms, push")
    push_subscriptions: int
