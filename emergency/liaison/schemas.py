"""What the liaison API accepts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emergency.liaison.config import Phone, Slug, Texts

Language = Literal["zh-Hans", "zh-Hant", "pt", "en"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactIn(_In):
    key: Slug
    name: Annotated[str, Field(min_length=1, max_length=120)]
    organisation: Texts
    role: Texts | None = None
    phone: Phone | None = None
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=200)] | None = (
        None
    )
    language: Language = "zh-Hant"
    active: bool = True


class ContactUpdate(_In):
    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    organisation: Texts | None = None
    role: Texts | None = None
    phone: Phone | None = None
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=200)] | None = (
        None
    )
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
    at: datetime | None = Field(default=None, description="when the call was (default: now)")


class NoticeIn(_In):
    """A notice written by the liaison desk, to every active contact."""

    texts: Texts


class AckIn(_In):
    contact_id: int | None = Field(
        default=None, description="the contact who acknowledged (by phone); none: the desk"
    )
    note: Annotated[str, Field(max_length=500)] | None = None


class LinkAckIn(_In):
    note: Annotated[str, Field(max_length=500)] | None = None
