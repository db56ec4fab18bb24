"""What the liaison API accepts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.text import body_problem
from emergency.catalogue import Language
from emergency.clock import ApiTime
from emergency.configfiles import Slug
from emergency.liaison.config import ContactName, Email, Phone, Texts


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactIn(_In):
    key: Slug
    name: ContactName
    organisation: Texts
    role: Texts | None = None
    phone: Phone | None = None
    email: Annotated[Email, Field(max_length=200)] | None = None
    language: Language = "zh-Hant"
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
