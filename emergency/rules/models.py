"""The rules engine's memory: whether each rule holds (per real world and drill), the journal
of every action it ran, and the prompts it (and the liaison escalation) leaves for the duty
operator."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import String, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from emergency.db import JSONType, UTCDateTime, utcnow


class RuleState(SQLModel, table=True):
    """Whether a rule's condition holds; `activation` counts the times it became true."""

    __tablename__ = "rule_state"
    __table_args__ = (UniqueConstraint("rule_id", "exercise"),)

    id: int | None = Field(default=None, primary_key=True)
    rule_id: str = Field(max_length=60)
    exercise: bool = False
    active: bool = False
    activation: int = 0
    changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    trigger_change_id: int | None = Field(default=None)  # the signal change that flipped it


class RunStatus(StrEnum):
    done = "done"  # it changed something
    unchanged = "unchanged"  # already so (an idempotent service said nothing to do)
    scheduled = "scheduled"  # a delayed action, waiting for due_at
    cancelled = "cancelled"  # a delayed action whose rule stopped holding first
    overridden = "overridden"  # a delayed action skipped: a person decided otherwise since
    simulated = "simulated"  # a drill: recorded, not done
    failed = "failed"  # an error; the rest of the rule still ran


class RuleActionRun(SQLModel, table=True):
    """One action of one activation (phase `on`) or de-activation (`off`) of a rule.

    `key` = "<rule>:<activation>:<phase>:<index>" (with an "exercise:" prefix for a drill) is
    unique: a repeated CAP, a re-evaluation or a restart finds the key and does nothing.
    """

    __tablename__ = "rule_action_run"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    rule_id: str = Field(max_length=60, index=True)
    exercise: bool = False
    activation: int
    phase: str = Field(max_length=4)  # on, off
    index: int
    do: str = Field(max_length=30)
    action: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    status: RunStatus = Field(sa_type=String(10), index=True)
    summary: str = Field(default="", max_length=500)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    trigger_change_id: int | None = Field(default=None)


def is_reverse_key(key: str | None) -> bool:
    """Whether a run key ("<rule>:<activation>:off:<index>", also the idempotency key of the
    broadcast the run made) is a reverse action's: something sent because a condition
    stopped holding."""
    parts = (key or "").split(":")
    return len(parts) >= 4 and parts[-2] == "off" and parts[-1].isdigit()


class PromptStatus(StrEnum):
    open = "open"
    done = "done"
    dismissed = "dismissed"


class OperatorPrompt(SQLModel, table=True):
    """Something the duty operator must decide or do (reopen a bridge, phone Macau)."""

    __tablename__ = "operator_prompt"

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=30)  # rule, liaison_escalation
    texts: dict[str, str] = Field(sa_column=Column(JSONType, nullable=False))  # per language
    rule_id: str | None = Field(default=None, max_length=60)
    notice_id: int | None = Field(default=None)
    exercise: bool = False
    status: PromptStatus = Field(default=PromptStatus.open, sa_type=String(10), index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(max_length=120)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by: str | None = Field(default=None, max_length=120)
    note: str | None = Field(default=None, max_length=500)
