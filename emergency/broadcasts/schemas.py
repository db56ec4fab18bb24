"""What the broadcasts API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emergency.clock import ApiTime

VariableValue = str | int | float | dict[str, str]
Channel = Literal["sms", "push"]
CHANNELS: tuple[Channel, ...] = ("sms", "push")


def _variables_need_their_template(
    template: str | None, variables: dict[str, VariableValue]
) -> None:
    # Variables fill a template's placeholders: without one they would be dropped unnoticed.
    if variables and template is None:
        raise ValueError(
            "variables need their template: name the template whose placeholders they fill "
            "(or give the texts themselves in messages)"
        )


class BroadcastIn(BaseModel):
    """A broadcast: texts (or a template and its variables), a target, channels, a time."""

    model_config = ConfigDict(extra="forbid")

    messages: dict[str, str] | None = Field(
        default=None,
        description="text per language: zh-Hans, zh-Hant, pt, en (all four)",
        examples=[{"zh-Hans": "…", "zh-Hant": "…", "pt": "…", "en": "…"}],
    )
    template: str | None = Field(
        default=None, max_length=80, description="a template id of config/message_templates.yaml"
    )
    variables: dict[str, VariableValue] = Field(
        default_factory=dict, description="the template's variables: a text, or one per language"
    )
    zones: list[str] = Field(default_factory=list, max_length=200)
    area: dict[str, Any] | None = Field(
        default=None, description="GeoJSON Polygon or MultiPolygon (or a Feature of one)"
    )
    channels: list[Channel] = Field(default_factory=lambda: list(CHANNELS))
    send_at: ApiTime | None = Field(
        default=None, description="null: now; else a future time with its time zone"
    )
    exercise: bool = False
    title: str = Field(default="", max_length=200)
    priority: Literal["emergency", "high", "normal"] | None = Field(
        default=None,
        description="the queue lane: emergency goes before any bulk broadcast being sent; "
        "null: the template's (evacuation orders, corrections, No. 8 stay indoors: "
        "emergency), else normal",
    )

    @model_validator(mode="after")
    def _variables_with_their_template(self) -> BroadcastIn:
        _variables_need_their_template(self.template, self.variables)
        return self


class BroadcastChange(BaseModel):
    """What may change in a broadcast not yet started; any change voids its approval."""

    model_config = ConfigDict(extra="forbid")

    messages: dict[str, str] | None = None
    template: str | None = Field(default=None, max_length=80)
    variables: dict[str, VariableValue] = Field(default_factory=dict)
    zones: list[str] | None = Field(default=None, max_length=200)
    area: dict[str, Any] | None = None
    send_at: ApiTime | None = None
    priority: Literal["emergency", "high", "normal"] | None = Field(
        default=None, description="the queue lane (a change voids the approval too)"
    )

    @model_validator(mode="after")
    def _something_to_change(self) -> BroadcastChange:
        _variables_need_their_template(self.template, self.variables)
        # A change voids an approval: an empty one would void it for nothing.
        if not self.model_fields_set - {"variables"} or all(
            getattr(self, name) is None for name in self.model_fields_set - {"variables"}
        ):
            raise ValueError(
                "nothing to change: give at least one of messages, template, zones, area, "
                "send_at or priority (a change voids the broadcast's approval)"
            )
        return self


class CountsPublic(BaseModel):
    queued: int = 0
    sending: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    cancelled: int = 0


class BroadcastPublic(BaseModel):
    id: int
    status: str
    title: str
    recipients: int
    counts: CountsPublic
    by_language: dict[str, int]
    messages: dict[str, str]
    channels: list[str]
    zones: list[str]
    area: dict[str, Any] | None
    exercise: bool
    priority: str
    origin: str
    created_by: str
    created_at: datetime
    created_at_local: str | None
    approved_by: str | None
    approved_at: datetime | None
    send_at: datetime | None
    send_at_local: str | None
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_by: str | None
    cancelled_at: datetime | None
    needs_approval: bool = Field(description="waiting for a second person's approval")


class CancelPublic(BroadcastPublic):
    messages_cancelled: int


class TemplatePublic(BaseModel):
    id: str
    title: dict[str, str] = Field(description="per language: zh-Hans, zh-Hant, pt, en")
    description: str
    preapproved: bool
    priority: str
    variables: dict[str, str]
    messages: dict[str, str]


# --- POST /api/v1/broadcasts/preview -------------------------------------------------------


class ChannelCount(BaseModel):
    sms: int
    push: int


class LanguagePreview(BaseModel):
    text: str
    encoding: Literal["GSM-7", "UCS-2"]
    segments: int = Field(description="SMS segments of this text")
    characters: int
    units: int = Field(description="encoding units (a GSM-7 extension character counts 2)")
    too_long: bool = Field(description="longer than Twilio takes in one message body")
    recipients: ChannelCount
    cost: float


class AudiencePreview(BaseModel):
    total: int
    by_language: dict[str, int]
    by_channel: ChannelCount


class CostPreview(BaseModel):
    currency: str
    price_per_segment: float
    segments: int
    total: float


class EtaPreview(BaseModel):
    seconds: float = Field(description="this broadcast's own SMS at sms_rate")
    sms_rate: float
    limit_seconds: float
    within_limit: bool
    queue_ahead_messages: int = Field(description="SMS queued or sending in its lane and above")
    queue_ahead_segments: int
    queue_ahead_seconds: float
    seconds_with_queue: float = Field(description="`seconds` plus the wait behind the queue")
    lanes_ahead: list[str] = Field(description="its own lane and those above it")


class TemplateRef(BaseModel):
    id: str
    preapproved: bool
    priority: str


class BroadcastPreview(BaseModel):
    """What the composer shows before sending; nothing is stored."""

    languages: dict[str, LanguagePreview] = Field(description="per language: zh-Hans, …")
    audience: AudiencePreview
    cost: CostPreview
    eta: EtaPreview
    needs_approval: bool
    approval_threshold: int
    warnings: list[str]
    template: TemplateRef | None
    exercise: bool
    priority: str


# --- the situation's `broadcasts` section ----------------------------------------------------


class BroadcastListed(BroadcastPublic):
    """A broadcast in the situation: as GET /api/v1/broadcasts/{id}, without its `area`."""

    area: dict[str, Any] | None = Field(default=None, exclude=True)


class Reachable(BaseModel):
    reachable: int = Field(description="subscribers not opted out")
    opted_out: int


class MessageTotals(BaseModel):
    """Every message of every real broadcast (or every drill's) by status; the newest
    broadcast counted is `last_broadcast_id`."""

    held: int
    queued: int
    sending: int
    sent: int
    delivered: int
    failed: int
    cancelled: int
    last_broadcast_id: int


class BroadcastsSummary(BaseModel):
    """Broadcasts waiting, scheduled or sending (`active`, newest first) and the latest
    finished ones (`recent`), counted by status; the audience; every message by status."""

    awaiting_approval: int
    scheduled: int
    sending: int
    active: list[BroadcastListed]
    recent: list[BroadcastListed]
    subscribers: Reachable
    totals: MessageTotals
