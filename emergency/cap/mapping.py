"""From an incoming CAP alert to the catalogue's signals it asserts.

Two ways a feed names a signal:
1. our own form, checked first: an eventCode with valueName SIGNAL and value
   SOURCE:kind:level (e.g. SMG:tropical_cyclone:8NE), as our Atom feed publishes it,
   so our own alerts round-trip; when an info has one, the mappings are not consulted;
2. the mappings of config/cap_mappings.yaml (model `CapMappings`), tried in order:
   each matches on the sender (globs), the event text (regex), an eventCode and/or a
   parameter, and says which source:kind it is and where its level comes from
   (a fixed level, the eventCode or parameter value, a regex group of the event, or
   the CAP severity), with an optional table translating the feed's words to levels.

msgType Cancel lowers what it names (level None); when its infos name nothing, the
referenced alerts are looked up through `lookup`, if given. Only Actual alerts count
by default: a drill (Exercise) is returned only when asked for, and System, Test and
Draft never are. Ack and Error assert nothing.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict, Unpack

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emergency.cap.alert import CapAlert, CapInfo, CapReference
from emergency.cap.exceptions import CapError
from emergency.cap.smg_text import Reading, read_signal
from emergency.catalogue import (
    Catalogue,
    CatalogueError,
    SignalCode,
    SignalName,
    format_signal_code,
    normalize_id,
    parse_signal_code,
    source_and_kind,
)
from emergency.configfiles import ConfigProblem, WithAnchors, load_yaml

SIGNAL_VALUE_NAME = "SIGNAL"
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "config" / "cap_mappings.yaml"


# --- what comes out ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignalAssertion:
    """One signal an alert asserts: `level` None means lowered (cancelled)."""

    source: str
    kind: str
    level: str | None
    effective: datetime | None  # when it takes effect: info effective, else alert sent
    expires: datetime | None
    cap_identifier: str
    cap_sender: str = ""
    cap_sent: datetime | None = None
    status: str = "Actual"
    msg_type: str = "Alert"
    # The alert's <references>: a Cancel should lower a signal only if it was set by one
    # of these (the caller knows which alert set the level in force).
    references: tuple[CapReference, ...] = ()
    rule: str = SIGNAL_VALUE_NAME  # SIGNAL, or the name of the mapping that matched

    @classmethod
    def in_alert(
        cls,
        alert: CapAlert,
        source: str,
        kind: str,
        level: str | None,
        *,
        effective: datetime | None,
        expires: datetime | None = None,
        rule: str,
    ) -> SignalAssertion:
        """What `alert` asserts of one signal, with the alert's own identity (its identifier,
        sender, time, status, type and references)."""
        return cls(
            source=source,
            kind=kind,
            level=level,
            effective=effective,
            expires=expires,
            cap_identifier=alert.identifier,
            cap_sender=alert.sender,
            cap_sent=alert.sent,
            status=alert.status,
            msg_type=alert.msg_type,
            references=tuple(alert.references),
            rule=rule,
        )

    @property
    def code(self) -> str:
        return format_signal_code(self.source, self.kind, self.level)

    @property
    def exercise(self) -> bool:
        return self.status == "Exercise"


# --- the mapping file ------------------------------------------------------------------------


def _regex(value: str) -> re.Pattern[str]:
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None


Regex = Annotated[re.Pattern[str], Field(description="a regular expression, case-insensitive")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class CodeMatch(_Model):
    """An eventCode or parameter: its valueName (any when omitted) and a value regex."""

    name: str | None = None
    value: Regex | None = None  # full match; a (?P<level>...) group, if any, is the level

    @field_validator("value", mode="before")
    @classmethod
    def _compile(cls, value: Any) -> Any:
        return _regex(str(value)) if isinstance(value, str | int) else value

    @model_validator(mode="after")
    def _something(self) -> CodeMatch:
        if self.name is None and self.value is None:
            raise ValueError("give a name, a value, or both")
        return self

    def find(self, pairs: list[tuple[str, str]]) -> str | None:
        """The level text of the first matching pair (its `level` group, else its value)."""
        for name, value in pairs:
            if self.name is not None and name.casefold() != self.name.casefold():
                continue
            if self.value is None:
                return value
            match = self.value.fullmatch(value.strip())
            if match:
                return match.groupdict().get("level") or value
        return None


class LevelFrom(_Model):
    """Where a mapping's level comes from."""

    from_: Literal["event_code", "parameter", "event", "severity"] = Field(alias="from")
    name: str | None = None  # valueName to read (default: the one the mapping matched)


