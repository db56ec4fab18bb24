"""What the rules API accepts and returns."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from emergency.clock import IsoTime
from emergency.rules.models import PromptStatus


class PreviewIn(BaseModel):
    """A hypothetical signal state: {"SMG:tropical_cyclone": "8NE", "ZHUHAI:typhoon": null}
    (null: not in force), or a list of codes ["SMG:tropical_cyclone:8NE"]. By default these
    are set on top of the levels in force; `replace: true` uses only them."""

    model_config = ConfigDict(extra="forbid")

    signals: dict[str, str | None] | list[str] = Field(examples=[{"SMG:tropical_cyclone": "8NE"}])
    replace: bool = False

    def as_mapping(self) -> dict[str, str | None]:
        if isinstance(self.signals, dict):
            return dict(self.signals)
        return {code: None for code in self.signals}


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["done", "dismissed"]
    note: Annotated[str, Field(max_length=500)] | None = None


# --- answers ---------------------------------------------------------------------------------


class RulePublic(BaseModel):
    """A rule of config/rules.yaml and its state (of reality, or of the drills)."""

    id: str
    title: dict[str, str] = Field(description="per language")
    description: str | None
    when: JsonValue = Field(description="the rule's condition as rules.yaml writes it")
    actions: list[str] = Field(description="each action in words")
    reverse: list[str] = Field(description="what is undone when the rule stops holding")
    active: bool
    activation: int = Field(description="how many times it started holding")
    changed_at: IsoTime | None
    changed_at_local: str | None


class PlannedAction(BaseModel):
    index: int
    do: str
    summary: str
    delay_minutes: float | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # only a delayed action of a rule starting
        description="only for a delayed action of a rule that starts holding",
    )


class RuleTransition(BaseModel):
    rule_id: str
    title: dict[str, str]
    phase: Literal["on", "off"]
    actions: list[PlannedAction]


class ResponseLevelPlan(BaseModel):
    now: str | None
    would_be: str | None


class RulesPreview(BaseModel):
    """What would run if these signals were in force; nothing is written."""

    signals: dict[str, str] = Field(description="SOURCE:kind → level, as they would be")
    transitions: list[RuleTransition]
    response_level: ResponseLevelPlan
    active_now: list[str]
    active_after: list[str]


class ActionRun(BaseModel):
    """A rule action run (or scheduled): the journal's line."""

    key: str = Field(
        description="<rule>:<activation>:<phase>:<index>, `exercise:` first for a drill"
    )
    rule_id: str
    exercise: bool
    activation: int
    phase: Literal["on", "off"]
    index: int
    do: str
    status: str
    summary: str
    result: dict[str, JsonValue]
    due_at: IsoTime | None
    due_at_local: str | None
    at: IsoTime


class Evaluated(BaseModel):
    actions: list[ActionRun] = Field(description="the actions run now (none run twice)")


class PromptPublic(BaseModel):
    """What the duty operator must decide or do."""

    id: int
    kind: str = Field(description="rule, liaison_escalation")
    texts: dict[str, str] = Field(description="per language")
    rule_id: str | None
    notice_id: int | None
    exercise: bool
    status: PromptStatus
    created_at: IsoTime
    created_at_local: str
    created_by: str
    resolved_at: IsoTime | None
    resolved_by: str | None
    note: str | None


class ActiveRule(BaseModel):
    id: str
    title: dict[str, str]
    since_local: str | None


class ScheduledAction(BaseModel):
    rule_id: str
    summary: str
    due_at_local: str | None


class RulesSummary(BaseModel):
    """The situation's `rules` section: active rules, delayed actions, open prompts."""

    active: list[ActiveRule]
    scheduled: list[ScheduledAction]
    prompts_open: int
