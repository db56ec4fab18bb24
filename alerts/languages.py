"""The four languages every warning is written in, and the spellings people use for them.

A subscriber list from a Macau or mainland source says ``zh-CN``, ``zh_TW``, ``ZH-MO``,
``pt-PT`` or ``English`` as often as our canonical tags, so an incoming language is read
case-insensitively (``_`` or ``-``) and mapped to one of:

- ``zh-Hans`` (Simplified Chinese): zh-Hans, zh-CN, zh-SG, zh (bare), cmn, 简体, 简体中文
- ``zh-Hant`` (Traditional Chinese): zh-Hant, zh-TW, zh-HK, zh-MO, yue, 繁體, 繁體中文
- ``pt`` (Portuguese): pt, pt-PT, pt-BR, pt-MO, português, portugues
- ``en`` (English): en, en-GB, en-US, any en-XX, english

Anything else is refused with the list of what is accepted. The HTTP API's message keys are
the canonical tags only (two spellings of one language in one broadcast would be ambiguous).
"""

from __future__ import annotations

LANGUAGES: tuple[str, ...] = ("zh-Hans", "zh-Hant", "pt", "en")

_ALIASES: dict[str, str] = {
    "zh-hans": "zh-Hans",
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "zh": "zh-Hans",
    "zh-hans-cn": "zh-Hans",
    "zh-hans-mo": "zh-Hans",
    "cmn": "zh-Hans",
    "cmn-hans": "zh-Hans",
    "简体": "zh-Hans",
    "简体中文": "zh-Hans",
    "中文": "zh-Hans",
    "zh-hant": "zh-Hant",
    "zh-tw": "zh-Hant",
    "zh-hk": "zh-Hant",
    "zh-mo": "zh-Hant",
    "zh-hant-tw": "zh-Hant",
    "zh-hant-hk": "zh-Hant",
    "zh-hant-mo": "zh-Hant",
    "yue": "zh-Hant",
    "yue-hant": "zh-Hant",
    "繁體": "zh-Hant",
    "繁體中文": "zh-Hant",
    "繁体": "zh-Hant",
    "pt": "pt",
    "pt-pt": "pt",
    "pt-br": "pt",
    "pt-mo": "pt",
    "português": "pt",
    "portugues": "pt",
    "portuguese": "pt",
    "en": "en",
    "english": "en",
}


class LanguageError(ValueError):
    """A language tag that is not one of ours (or a spelling of one)."""


def normalise_language(value: str) -> str:
    """The canonical tag (``zh-Hans``, ``zh-Hant``, ``pt``, ``en``) for a spelling of it."""
    key = (value or "").strip().replace("_", "-").lower()
    if not key:
        raise LanguageError("language is empty: use zh-Hans, zh-Hant, pt or en")
    found = _ALIASES.get(key)
    if found is None and key.startswith("en-"):
        found = "en"
    if found is None:
        raise LanguageError(
            f"unknown language {value.strip()!r}: use zh-Hans, zh-Hant, pt or en "
            "(zh-CN, zh-TW, zh-HK, zh-MO, pt-PT, en-GB and the like are accepted too)"
        )
    return found
