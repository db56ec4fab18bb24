"""config/rules.yaml: when a condition over the active signals holds, which actions run, and
which run (or which decision is asked of the duty operator) when it stops holding.

    rules:
      - id: smg_tc_8
        title: {en: Macau Signal No. 8 or above, zh-Hans: 澳门八号风球或以上}
        when: {signal: SMG:tropical_cyclone, at_least: 8NE}
        actions:
          - {do: facility, facility: lotus_bridge, status: closing}
          - {do: facility, facility: lotus_bridge, status: closed, delay_minutes: 90}
        reverse:
          - {do: prompt, text: {en: Reopen the Lotus Bridge? A decision, not an automatism.}}

Conditions: `signal: SOURCE:kind` with `at_least: level` (by rank: 8SE counts as 8NE),
`is: [levels]`, or neither (any level in force); `any: [conditions]`, `all: [conditions]`.
Actions (`do:`): facility, crews_standby, response_level, liaison, broadcast, evacuate,
lift_evacuation, shelters, prompt (see each model below).

Everything named is checked when the file is loaded, against the signal catalogue, the
facilities and their statuses (config/facilities.yaml), the zones and shelters (config/zones)
and the message templates (config/message_templates.yaml, when present), so that a wrong
level, zone or facility stops the start with file:line:field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from emergency.catalogue import Catalogue, CatalogueError, Language, SignalName, source_and_kind
from emergency.configfiles import ConfigProblem, Loc, Slug, WithAnchors, load_yaml

if TYPE_CHECKING:
    from geo.zones import ZoneSet


def _english_and_chinese(texts: dict[str, str]) -> dict[str, str]:
    missing = [lang for lang in ("en", "zh-Hans") if not str(texts.get(lang, "")).strip()]
    if missing:
        raise ValueError(f"missing for {', '.join(missing)} (en and zh-Hans at least)")
    return texts


Texts = Annotated[dict[Language, str], AfterValidator(_english_and_chinese)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, coerce_numbers_to_str=True, populate_by_name=True
    )


# --- conditions --------------------------------------------------------------------------


class SignalCondition(_Model):
    signal: SignalName
    at_least: str | None = None
    is_: list[str] | None = Field(default=None, alias="is", min_length=1)

    @model_validator(mode="after")
    def _one_test(self) -> SignalCondition:
        if self.at_least is not None and self.is_ is not None:
            raise ValueError("give at_least or is, not both")
        return self

    @property
    def target(self) -> tuple[str, str]:
        return source_and_kind(self.signal)

    def holds(self, levels: dict[tuple[str, str], str], catalogue: Catalogue) -> bool:
        source, kind = catalogue.canonical(*self.target, None)[:2]
        level = levels.get((source, kind))
        if level is None:
            return False
        if self.at_least is not None:
            return catalogue.at_least(source, kind, level, self.at_least)
        if self.is_ is not None:
            wanted = {catalogue.level(source, kind, lv).id for lv in self.is_}
            return level in wanted
        return True

    def signals(self) -> Iterator[tuple[str, str]]:
        yield self.target


class AnyCondition(_Model):
    any: Annotated[list[Condition], Field(min_length=1)]

    def holds(self, levels: dict[tuple[str, str], str], catalogue: Catalogue) -> bool:
        return any(c.holds(levels, catalogue) for c in self.any)

    def signals(self) -> Iterator[tuple[str, str]]:
        for c in self.any:
            yield from c.signals()


class AllCondition(_Model):
    all: Annotated[list[Condition], Field(min_length=1)]

    def holds(self, levels: dict[tuple[str, str], str], catalogue: Catalogue) -> bool:
        return all(c.holds(levels, catalogue) for c in self.all)

    def signals(self) -> Iterator[tuple[str, str]]:
        for c in self.all:
            yield from c.signals()


def _condition_tag(value: Any) -> str:
    if isinstance(value, dict):
        if "any" in value:
            return "any"
        if "all" in value:
            return "all"
    return "signal"


Condition = Annotated[
    Union[  # noqa: UP007 (a forward-referencing union of tagged members)
        Annotated[SignalCondition, Tag("signal")],
        Annotated[AnyCondition, Tag("any")],
        Annotated[AllCondition, Tag("all")],
    ],
    Discriminator(_condition_tag),
]
AnyCondition.model_rebuild()
AllCondition.model_rebuild()


# --- actions -----------------------------------------------------------------------------


class ZoneTarget(_Model):
    """Zones by id and/or by kind (all zones of that kind in config/zones)."""

    zones: list[str] = []
    zone_kinds: list[str] = []

    @model_validator(mode="after")
    def _some(self) -> ZoneTarget:
        if not self.zones and not self.zone_kinds:
            raise ValueError("give zones, zone_kinds, or both")
        return self


class FacilityAction(_Model):
    """Set a facility's status; `delay_minutes` runs it that much later (if the rule still
    holds then), e.g. the Lotus Bridge closed ~90 minutes after Signal No. 8."""

    do: Literal["facility"]
    facility: Slug
    status: Slug
    note: str | None = None
    delay_minutes: Annotated[float, Field(gt=0, le=24 * 60)] | None = None


class CrewsStandbyAction(_Model):
    """Every resting or released crew to standby."""

    do: Literal["crews_standby"]


class ResponseLevelAction(_Model):
    """The command post's response level this rule asks for; the highest level asked by the
    rules that hold is in force, recomputed whenever one stops holding. A level set by an
    operator is never lowered by the rules."""

    do: Literal["response_level"]
    level: str


class LiaisonAction(_Model):
    """A notice to every active Macau liaison contact (acknowledged and escalated like the
    automatic signal notices)."""

    do: Literal["liaison"]
    text: Texts


class Computed(_Model):
    """A template variable filled when the rule runs: `trigger_time` (local time of the
    signal change that fired the rule, e.g. 22:00), `trigger_signal` (that signal's short
    name, per language; for a lowering, the level lowered), `zone_names` (the names of the
    target zones, per language)."""

    from_: Literal["trigger_time", "trigger_signal", "zone_names"] = Field(alias="from")


Variable = str | dict[Language, str] | Computed


class BroadcastAction(ZoneTarget):
    """A public broadcast from a template of config/message_templates.yaml to zones; `send:
    auto` sends it at once (the template must be pre-approved), `approval` waits for an
    approver. `variables` fill the template's {names}: a text, a text per language, or
    {from: …} (see Computed)."""

    do: Literal["broadcast"]
    template: Slug
    variables: dict[str, Variable] = {}
    channels: list[Literal["sms", "push"]] = ["sms", "push"]
    send: Literal["auto", "approval"] = "approval"


class EvacuateAction(ZoneTarget):
    """An evacuation order, as one action: each zone's order, and its broadcast drafted from
    `template` (filled with the zones' and shelters' names; a second person approves it
    unless the template is pre-approved). No `shelters`: the nearest open shelter."""

    do: Literal["evacuate"]
    level: Literal["advised", "mandatory"] = "mandatory"
    note: str | None = None
    shelters: list[Slug] = []
    channels: list[Literal["sms", "push"]] = ["sms", "push"]
    template: Slug = "evacuation_order"


class LiftEvacuationAction(ZoneTarget):
    """Lift the orders in force for zones, and draft the lift message from `template`."""

    do: Literal["lift_evacuation"]
    note: str | None = None
    channels: list[Literal["sms", "push"]] = ["sms", "push"]
    template: Slug = "evacuation_lifted"


class SheltersAction(_Model):
    """Open (or close) shelters: a list of ids, or all."""

    do: Literal["shelters"]
    open: bool = True
    shelters: list[Slug] | Literal["all"] = "all"


class PromptAction(_Model):
    """A decision or a task for the duty operator (reopening a bridge is a decision)."""

    do: Literal["prompt"]
    text: Texts


Action = Annotated[
    FacilityAction
    | CrewsStandbyAction
    | ResponseLevelAction
    | LiaisonAction
    | BroadcastAction
    | EvacuateAction
    | LiftEvacuationAction
    | SheltersAction
    | PromptAction,
    Field(discriminator="do"),
]


# --- the file ----------------------------------------------------------------------------


class Rule(_Model):
    id: Slug
    title: Texts
    description: str | None = None
    when: Condition
    actions: Annotated[list[Action], Field(min_length=1)]
    reverse: list[Action] = []

    def response_level(self) -> str | None:
        """The response level this rule asks for while it holds (None: none)."""
        asked = [a.level for a in self.actions if isinstance(a, ResponseLevelAction)]
        return asked[-1] if asked else None


class RulesFile(WithAnchors, _Model):
    version: Literal[1]
    rules: list[Rule] = []

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


# --- cross-checks ------------------------------------------------------------------------


class Known:
    """What a rule file may name, gathered from the other config files."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        facilities: dict[str, list[str]],
        zone_ids: set[str],
        zone_kinds: set[str],
        shelter_ids: set[str],
        templates: dict[str, Template] | None,
    ) -> None:
        self.catalogue = catalogue
        self.facilities = facilities  # facility id -> its statuses
        self.zone_ids = zone_ids
        self.zone_kinds = zone_kinds
        self.shelter_ids = shelter_ids
        self.templates = templates  # template id -> Template; None: no templates file


