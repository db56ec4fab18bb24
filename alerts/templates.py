"""Message templates: the pre-written warnings in four languages, with ``{variables}``.

``config/message_templates.yaml`` (loaded by the application with its YAML loader and the
:class:`TemplateFile` model below, so a mistake names file:line:field) holds, per template,
a title in each language (``en`` required), whether it is ``preapproved`` (rules may send it
without a second person), its ``priority`` (the queue lane of its broadcasts, ``alerts.dispatch.lanes``; default normal), the
variables it takes (name → what to put there) and its text in zh-Hans, zh-Hant, pt and en.

Rendering is ``str.format`` restricted to plain names: the loader refuses ``{a.b}``,
``{a[0]}``, conversions (``!r``) and format specs, so a template can only insert the values
it is given — no attribute access, no code. A value is one string for every language, or a
mapping with a string for each of the four (``{"zh-Hans": "8号", "en": "No. 8", …}``).
Missing and unknown variables are refused together, naming them.

Exercise broadcasts get :data:`EXERCISE_MARK` in front of every language's text, so a drill
can never be mistaken for a real warning (the Hawaii 2018 lesson).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.languages import LANGUAGES

MAX_VALUE = 200
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,79}$")

#: Put in front of every text of an exercise broadcast. Portuguese uses "SIMULACRO" (a drill)
#: so that the mark stays within GSM-7 and costs no extra segment.
EXERCISE_MARK: dict[str, str] = {
    "zh-Hans": "【演习 EXERCISE】",
    "zh-Hant": "【演習 EXERCISE】",
    "pt": "[SIMULACRO / EXERCISE] ",
    "en": "[EXERCISE - NOT A REAL ALERT] ",
}


class TemplateError(ValueError):
    """A template that cannot be rendered with the given variables."""

    def __init__(
        self,
        message: str,
        *,
        field: str = "variables",
        missing: list[str] | None = None,
        unknown: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.missing = missing or []
        self.unknown = unknown or []


def placeholders(text: str) -> list[str]:
    """The ``{names}`` a text uses, in order (raises ValueError for anything but plain names)."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"bad braces: {exc} (write {{{{ and }}}} for literal braces)") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not _NAME.match(name) or spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ValueError(
                f"{{{shown}}} is not a plain variable name: use {{name}} with "
                "lower-case letters, digits and '_'"
            )
        if name not in names:
            names.append(name)
    return names


class TemplateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # What screens list it as, per language; a plain string is the English title (en is the
    # fallback for a language missing, and the title of a broadcast drafted from it).
    title: dict[str, str]
    description: str = Field(default="", max_length=1000)
    preapproved: bool = False
    # The lane its broadcasts are sent in unless the drafter says otherwise.
    priority: Literal["emergency", "high", "normal"] = "normal"
    variables: dict[str, str] = Field(default_factory=dict)
    messages: dict[str, str]

    @field_validator("title", mode="before")
    @classmethod
    def _title_languages(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = {"en": value}
        if not isinstance(value, Mapping):
            return value  # pydantic names the wrong type
        unknown = [lang for lang in value if lang not in LANGUAGES]
        if unknown:
            raise ValueError(
                f"unknown language(s) {', '.join(map(str, unknown))}: use {', '.join(LANGUAGES)}"
            )
        if not str(value.get("en") or "").strip():
            raise ValueError("no English title (en): it is what a missing language falls back to")
        too_long = [lang for lang, text in value.items() if len(str(text)) > 200]
        if too_long:
            raise ValueError(f"{', '.join(too_long)}: a title is at most 200 characters")
        return value

    def title_in(self, lang: str = "en") -> str:
        """The title in `lang`, else in English."""
        return self.title.get(lang) or self.title["en"]

    @field_validator("variables")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"bad variable name {name!r}: lower-case letters, digits, '_'")
        return value

    @field_validator("messages")
    @classmethod
    def _languages(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [lang for lang in LANGUAGES if not (value.get(lang) or "").strip()]
        unknown = [lang for lang in value if lang not in LANGUAGES]
        if unknown:
            raise ValueError(
                f"unknown language(s) {', '.join(unknown)}: use {', '.join(LANGUAGES)}"
            )
        if missing:
            raise ValueError(
                f"missing text for {', '.join(missing)} (all four languages are required)"
            )
        for lang, text in value.items():
            try:
                placeholders(text)
            except ValueError as exc:
                raise ValueError(f"{lang}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _variables_declared(self) -> TemplateSpec:
        used: set[str] = set()
        for lang, text in self.messages.items():
            names = placeholders(text)
            undeclared = [n for n in names if n not in self.variables]
            if undeclared:
                raise ValueError(
                    f"messages.{lang} uses undeclared variable(s) "
                    f"{', '.join(undeclared)}: list them under 'variables'"
                )
            used.update(names)
        unused = [n for n in self.variables if n not in used]
        if unused:
            raise ValueError(f"variable(s) {', '.join(unused)} declared but used by no message")
        return self

    def render(self, values: Mapping[str, Any] | None) -> dict[str, str]:
        return render(self, values)


class TemplateFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    templates: dict[str, TemplateSpec]

    @field_validator("templates")
    @classmethod
    def _ids(cls, value: dict[str, TemplateSpec]) -> dict[str, TemplateSpec]:
        for template_id in value:
            if not _ID.match(template_id):
                raise ValueError(
                    f"bad template id {template_id!r}: lower-case letters, digits and '_'"
                )
        return value

    def get(self, template_id: str) -> TemplateSpec:
        try:
            return self.templates[template_id]
        except KeyError:
            known = ", ".join(sorted(self.templates)) or "none"
            raise TemplateError(
                f"unknown template {template_id!r} (known: {known})", field="template"
            ) from None


def render(template: TemplateSpec, values: Mapping[str, Any] | None) -> dict[str, str]:
    """The template's four texts with ``values`` filled in (raises :class:`TemplateError`)."""
    values = dict(values or {})
    missing = [n for n in template.variables if n not in values]
    unknown = sorted(n for n in values if n not in template.variables)
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing variable(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown variable(s) {', '.join(unknown)}")
        takes = ", ".join(template.variables) or "no variables"
        raise TemplateError(
            f"{'; '.join(parts)} (this template takes {takes})", missing=missing, unknown=unknown
        )
    per_language: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
    for name, value in values.items():
        for lang in LANGUAGES:
            per_language[lang][name] = _value(name, value, lang)
    return {lang: template.messages[lang].format_map(per_language[lang]) for lang in LANGUAGES}


def _value(name: str, value: Any, lang: str) -> str:
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in LANGUAGES]
        if unknown:
            raise TemplateError(
                f"variables.{name}: unknown language(s) {', '.join(unknown)}",
                field=f"variables.{name}",
            )
        if lang not in value:
            raise TemplateError(
                f"variables.{name}: no value for {lang} (give a string, or "
                f"one for each of {', '.join(LANGUAGES)})",
                field=f"variables.{name}",
            )
        value = value[lang]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TemplateError(
            f"variables.{name}: must be a string or a number", field=f"variables.{name}"
        )
    text = str(value).strip()
    if not text:
        raise TemplateError(f"variables.{name}: is empty", field=f"variables.{name}")
    if len(text) > MAX_VALUE:
        raise TemplateError(
            f"variables.{name}: longer than {MAX_VALUE} characters", field=f"variables.{name}"
        )
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise TemplateError(
            f"variables.{name}: contains control characters", field=f"variables.{name}"
        )
    return text


def mark_exercise(messages: Mapping[str, str]) -> dict[str, str]:
    """Every text with the exercise mark in front (once, even if called twice)."""
    out = {}
    for lang, text in messages.items():
        mark = EXERCISE_MARK.get(lang, EXERCISE_MARK["en"])
        out[lang] = text if text.startswith(mark) else mark + text
    return out
