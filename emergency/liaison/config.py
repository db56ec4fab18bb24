"""config/liaison.yaml: the shared signal sources, the acknowledgement deadline, the contacts.

Loaded with the shared YAML loader (a mistake names file:line:field); the sources are checked
against the signal catalogue.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from emergency.catalogue import Catalogue, CatalogueError
from emergency.configfiles import ConfigProblem, load_yaml
from emergency.signals.context import cached

Language = Literal["zh-Hans", "zh-Hant", "pt", "en"]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]{0,59}$")]
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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContactDef(_Model):
    key: Slug
    name: Annotated[str, Field(min_length=1, max_length=120)]
    organisation: Texts
    role: Texts | None = None
    phone: Phone | None = None
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    language: Language = "zh-Hant"
    demo: bool = False


class LiaisonFile(_Model):
    version: Literal[1]
    shared_sources: list[str] = ["SMG", "ZHUHAI"]
    ack_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 15
    contacts: list[ContactDef] = []


def _check(model: LiaisonFile, catalogue: Catalogue):
    for i, source in enumerate(model.shared_sources):
        try:
            catalogue.source(source)
        except CatalogueError as exc:
            yield ConfigProblem(("shared_sources", i), str(exc))
    seen: set[str] = set()
    for i, contact in enumerate(model.contacts):
        if contact.key in seen:
            yield ConfigProblem(("contacts", i, "key"), f"contact {contact.key!r} listed twice")
        seen.add(contact.key)


def load_liaison(path: str | Path, *, catalogue: Catalogue) -> LiaisonFile:
    return load_yaml(path, LiaisonFile, checks=[lambda m: _check(m, catalogue)])


def liaison_config(runtime: Any) -> LiaisonFile:
    """config/liaison.yaml of this Runtime, loaded once."""
    return cached(
        runtime,
        "liaison.config",
        lambda: load_liaison(
            runtime.settings.config_dir / "liaison.yaml", catalogue=runtime.catalogue
        ),
    )