def check_rules(model: RulesFile, known: Known) -> Iterator[ConfigProblem]:
    seen: set[str] = set()
    for i, rule in enumerate(model.rules):
        where = ("rules", i)
        if rule.id in seen:
            yield ConfigProblem((*where, "id"), f"rule id {rule.id!r} is used twice")
        seen.add(rule.id)
        yield from _check_condition(rule.when, (*where, "when"), known.catalogue)
        for part in ("actions", "reverse"):
            for j, action in enumerate(getattr(rule, part)):
                yield from _check_action(action, (*where, part, j), known)
        asked = [a for a in rule.reverse if isinstance(a, ResponseLevelAction)]
        if asked:
            yield ConfigProblem(
                (*where, "reverse", rule.reverse.index(asked[0]), "do"),
                "response_level belongs in actions: when a rule stops holding, "
                "the level is recomputed from the rules that still hold",
            )


def _check_condition(cond: Condition, loc: Loc, catalogue: Catalogue) -> Iterator[ConfigProblem]:
    if isinstance(cond, AnyCondition | AllCondition):
        key = "any" if isinstance(cond, AnyCondition) else "all"
        for j, sub in enumerate(getattr(cond, key)):
            yield from _check_condition(sub, (*loc, key, j), catalogue)
        return
    source, kind = cond.target
    try:
        catalogue.kind(source, kind)
    except CatalogueError as exc:
        yield ConfigProblem((*loc, "signal"), str(exc))
        return
    for name, values in (
        ("at_least", [cond.at_least] if cond.at_least else []),
        ("is", cond.is_ or []),
    ):
        for n, value in enumerate(values):
            try:
                catalogue.level(source, kind, value)
            except CatalogueError as exc:
                yield ConfigProblem(
                    (*loc, name) if name == "at_least" else (*loc, name, n), str(exc)
                )


