"""A parsed CAP 1.2 alert as plain, immutable Python values.

Times are timezone-aware datetimes that keep the offset they were written with
(2024-09-05T22:00:00+08:00 stays +08:00), so formatting them again gives the same text.
Polygons are lists of (lat, lon) points, CAP's order (not GeoJSON's lon, lat).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_MIME = "application/cap+xml"

STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")
# msgTypes that refer to earlier messages and must carry <references>.
REFERRING_MSG_TYPES = ("Update", "Cancel", "Ack", "Error")

Point = tuple[float, float]  # (lat, lon)
Pair = tuple[str, str]  # (valueName, value)


def format_cap_time(value: datetime) -> str:
    """CAP's form: YYYY-MM-DDThh:mm:ss+hh:mm, no 'Z', no fractions; refuses naive times."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"CAP times need a timezone, got the naive datetime {value!r}")
    text = value.replace(microsecond=0).isoformat(timespec="seconds")
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


@dataclass(frozen=True, slots=True)
class CapReference:
    """One earlier message: the 'sender,identifier,sent' triple of <references>."""

    sender: str
    identifier: str
    sent: datetime

    def __str__(self) -> str:
        return f"{self.sender},{self.identifier},{format_cap_time(self.sent)}"

    @property
    def key(self) -> tuple[str, str]:
        """(sender, identifier): what identifies a message."""
        return (self.sender, self.identifier)


@dataclass(frozen=True, slots=True)
class CapCircle:
    lat: float
    lon: float
    radius_km: float


@dataclass(frozen=True, slots=True)
class CapArea:
    area_desc: str
    polygons: list[list[Point]] = field(default_factory=list)
    circles: list[CapCircle] = field(default_factory=list)
    geocodes: list[Pair] = field(default_factory=list)
    altitude: float | None = None
    ceiling: float | None = None


@dataclass(frozen=True, slots=True)
class CapResource:
    resource_desc: str
    mime_type: str
    size: int | None = None
    uri: str | None = None
    digest: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InfoTexts:
    """The optional times and texts of an <info>, as we read them and as we write them."""

    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None


@dataclass(frozen=True, slots=True)
class CapInfo(InfoTexts):
    language: str
    categories: list[str]
    event: str
    urgency: str
    severity: str
    certainty: str
    response_types: list[str] = field(default_factory=list)
    audience: str | None = None
    event_codes: list[Pair] = field(default_factory=list)
    parameters: list[Pair] = field(default_factory=list)
    resources: list[CapResource] = field(default_factory=list)
    areas: list[CapArea] = field(default_factory=list)

    def event_code(self, value_name: str) -> str | None:
        """The first eventCode value of that valueName (case-insensitive), or None."""
        return _first(self.event_codes, value_name)

    def parameter(self, value_name: str) -> str | None:
        """The first parameter value of that valueName (case-insensitive), or None."""
        return _first(self.parameters, value_name)


@dataclass(frozen=True, slots=True)
class CapAlert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    source: str | None = None
    restriction: str | None = None
    addresses: str | None = None
    codes: list[str] = field(default_factory=list)
    note: str | None = None
    references: list[CapReference] = field(default_factory=list)
    incidents: str | None = None
    infos: list[CapInfo] = field(default_factory=list)

    @property
    def reference(self) -> CapReference:
        """This alert as a reference, for the <references> of a later Update or Cancel."""
        return CapReference(self.sender, self.identifier, self.sent)

    @property
    def is_actual(self) -> bool:
        """Only Actual alerts are real; Exercise is a drill, System/Test/Draft are never acted on."""
        return self.status == "Actual"

    def info(self, language: str) -> CapInfo | None:
        """The info in `language` (exact, then by primary subtag: 'zh-Hant' finds 'zh-Hant-MO')."""
        wanted = language.casefold()
        for info in self.infos:
            if info.language.casefold() == wanted:
                return info
        for info in self.infos:
            if info.language.casefold().startswith(wanted + "-"):
                return info
        return None


def _first(pairs: list[Pair], value_name: str) -> str | None:
    wanted = value_name.casefold()
    for name, value in pairs:
        if name.casefold() == wanted:
            return value
    return None