class CapMapping(_Model):
    """One rule: conditions (all must hold) -> source:kind and a level."""

    name: Annotated[str, Field(min_length=1)]
    sender: list[str] = []  # globs, case-insensitive; empty = any sender
    event: Regex | None = None  # searched in <event>; a (?P<level>...) group may give the level
    event_code: CodeMatch | None = None
    parameter: CodeMatch | None = None
    # Read the level from the info's headline, else its event, as people write SMG's signals
    # in Chinese, Portuguese and English (emergency.cap.smg_text); `level` is not given.
    reader: Literal["smg_text"] | None = None
    signal: SignalName
    level: str | LevelFrom | None = None  # a level id, {from: ...}, or null (lowers the signal)
    values: dict[str, str | None] = {}  # feed word -> level id (null lowers); keys loosely matched

    @field_validator("event", mode="before")
    @classmethod
    def _compile(cls, value: Any) -> Any:
        return _regex(value) if isinstance(value, str) else value

    @field_validator("sender", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> CapMapping:
        if self.reader is not None:
            if "level" in self.model_fields_set:
                raise ValueError("a mapping with a reader takes its level from the text: no level")
            return self
        if self.event is None and self.event_code is None and self.parameter is None:
            raise ValueError("a mapping needs at least one of event, event_code, parameter, reader")
        if "level" not in self.model_fields_set:
            raise ValueError("give the level: a level id, {from: ...}, or null (lowers the signal)")
        if isinstance(self.level, LevelFrom):
            source = self.level.from_
            if source == "event" and (self.event is None or "level" not in self.event.groupindex):
                raise ValueError(
                    "level from event needs an event regex with a (?P<level>...) group"
                )
            if source == "event_code" and self.event_code is None and self.level.name is None:
                raise ValueError("level from event_code needs event_code (or level.name)")
            if source == "parameter" and self.parameter is None and self.level.name is None:
                raise ValueError("level from parameter needs parameter (or level.name)")
        return self

    @property
    def target(self) -> tuple[str, str]:
        return source_and_kind(self.signal)

    def sender_matches(self, sender: str) -> bool:
        folded = sender.casefold()
        return not self.sender or any(
            fnmatch.fnmatchcase(folded, p.casefold()) for p in self.sender
        )

    def level_text(self, info: CapInfo) -> tuple[bool, str | None]:
        """(matched, level text) for one info; level text None with a fixed null level."""
        event_match = None
        if self.event is not None:
            event_match = self.event.search(info.event)
            if not event_match:
                return False, None
        code_value = self.event_code.find(info.event_codes) if self.event_code else None
        if self.event_code is not None and code_value is None:
            return False, None
        param_value = self.parameter.find(info.parameters) if self.parameter else None
        if self.parameter is not None and param_value is None:
            return False, None
        if not isinstance(self.level, LevelFrom):
            return True, self.level
        origin, name = self.level.from_, self.level.name
        if origin == "event":
            text = event_match.group("level") if event_match else None
        elif origin == "event_code":
            text = info.event_code(name) if name else code_value
        elif origin == "parameter":
            text = info.parameter(name) if name else param_value
        else:
            text = info.severity
        # Matched, but where the level should be there is nothing: let a later rule try.
        return (text is not None and text.strip() != ""), text


class CapMappings(WithAnchors, _Model):
    """The whole of config/cap_mappings.yaml."""

    version: Literal[1]
    mappings: list[CapMapping] = []


def load_cap_mappings(path: str | Path = DEFAULT_PATH, *, catalogue: Catalogue) -> CapMappings:
    """Read config/cap_mappings.yaml; every signal and level is checked against the catalogue."""
    return load_yaml(path, CapMappings, checks=[lambda m: check_mappings(m, catalogue=catalogue)])


def check_mappings(mappings: CapMappings, *, catalogue: Catalogue) -> Iterator[ConfigProblem]:
    """Cross-check: each mapping's source:kind, fixed level and translated values exist."""
    for i, mapping in enumerate(mappings.mappings):
        source, kind = mapping.target
        try:
            catalogue.kind(source, kind)
        except CatalogueError as exc:
            yield ConfigProblem(("mappings", i, "signal"), str(exc))
            continue
        if isinstance(mapping.level, str):
            try:
                catalogue.level(source, kind, mapping.level)
            except CatalogueError as exc:
                yield ConfigProblem(("mappings", i, "level"), str(exc))
        for word, level in mapping.values.items():
            if level is None:
                continue
            try:
                catalogue.level(source, kind, level)
            except CatalogueError as exc:
                yield ConfigProblem(("mappings", i, "values", word), str(exc))


# --- applying it ------------------------------------------------------------------------------

Lookup = Callable[[CapReference], CapAlert | None]


@dataclass(frozen=True, slots=True)
class CapReading:
    """What an alert says of our signals.

    `assertions`: one per source+kind its infos agree on. `conflicts`: signals its infos
    disagree on (e.g. the zh info says No. 8 NE, the en info No. 3): none of those is
    asserted; the operator decides. `questions`: signals named but not readable as a level
    (Signal No. 8 without its quadrant), also for the operator."""

    assertions: list[SignalAssertion] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)


