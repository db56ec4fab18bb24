"""config/liaison.yaml: the shared signal sources, the acknowledgement deadline, the contacts.

Loaded with the shared YAML loader (a mistake names file:line:field); the sources are checked
against the signal catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from emergency.catalogue import Catalogue, CatalogueError, Language
from emergency.configfiles import ConfigModel, ConfigProblem, Slug, listed_twice, load_yaml

if TYPE_CHECKING:
    from emergency.runtime import Runtime

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def _phone(value: str) -> str:
    value = value.replace(" ", "").replace("-", "")
    if not _E164.match(value):
        raise ValueError(f"{value!r} is not an international number like +85328000000 (E.164)")
    return value


Phone = Annotated[str, AfterValidator(_phone)]


def _english(texts: dict[str, str]) -> dict[str, str]:
    if not str(texts.get("en", "")).strip():
        raise ValueError("give at least the English (en) text")
    return texts


Texts = Annotated[dict[Language, str], AfterValidator(_english)]


# a person's name and e-mail, as the files (contacts, duty leads) and the API take them
ContactName = Annotated[str, Field(min_length=1, max_length=120)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class ContactFields(BaseModel):
    """A liaison contact as the file (config/liaison.yaml) and the API both give it."""

    key: Slug
    name: ContactName
    organisation: Texts
    role: Texts | None = None
    phone: Phone | None = None
    email: Email | None = None
    language: Language = "zh-Hant"


class ContactDef(ContactFields, ConfigModel):
    demo: bool = False


class LiaisonFile(ConfigModel):
    version: Literal[1]
    shared_sources: list[str] = ["SMG", "ZHUHAI"]
    ack_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 15
    contacts: list[ContactDef] = []


def _check(model: LiaisonFile, catalogue: Catalogue) -> Iterator[ConfigProblem]:
    for i, source in enumerate(model.shared_sources):
        try:
            catalogue.source(source)
        except CatalogueError as exc:
            yield ConfigProblem(("shared_sources", i), str(exc))
    yield from listed_twice(model.contacts, "key", "contacts", "contact")


def load_liaison(path: str | Path, *, catalogue: Catalogue) -> LiaisonFile:
    return load_yaml(path, LiaisonFile, checks=[lambda m: _check(m, catalogue)])


def liaison_config(runtime: Runtime) -> LiaisonFile:
    """config/liaison.yaml of this Runtime."""
    return runtime.config.liaison