def _check_template(
    action: BroadcastAction, loc: Loc, templates: dict[str, Template]
) -> Iterator[ConfigProblem]:
    template = templates.get(action.template)
    if template is None:
        yield ConfigProblem(
            (*loc, "template"),
            f"unknown message template {action.template!r} (known: {', '.join(sorted(templates))})",
        )
        return
    if action.send == "auto" and not template.preapproved:
        yield ConfigProblem(
            (*loc, "send"),
            f"template {action.template!r} is not pre-approved: a rule can "
            "only send it with send: approval",
        )
    missing = [v for v in template.variables if v not in action.variables]
    if missing:
        yield ConfigProblem(
            (*loc, "variables"), f"template {action.template!r} needs {', '.join(missing)}"
        )
    for name in action.variables:
        if name not in template.variables:
            yield ConfigProblem(
                (*loc, "variables", name),
                f"template {action.template!r} has no variable {name!r} "
                f"(it has: {', '.join(template.variables) or 'none'})",
            )


def _check_action(action: Action, loc: Loc, known: Known) -> Iterator[ConfigProblem]:
    if isinstance(action, FacilityAction):
        statuses = known.facilities.get(action.facility)
        if statuses is None:
            yield ConfigProblem(
                (*loc, "facility"),
                f"unknown facility {action.facility!r}; known: "
                f"{', '.join(sorted(known.facilities))}",
            )
        elif action.status not in statuses:
            yield ConfigProblem(
                (*loc, "status"),
                f"{action.status!r} is not a status of {action.facility} ({', '.join(statuses)})",
            )
    elif isinstance(action, ResponseLevelAction):
        try:
            known.catalogue.level("HENGQIN", "response_level", action.level)
        except CatalogueError as exc:
            yield ConfigProblem((*loc, "level"), str(exc))
    elif isinstance(action, ZoneTarget):
        for n, zone in enumerate(action.zones):
            if zone not in known.zone_ids:
                yield ConfigProblem((*loc, "zones", n), f"unknown zone {zone!r}")
        for n, kind in enumerate(action.zone_kinds):
            if kind not in known.zone_kinds:
                yield ConfigProblem(
                    (*loc, "zone_kinds", n),
                    f"no zone of kind {kind!r} (kinds: {', '.join(sorted(known.zone_kinds))})",
                )
        if isinstance(action, BroadcastAction) and known.templates is not None:
            yield from _check_template(action, loc, known.templates)
        if isinstance(action, EvacuateAction | LiftEvacuationAction):
            if known.templates is not None and action.template not in known.templates:
                yield ConfigProblem(
                    (*loc, "template"),
                    f"unknown message template {action.template!r} "
                    f"(known: {', '.join(sorted(known.templates))})",
                )
            for n, shelter in enumerate(getattr(action, "shelters", [])):
                if shelter not in known.shelter_ids:
                    yield ConfigProblem((*loc, "shelters", n), f"unknown shelter {shelter!r}")
    elif isinstance(action, SheltersAction) and action.shelters != "all":
        for n, shelter in enumerate(action.shelters):
            if shelter not in known.shelter_ids:
                yield ConfigProblem((*loc, "shelters", n), f"unknown shelter {shelter!r}")