class ReadOptions(TypedDict, total=False):
    """How `read_cap` reads: the statuses it acts on (default Actual only), and where it looks
    up an alert it names by reference (`lookup`)."""

    accept_status: Collection[str]
    lookup: Lookup | None


def signals_from_cap(
    alert: CapAlert, catalogue: Catalogue, mappings: CapMappings, **options: Unpack[ReadOptions]
) -> list[SignalAssertion]:
    """Every signal the alert asserts, one per source+kind, in the order first seen.

    Raises CapError cap_unknown_signal when the alert names a level the catalogue does not
    know, and cap_mapping_conflict when it asserts two levels of one signal (`read_cap`
    returns those instead, for the ingest flow to store and ask about).
    """
    reading = read_cap(alert, catalogue, mappings, **options)
    if reading.conflicts:
        raise CapError(
            "cap_mapping_conflict",
            f"alert {alert.identifier} asserts {'; '.join(reading.conflicts)}",
        )
    return reading.assertions


def read_cap(
    alert: CapAlert,
    catalogue: Catalogue,
    mappings: CapMappings,
    *,
    accept_status: Collection[str] = ("Actual",),
    lookup: Lookup | None = None,
) -> CapReading:
    """The signals the alert asserts, the ones its infos disagree on and the ones it names
    without a readable level (see CapReading). CapError cap_unknown_signal for a level the
    catalogue does not know."""
    if alert.status not in accept_status or alert.msg_type in ("Ack", "Error"):
        return CapReading()
    cancel = alert.msg_type == "Cancel"
    said: dict[tuple[str, str], list[tuple[SignalAssertion, str]]] = {}
    asked: dict[tuple[str, str], str] = {}
    for info in alert.infos:
        for found, rule in _signals_in_info(alert, info, catalogue, mappings):
            if isinstance(found, _Question):
                asked.setdefault((found.source, found.kind), found.why)
                continue
            level = None if cancel else found.level
            assertion = SignalAssertion.in_alert(
                alert,
                found.source,
                found.kind,
                level,
                effective=info.effective or alert.sent,
                expires=None if level is None else info.expires,
                rule=rule,
            )
            said.setdefault((found.source, found.kind), []).append((assertion, info.language))
    reading = CapReading()
    for key, versions in said.items():
        levels = {a.level for a, _ in versions}
        if len(levels) == 1:
            reading.assertions.append(versions[0][0])
        else:
            told = ", ".join(f"{a.code} ({language})" for a, language in versions)
            reading.conflicts.append(f"{key[0]}:{key[1]}: {told}")
    for key, why in asked.items():
        if key not in said:  # another info gave the level: the question is answered
            reading.questions.append(f"{key[0]}:{key[1]}: {why}")
    if cancel and not said and lookup is not None:
        for reference in alert.references:
            earlier = lookup(reference)
            if earlier is None:
                continue
            for before in read_cap(
                earlier, catalogue, mappings, accept_status=(earlier.status,)
            ).assertions:
                key = (before.source, before.kind)
                if key in said:
                    continue
                said[key] = []
                lowered = SignalAssertion.in_alert(
                    alert, before.source, before.kind, None, effective=alert.sent, rule=before.rule
                )
                reading.assertions.append(lowered)
    return reading


