"""Pydantic models of config/signals.yaml: sources, their kinds, their levels.

The file lists levels from lowest to highest; `rank` is the severity (equal ranks are
allowed: Macau's four No. 8 signals). Names come in our four alert languages.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal, NamedTuple, Protocol, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from emergency.catalogue.exceptions import InvalidSignalCode

Language = Literal["zh-Hans", "zh-Hant", "pt", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-Hans", "zh-Hant", "pt", "en")

CapSeverity = Literal["Extreme", "Severe", "Moderate", "Minor"]
CapCategory = Literal[
    "Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport",
    "Infra", "CBRNE", "Other",
]  # fmt: skip


def _all_languages(names: dict[Language, str]) -> dict[Language, str]:
    missing = [lang for lang in LANGUAGES if not names.get(lang, "").strip()]
    if missing:
        raise ValueError(f"names missing for {', '.join(missing)} (all of {', '.join(LANGUAGES)})")
    return names


def _en_and_zh_hans(text: dict[Language, str]) -> dict[Language, str]:
    missing = [lang for lang in ("en", "zh-Hans") if not text.get(lang, "").strip()]
    if missing:
        raise ValueError(f"missing for {', '.join(missing)} (en and zh-Hans at least)")
    return text


# Every language, for names shown to the public.
Names = Annotated[dict[Language, str], AfterValidator(_all_languages)]
# At least en and zh-Hans, for longer explanations.
Texts = Annotated[dict[Language, str], AfterValidator(_en_and_zh_hans)]


def normalize_id(value: str) -> str:
    """The form used to compare ids and aliases: case, spaces, dots, dashes ignored."""
    return re.sub(r"[\s._\-]", "", value).casefold()


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


ItemT = TypeVar("ItemT", bound=_Identified)


def _unique_ids(what: str) -> AfterValidator:
    """A list's check that no two of its items have the same id."""

    def check(items: list[ItemT]) -> list[ItemT]:
        ids = [item.id for item in items]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"{what} listed twice: {', '.join(duplicates)}")
        return items

    return AfterValidator(check)


class Change(StrEnum):
    """How a new level relates to the one in force (see Catalogue.compare)."""

    RAISE = "raise"  # nothing in force -> a level
    UPGRADE = "upgrade"  # higher rank
    DOWNGRADE = "downgrade"  # lower rank, still in force
    CHANGE = "change"  # same rank, other level (8NE -> 8SE)
    LOWER = "lower"  # a level -> nothing in force
    SAME = "same"  # no change


class _Model(BaseModel):
    # A typo in a hand-edited file must be an error, not silently ignored; YAML reads
    # `id: 3` as a number, which is still the level "3".
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class Level(_Model):
    id: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_]+$")]
    rank: Annotated[int, Field(ge=1)]
    names: Names
    short: Names | None = None
    meaning: Texts
    color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] | None = None
    aliases: list[str] = []
    cap_severity: CapSeverity | None = None
    # A warning issued ahead of what it warns of (our CAP: certainty Likely, urgency
    # Expected) rather than a state in force now (Observed, Immediate); default: the kind's.
    forecast: bool | None = None
    instruction: Names | None = None  # what to do, per language (default: the kind's)

    def name(self, language: Language) -> str:
        return self.names[language]

    def short_name(self, language: Language) -> str:
        return (self.short or self.names)[language]

    def meaning_in(self, language: Language) -> str:
        """The meaning in `language`; else zh-Hans for Chinese, English otherwise."""
        fallback: Language = "zh-Hans" if language.startswith("zh") else "en"
        return self.meaning.get(language) or self.meaning[fallback]


class Kind(_Model):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    names: Names
    replaces_current: bool = True
    cap_category: CapCategory = "Met"
    forecast: bool = False  # see Level.forecast
    instruction: Names | None = None  # what to do, per language, for any level of the kind
    levels: Annotated[list[Level], Field(min_length=1)]

    @model_validator(mode="after")
    def _levels_in_order(self) -> Kind:
        seen: dict[str, str] = {}
        for level in self.levels:
            for spelling in (level.id, *level.aliases):
                key = normalize_id(spelling)
                if key in seen:
                    raise ValueError(
                        f"level {level.id!r}: {spelling!r} is already used by level {seen[key]!r}"
                    )
                seen[key] = level.id
        for lower, higher in zip(self.levels, self.levels[1:], strict=False):
            if higher.rank < lower.rank:
                raise ValueError(
                    f"levels must be listed from lowest to highest rank: {higher.id!r} "
                    f"(rank {higher.rank}) comes after {lower.id!r} (rank {lower.rank})"
                )
        return self


class Source(_Model):
    id: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]
    names: Names
    # Where its signals are in force, per language: our CAP headlines say so (澳門 / Macau).
    place: Names | None = None
    kinds: Annotated[list[Kind], Field(min_length=1), _unique_ids("kind")]


class CatalogueFile(_Model):
    """The whole of config/signals.yaml."""

    version: Literal[1]
    sources: Annotated[list[Source], Field(min_length=1), _unique_ids("source")]


class SignalCode(NamedTuple):
    """A signal named as SOURCE:kind:level; level None means "nothing in force"."""

    source: str
    kind: str
    level: str | None

    def __str__(self) -> str:
        return format_signal_code(self.source, self.kind, self.level)


def format_signal_code(source: str, kind: str, level: str | None) -> str:
    """'SMG', 'tropical_cyclone', '8NE' -> 'SMG:tropical_cyclone:8NE' (level None -> 'SMG:tropical_cyclone')."""
    return f"{source}:{kind}" if level is None else f"{source}:{kind}:{level}"


# A signal named without a level in a config file ("SMG:tropical_cyclone"): the rules'
# conditions and the CAP mappings name theirs so.
SignalName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+:[a-z0-9_]+$")]


def source_and_kind(name: str) -> tuple[str, str]:
    """'SMG:tropical_cyclone' (a checked SignalName) -> ('SMG', 'tropical_cyclone')."""
    source, kind = name.split(":")
    return source, kind


def parse_signal_code(code: str, *, allow_no_level: bool = False) -> SignalCode:
    """'SMG:tropical_cyclone:8NE' -> SignalCode; checks the form only, not the catalogue.

    With allow_no_level, 'SMG:tropical_cyclone' is accepted too (level None).
    """
    parts = [part.strip() for part in str(code).strip().split(":")]
    if len(parts) == 2 and allow_no_level and all(parts):
        return SignalCode(parts[0], parts[1], None)
    if len(parts) != 3 or not all(parts):
        raise InvalidSignalCode(
            f"invalid signal code {code!r}: expected SOURCE:kind:level, e.g. SMG:tropical_cyclone:8NE"
        )
    return SignalCode(parts[0], parts[1], parts[2])
