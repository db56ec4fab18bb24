"""config/duty.yaml: the duty leads an unacknowledged alarm is escalated to by SMS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from emergency.catalogue import Language
from emergency.configfiles import ConfigModel, ConfigProblem, Slug, listed_twice, load_yaml
from emergency.liaison.config import ContactName, Phone

if TYPE_CHECKING:
    from emergency.runtime import Runtime


class DutyLead(ConfigModel):
    key: Slug
    name: ContactName
    phone: Phone
    language: Language = "zh-Hans"
    demo: bool = False


class DutyFile(ConfigModel):
    version: Literal[1]
    leads: list[DutyLead] = []


def _check(model: DutyFile) -> Iterator[ConfigProblem]:
    yield from listed_twice(model.leads, "key", "leads", "duty lead")


def load_duty(path: str | Path) -> DutyFile:
    return load_yaml(path, DutyFile, checks=[_check])


def duty_config(runtime: Runtime) -> DutyFile:
    """config/duty.yaml of this Runtime; no file means nobody to escalate to."""
    return runtime.config.duty
