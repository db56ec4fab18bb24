"""config/facilities.yaml: the kinds of facility, the statuses each can be in, the facilities.

Loaded with the shared YAML loader, so a mistake names file:line:field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from emergency.configfiles import ConfigModel, ConfigProblem, Slug, listed_twice, load_yaml

LANGUAGES = ("zh-Hans", "zh-Hant", "pt", "en")


def _all_languages(names: dict[str, str]) -> dict[str, str]:
    missing = [lang for lang in LANGUAGES if not str(names.get(lang, "")).strip()]
    if missing:
        raise ValueError(f"names missing for {', '.join(missing)}")
    unknown = [lang for lang in names if lang not in LANGUAGES]
    if unknown:
        raise ValueError(f"unknown language(s) {', '.join(unknown)}")
    return names


Names = Annotated[dict[str, str], AfterValidator(_all_languages)]


class StatusDef(ConfigModel):
    id: Slug
    level: Literal["ok", "warn", "bad"]
    name: Names


class KindDef(ConfigModel):
    statuses: list[StatusDef] = Field(min_length=1)


class FacilityDef(ConfigModel):
    id: Slug
    kind: Slug
    initial: Slug
    name: Names
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class FacilitiesFile(ConfigModel):
    kinds: dict[Slug, KindDef]
    facilities: list[FacilityDef] = Field(min_length=1)

    def statuses_of(self, kind: str) -> list[StatusDef]:
        return list(self.kinds[kind].statuses)


def _check(model: FacilitiesFile) -> Iterator[ConfigProblem]:
    yield from listed_twice(model.facilities, "id", "facilities", "facility")
    for i, f in enumerate(model.facilities):
        if f.kind not in model.kinds:
            yield ConfigProblem(
                ("facilities", i, "kind"),
                f"unknown kind {f.kind!r} (kinds: {', '.join(model.kinds)})",
            )
            continue
        ids = [s.id for s in model.kinds[f.kind].statuses]
        if f.initial not in ids:
            yield ConfigProblem(
                ("facilities", i, "initial"),
                f"{f.initial!r} is not a status of {f.kind} ({', '.join(ids)})",
            )
    for kind, k in model.kinds.items():
        ids = [s.id for s in k.statuses]
        if len(set(ids)) != len(ids):
            yield ConfigProblem(("kinds", kind, "statuses"), "duplicate status id")


def load_facilities(path: str | Path) -> FacilitiesFile:
    return load_yaml(path, FacilitiesFile, checks=[_check])
