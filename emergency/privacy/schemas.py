"""What the personal-data API accepts and returns."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PersonIn(BaseModel):
    """A person, by phone number (in the body, never in a URL: URLs end up in access logs)."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=3, max_length=40, examples=["+853 6612 3456", "66123456"])


class ForgetPublic(BaseModel):
    found: bool
    subscribers: list[int]
    push_subscriptions: list[int]
    vulnerable_residents: list[int]
    resident_checks: int
    liaison_contacts: list[int]
    notice_links: int
    hotline_calls: list[int]
    events: int
    messages: int
    in_flight: int = Field(description="messages being sent right now: forget again shortly")
    stored_answers: int = Field(description="stored answers of recent requests that held it")
    config_lists_it: bool = Field(
        description="config/liaison.yaml still lists the number: remove it there too"
    )
    free_text: dict[str, list[int | str]] = Field(
        description="where the number was written in words (notes, texts, live events), "
        "erased there: table → ids of the rows changed"
    )
    audit_mentions: int = Field(
        description="audit entries whose notes hold the number: kept (the chain must stay whole)"
    )


class ExportPublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    phone: str
    exported_at: str
    subscribers: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    mentioned_in: dict[str, list[dict[str, Any]]] = Field(
        description="notes and texts where someone wrote the number: table → rows (id, and "
        "each column that holds it)"
    )