# --- loading -----------------------------------------------------------------------------


def known_from_config(
    config_dir: Path, *, catalogue: Catalogue, zones: ZoneSet | None = None
) -> Known:
    """What the other config files define (facilities, zones, shelters, templates)."""
    from emergency.facilities.config import load_facilities
    from geo.shelters import load_shelters
    from geo.zones import ZoneSet, load_zones

    facilities_file = load_facilities(config_dir / "facilities.yaml")
    facilities = {
        f.id: [s.id for s in facilities_file.statuses_of(f.kind)]
        for f in facilities_file.facilities
    }
    if zones is None:
        folder = config_dir / "zones"
        zones = load_zones(folder) if folder.is_dir() else ZoneSet([])
    shelters_path = config_dir / "zones" / "shelters.geojson"
    shelters = {s.id for s in load_shelters(shelters_path)} if shelters_path.exists() else set()
    return Known(
        catalogue=catalogue,
        facilities=facilities,
        zone_ids=set(zones.ids),
        zone_kinds={z.kind for z in zones},
        shelter_ids=shelters,
        templates=template_ids(config_dir / "message_templates.yaml"),
    )


@dataclass(frozen=True)
class Template:
    preapproved: bool
    variables: tuple[str, ...]


def template_ids(path: Path) -> dict[str, Template] | None:
    """The templates of config/message_templates.yaml: id -> pre-approved and variable names
    (None when there is no such file).

    Read loosely: the broadcasts domain owns that file and checks it fully at its own start.
    """
    if not path.exists():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items = data.get("templates", {}) if isinstance(data, dict) else {}
    if isinstance(items, list):
        items = {t.get("id"): t for t in items if isinstance(t, dict) and t.get("id")}
    out = {}
    for key, value in items.items():
        value = value if isinstance(value, dict) else {}
        variables = value.get("variables") or {}
        out[str(key)] = Template(
            bool(value.get("preapproved", False)), tuple(str(v) for v in variables)
        )
    return out


def load_rules(path: str | Path, *, known: Known) -> RulesFile:
    """Read config/rules.yaml; every name in it checked (ConfigFileError with file:line)."""
    return load_yaml(path, RulesFile, checks=[lambda m: check_rules(m, known)])
