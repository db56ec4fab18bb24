"""What GET /api/v1/situation returns: one section per domain, each described by its
domain's schemas."""

from __future__ import annotations

from pydantic import BaseModel, Field

from emergency.alarms.schemas import AlarmSummary
from emergency.broadcasts.schemas import BroadcastsSummary
from emergency.crews.schemas import CrewSummary
from emergency.dispatch.schemas import DispatchSummary
from emergency.evacuation.schemas import EvacuationSummary
from emergency.facilities.schemas import FacilitiesSummary
from emergency.feeds.schemas import FeedPublic
from emergency.field.schemas import FieldTotals
from emergency.liaison.schemas import LiaisonSummary
from emergency.rules.schemas import RulesSummary
from emergency.signals.schemas import ActiveSignalPublic
from emergency.vulnerable.schemas import VulnerableTotals


class Situation(BaseModel):
    """Everything the command center shows, of reality (or, `exercise: true`, of the drills
    only); personal details as the caller's role may read them (emergency.visibility)."""

    generated_at: str
    generated_at_local: str
    last_seq: int = Field(description="the live stream's last event: read on from here")
    exercise: bool
    signals: list[ActiveSignalPublic]
    response_level: ActiveSignalPublic | None
    exercise_signals: list[ActiveSignalPublic] = Field(
        description="a drill's levels, shown apart and marked EXERCISE"
    )
    facilities: FacilitiesSummary
    evacuation: EvacuationSummary
    crews: CrewSummary
    liaison: LiaisonSummary
    feeds: list[FeedPublic]
    rules: RulesSummary
    field: FieldTotals
    vulnerable: VulnerableTotals
    broadcasts: BroadcastsSummary
    alarms: AlarmSummary
    dispatch: DispatchSummary = Field(description="workers sending without Redis now")
