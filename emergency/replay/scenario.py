"""A storm scenario: a timeline of steps, each one call of the HTTP API (config/scenarios/).

Loaded with `emergency.configfiles.load_yaml`, so a mistake names file:line:field. Steps are a
union tagged by `do`; the cross-checks (steps must be in time order, a step may only name a
group, crew, hazard, resident or broadcast that an earlier step made) are `_check_references`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from emergency.configfiles import ConfigProblem, load_yaml

Languages = dict[Literal["zh-Hans", "zh-Hant", "pt", "en"], str]


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime


class SignalStep(_Step):
    do: Literal["signal"]
    source: str
    kind: str
    level: str | None


class FeedStep(_Step):
    """A CAP 1.2 alert (status Exercise) as a feed would bring it; level null cancels."""

    do: Literal["feed"]
    source: str
    kind: str
    level: str | None
    headline: str = Field(min_length=1, max_length=200)


class GroupStep(_Step):
    do: Literal["inspection_group"]
    name: str = Field(min_length=1, max_length=120)
    zones: list[str] = []
    members: list[str] = []
    vehicles: list[str] = []


class CheckInStep(_Step):
    do: Literal["check_in"]
    group: str
    persons: int = Field(ge=0, le=1000)
    vehicles: int = Field(ge=0, le=100)
    lat: float | None = None
    lon: float | None = None


class CheckOutStep(_Step):
    do: Literal["check_out"]
    group: str
    lat: float | None = None
    lon: float | None = None


class HazardStep(_Step):
    do: Literal["hazard"]
    key: str
    group: str
    hazard_kind: str
    severity: str
    lat: float
    lon: float
    place: str | None = None


class RectifiedStep(_Step):
    do: Literal["rectified"]
    hazard: str
    group: str


class CrewStep(_Step):
    do: Literal["crew"]
    name: str = Field(min_length=1, max_length=120)
    headcount: int = Field(ge=0, le=10_000)
    station: str | None = None
    status: str = "standby"


class CrewStatusStep(_Step):
    do: Literal["crew_status"]
    crew: str
    status: str


class ShelterStep(_Step):
    do: Literal["shelter"]
    shelter: str
    open: bool


class EvacuateStep(_Step):
    do: Literal["evacuate"]
    people: int = Field(ge=1, le=5000)
    shelter: str | None = None
    to_place: str | None = None
    from_place: str | None = None
    lat: float | None = None
    lon: float | None = None


class ResidentStep(_Step):
    do: Literal["resident"]
    key: str
    name: str
    address: str
    community: str | None = None
    needs: str | None = None


class ResidentCheckStep(_Step):
    do: Literal["resident_check"]
    resident: str
    state: Literal["reached", "not_reached", "needs_help"]


class BroadcastStep(_Step):
    do: Literal["broadcast"]
    # names it for a later `approve` step (a template not pre-approved waits for one)
    key: str | None = None
    title: str = Field(min_length=1, max_length=200)
    template: str | None = None
    variables: dict[str, str | Languages] = {}
    messages: Languages | None = None
    zones: list[str] = Field(min_length=1)
    channels: list[Literal["sms", "push"]] = ["sms"]


class ApproveStep(_Step):
    """The second person's approval of an earlier broadcast step (the two-person rule in a
    drill): made with the replay's approver token; without one it is left to a person at the
    dashboard."""

    do: Literal["approve"]
    broadcast: str


class LiaisonCallStep(_Step):
    do: Literal["liaison_call"]
    direction: Literal["inbound", "outbound"]
    caller: str
    summary: str
    follow_up: str | None = None


Step = Annotated[
    SignalStep
    | FeedStep
    | GroupStep
    | CheckInStep
    | CheckOutStep
    | HazardStep
    | RectifiedStep
    | CrewStep
    | CrewStatusStep
    | ShelterStep
    | EvacuateStep
    | ResidentStep
    | ResidentCheckStep
    | BroadcastStep
    | ApproveStep
    | LiaisonCallStep,
    Field(discriminator="do"),
]


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    steps: list[Step] = Field(min_length=1)

    @property
    def start(self) -> datetime:
        return self.steps[0].at

    def of(self, *kinds: type[_Step]) -> list[Any]:
        """The steps of the given kinds, in order (the tests count figures with this)."""
        return [s for s in self.steps if isinstance(s, kinds)]


# Which field of a step names what an earlier step made: (field, the step kind that makes it,
# the field of that step that is the name).
_REFERENCES: dict[type[_Step], tuple[str, type[_Step], str]] = {
    CheckInStep: ("group", GroupStep, "name"),
    CheckOutStep: ("group", GroupStep, "name"),
    HazardStep: ("group", GroupStep, "name"),
    RectifiedStep: ("hazard", HazardStep, "key"),
    CrewStatusStep: ("crew", CrewStep, "name"),
    ResidentCheckStep: ("resident", ResidentStep, "key"),
    ApproveStep: ("broadcast", BroadcastStep, "key"),
}


def _check_references(scenario: Scenario) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    made: dict[type[_Step], set[str]] = {}
    previous = None
    for i, step in enumerate(scenario.steps):
        if previous is not None and step.at < previous:
            problems.append(
                ConfigProblem(
                    ("steps", i, "at"), "steps must be in time order (earlier than the last)"
                )
            )
        previous = step.at
        ref = _REFERENCES.get(type(step))
        if ref is not None:
            field, maker, _ = ref
            if getattr(step, field) not in made.get(maker, set()):
                problems.append(
                    ConfigProblem(
                        ("steps", i, field),
                        f"{getattr(step, field)!r} is not made by an earlier step",
                    )
                )
        if isinstance(step, GroupStep | CrewStep):
            made.setdefault(type(step), set()).add(step.name)
        elif isinstance(step, HazardStep | ResidentStep) or (
            isinstance(step, BroadcastStep) and step.key
        ):
            made.setdefault(type(step), set()).add(str(step.key))
    return problems


def load(path: str | Path) -> Scenario:
    """Load and check a scenario file; raises ConfigFileError naming file:line:field."""
    return load_yaml(path, Scenario, checks=[_check_references])


def resolve(name: str, config_dir: Path) -> Path:
    """A scenario by path, or by name under config/scenarios/ ("yagi" → yagi.yaml)."""
    path = Path(name)
    if path.exists():
        return path
    for candidate in (config_dir / "scenarios" / name, config_dir / "scenarios" / f"{name}.yaml"):
        if candidate.exists():
            return candidate
    known = sorted(p.stem for p in (config_dir / "scenarios").glob("*.yaml"))
    raise FileNotFoundError(
        f"unknown scenario {name!r}: no such file, and not one of "
        f"{', '.join(known) or 'none'} in {config_dir / 'scenarios'}"
    )
