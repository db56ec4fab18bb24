"""Checking one subscriber's fields, shared by the CSV import and the HTTP API.

Every check raises :class:`FieldProblem` naming the field and saying what is wrong, so a
rejected CSV row or a 422 tells the operator exactly what to fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container
from typing import Any

from alerts.languages import LanguageError, normalise_language
from alerts.models import Channel
from alerts.subscribers.phones import PhoneError, normalise_phone
from geo.areas import HENGQIN_MACAU_REGION

EXERCISE_TAG = "exercise"
MAX_NAME = 120
MAX_TAGS = 200
_LIST_SPLIT = re.compile(r"[\s,;|]+")
_TAG = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,39}$")


class FieldProblem(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def phone(value: Any) -> str:
    try:
        return normalise_phone(str(value or ""))
    except PhoneError as exc:
        raise FieldProblem("phone", str(exc)) from None


def language(value: Any, default: str | None = None) -> str:
    text = str(value or "").strip()
    if not text and default:
        text = default
    try:
        return normalise_language(text)
    except LanguageError as exc:
        raise FieldProblem("language", str(exc)) from None


def location(lat: Any, lon: Any) -> tuple[float | None, float | None]:
    """(lat, lon) as floats inside the operating region, or (None, None) when both are empty."""
    lat_text = "" if lat is None else str(lat).strip()
    lon_text = "" if lon is None else str(lon).strip()
    if not lat_text and not lon_text:
        return None, None
    if not lat_text or not lon_text:
        missing = "lat" if not lat_text else "lon"
        raise FieldProblem(missing, "give both lat and lon, or neither")
    values = []
    for name, text in (("lat", lat_text), ("lon", lon_text)):
        try:
            number = float(text)
        except ValueError:
            raise FieldProblem(name, f"{text!r} is not a number") from None
        if not math.isfinite(number):
            raise FieldProblem(name, f"{text!r} is not a finite number")
        values.append(number)
    la, lo = values
    if not -90 <= la <= 90:
        raise FieldProblem("lat", f"{la} is out of range -90..90 (lat and lon swapped?)")
    if not -180 <= lo <= 180:
        raise FieldProblem("lon", f"{lo} is out of range -180..180")
    min_lon, min_lat, max_lon, max_lat = HENGQIN_MACAU_REGION
    if not (min_lat <= la <= max_lat and min_lon <= lo <= max_lon):
        raise FieldProblem(
            "lat",
            f"({la}, {lo}) is outside the operating region (lat {min_lat}..{max_lat}, "
            f"lon {min_lon}..{max_lon}); lat and lon swapped?",
        )
    return la, lo


def zone(value: Any, known: Container[str]) -> str | None:
    """A known zone id (case-insensitive), or None when empty. ``known`` supports ``in``."""
    text = str(value or "").strip().lower()
    if not text:
        return None
    if text not in known:
        raise FieldProblem("zone", f"unknown zone {text!r}")
    return text


def channels(value: Any, *, has_phone: bool = True) -> str:
    """Comma-separated channels in a fixed order (``sms,push``); default ``sms``."""
    if isinstance(value, list | tuple):
        items = [str(v).strip().lower() for v in value]
    else:
        items = [p for p in _LIST_SPLIT.split(str(value or "").strip().lower()) if p]
    if not items:
        return Channel.sms.value if has_phone else Channel.push.value
    wrong = [i for i in items if i not in (Channel.sms.value, Channel.push.value)]
    if wrong:
        raise FieldProblem("channels", f"unknown channel(s) {', '.join(wrong)}: use sms, push")
    if Channel.sms.value in items and not has_phone:
        raise FieldProblem("channels", "sms needs a phone number")
    return ",".join(c.value for c in Channel if c.value in items)


def name(value: Any) -> str | None:
    text = str(value or "").strip()
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise FieldProblem("name", "contains control characters")
    if len(text) > MAX_NAME:
        raise FieldProblem("name", f"longer than {MAX_NAME} characters")
    return text or None


def tags(value: Any) -> str:
    """Lower-case tags, comma-separated, in first-seen order (``;``, ``|``, space also split)."""
    if isinstance(value, list | tuple):
        items = [str(v).strip().lower() for v in value]
    else:
        items = [t for t in _LIST_SPLIT.split(str(value or "").strip().lower()) if t]
    seen: list[str] = []
    for tag in items:
        if not _TAG.match(tag):
            raise FieldProblem("tags", f"bad tag {tag!r}: letters, digits, '_', '-', '.', ':'")
        if tag not in seen:
            seen.append(tag)
    joined = ",".join(seen)
    if len(joined) > MAX_TAGS:
        raise FieldProblem("tags", f"longer than {MAX_TAGS} characters together")
    return joined


def is_exercise(tag_text: str) -> bool:
    return EXERCISE_TAG in tag_text.split(",")
