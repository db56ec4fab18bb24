"""What the liaison API accepts and returns."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.text import body_problem
from emergency.catalogue import Language
from emergency.clock import ApiTime, IsoTime
from emergency.liaison.config import ContactFields, ContactName, Email, Phone, Texts
from emergency.liaison.models import Direction, NoticeKind, NoticeStatus


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactIn(ContactFields, _In):
    email: Annotated[Email, Field(max_length=200)] | None = None
    active: bool = True


class ContactUpdate(_In):
    name: ContactName | None = None
    organisation: Texts | None = None
    role: Texts | None = None
    phone: Phone | None = None
    email: Annotated[Email, Field(max_length=200)] | None = None
    language: Language | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> ContactUpdate:
        # Left out means unchanged; null clears only what a contact may lack (phone, email, role).
        nulls = [
            name
            for name in ("name", "organisation", "language", "active")
            if name in self.model_fields_set and getattr(self, name) is None
        ]
        if nulls:
            raise ValueError(f"may not be null: {', '.join(nulls)}")
        return self


class CallIn(_In):
    direction: Literal["inbound", "outbound"]
    caller: Annotated[str, Field(min_length=1, max_length=200)]
    summary: Annotated[str, Field(min_length=1, max_length=4000)]
    follow_up: Annotated[str, Field(max_length=2000)] | None = None
    contact_id: int | None = None
    at: ApiTime | None = Field(default=None, description="when the call was (default: now)")
    exercise: bool = Field(default=False, description="a drill's call (counted apart)")


# Each contact's SMS is the notice, then their own acknowledgement link (and a drill mark):
# room kept for those within Twilio's body limit (alerts.text.body_problem).
NOTICE_LINK_RESERVE = 200


class NoticeIn(_In):
    """A notice written by the liaison desk, to every active contact."""

    texts: Texts

    @model_validator(mode="after")
    def _fits_an_sms(self) -> NoticeIn:
        for language, text in self.texts.items():
            problem = body_problem(text, reserve=NOTICE_LINK_RESERVE)
            if problem:
                raise ValueError(f"texts.{language}: {problem}")
        return self


class AckIn(_In):
    contact_id: int | None = Field(
        default=None, description="the contact who acknowledged (by phone); none: the desk"
    )
    note: Annotated[str, Field(max_length=500)] | None = None


class LinkAckIn(_In):
    note: Annotated[str, Field(max_length=500)] | None = None


# --- answers ---------------------------------------------------------------------------------


class ContactPublic(BaseModel):
    id: int
    key: str
    name: str
    organisation: dict[str, str] = Field(description="per language")
    role: dict[str, str] | None = Field(description="per language (null: none given)")
    phone: str | None
    email: str | None
    language: str
    active: bool
    demo: bool
    origin: str = Field(description="`config` (config/liaison.yaml) or `api`")
    updated_at: IsoTime


class CallPublic(BaseModel):
    """A call of the hotline, with the signals in force at the time."""

    id: int
    at: IsoTime
    at_local: str
    direction: Direction
    caller: str
    contact_id: int | None
    summary: str
    follow_up: str | None
    follow_up_done_at: IsoTime | None
    follow_up_done_by: str | None
    exercise: bool
    signals: list[str]
    logged_by: str


class RecipientPublic(BaseModel):
    contact_id: int | None
    acknowledged_at: IsoTime | None
    acknowledged_by: str | None = Field(description="a user's name, or `link`")
    sms: str | None = Field(description="the status of the contact's SMS, when one was sent")
    ack_url: str | None = Field(description="the contact's link (none once it has expired)")


class NoticePublic(BaseModel):
    id: int
    kind: NoticeKind
    texts: dict[str, str] = Field(description="per language")
    signal: str | None = Field(description="SOURCE:kind:level now")
    previous: str | None
    signal_change_id: int | None
    exercise: bool
    status: NoticeStatus
    created_at: IsoTime
    created_at_local: str
    created_by: str
    due_at: IsoTime = Field(description="acknowledged before this, or escalated")
    due_at_local: str
    acknowledged_at: IsoTime | None
    escalated_at: IsoTime | None
    sms_broadcast_id: int | None
    recipients: list[RecipientPublic]


class AckLinkView(BaseModel):
    """GET /api/v1/liaison/ack/{token} as JSON (a browser asking for HTML gets a page)."""

    notice_id: int
    texts: dict[str, str]
    signal: str | None
    created_at_local: str
    acknowledged: bool
    exercise: bool


class AckLinkDone(BaseModel):
    notice_id: int
    status: NoticeStatus
    acknowledged: Literal[True]


class NoticeLine(BaseModel):
    """A notice in the situation's `liaison` section."""

    id: int
    kind: NoticeKind
    signal: str | None
    status: NoticeStatus
    exercise: bool
    created_at_local: str
    due_at_local: str


class LiaisonSummary(BaseModel):
    """The situation's `liaison` section (real notices and calls, or the drills')."""

    contacts: int = Field(description="active contacts")
    notices_open: int
    notices_escalated: int
    follow_ups_open: int
    latest: list[NoticeLine] = Field(description="the five newest notices")