@dataclass(frozen=True, slots=True)
class _Question:
    source: str
    kind: str
    why: str


def _signals_in_info(
    alert: CapAlert, info: CapInfo, catalogue: Catalogue, mappings: CapMappings
) -> list[tuple[SignalCode | _Question, str]]:
    own = [value for name, value in info.event_codes if name.strip().upper() == SIGNAL_VALUE_NAME]
    if own:
        return [(_resolve_own(alert, value, catalogue), SIGNAL_VALUE_NAME) for value in own]
    out: list[tuple[SignalCode | _Question, str]] = []
    seen: set[tuple[str, str]] = set()
    for mapping in mappings.mappings:
        if mapping.target in seen or not mapping.sender_matches(alert.sender):
            continue
        source, kind = mapping.target
        if mapping.reader is not None:
            reading = _read_texts(kind, info)
            if reading is None:
                continue
            seen.add(mapping.target)
            if reading.ambiguous:
                out.append((_Question(source, kind, reading.ambiguous), mapping.name))
                continue
            out.append(
                (_canonical(alert, mapping, source, kind, reading.level, catalogue), mapping.name)
            )
            continue
        matched, text = mapping.level_text(info)
        if not matched:
            continue
        seen.add(mapping.target)
        level = _translate(mapping, text)
        out.append((_canonical(alert, mapping, source, kind, level, catalogue), mapping.name))
    return out


def _read_texts(kind: str, info: CapInfo) -> Reading | None:
    """The first of headline and event that names the kind's signal."""
    for text in (info.headline, info.event):
        reading = read_signal(kind, text or "")
        if reading is not None:
            return reading
    return None


def _canonical(
    alert: CapAlert,
    mapping: CapMapping,
    source: str,
    kind: str,
    level: str | None,
    catalogue: Catalogue,
) -> SignalCode:
    try:
        return catalogue.canonical(source, kind, level)
    except CatalogueError as exc:
        raise CapError(
            "cap_unknown_signal",
            f"alert {alert.identifier}, mapping {mapping.name!r}: {exc.message}",
        ) from None


def _translate(mapping: CapMapping, text: str | None) -> str | None:
    if text is None:
        return None
    wanted = normalize_id(text)
    for word, level in mapping.values.items():
        if normalize_id(word) == wanted:
            return level
    return text.strip()


def _resolve_own(alert: CapAlert, value: str, catalogue: Catalogue) -> SignalCode:
    try:
        parsed = parse_signal_code(value, allow_no_level=True)
        return catalogue.canonical(parsed.source, parsed.kind, parsed.level)
    except CatalogueError as exc:
        raise CapError(
            "cap_unknown_signal", f"alert {alert.identifier}: eventCode SIGNAL: {exc.message}"
        ) from None
