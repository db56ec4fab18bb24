"""Build our own CAP 1.2 alerts: schema-valid XML, one <info> per language.

`build_cap` writes the elements in the schema's order, times as
YYYY-MM-DDThh:mm:ss+08:00 (Macau/Hengqin time, no fractions), and checks its own
output with the same parser that checks incoming alerts, so it never hands out an
alert that we would refuse ourselves. Two conveniences sit on top:

- `signal_change_alert`: a signal raised, changed or lowered, named and explained in
  the four languages from the catalogue, tagged with eventCode SIGNAL=SOURCE:kind:level
  (what our ingest and other systems read back);
- `broadcast_alert`: a public broadcast with given texts and areas.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from lxml import etree

from emergency.cap.exceptions import CapError
from emergency.cap.mapping import SIGNAL_VALUE_NAME
from emergency.cap.models import CAP_NS, CapAlert, CapReference, Pair, Point, format_cap_time
from emergency.cap.parse import parse_cap
from emergency.catalogue import LANGUAGES, Catalogue, format_signal_code

# Macau and Hengqin have kept UTC+8 without daylight saving since 1979: a fixed offset
# is exact and needs no tz database.
MACAU_TZ = timezone(timedelta(hours=8), "Asia/Macau")

# Our alerts' languages, in the order their <info> blocks are written.
LANGUAGE_ORDER: tuple[str, ...] = LANGUAGES

LocalText = str | Mapping[str, str]  # one text for all languages, or one per language


@dataclass(frozen=True, slots=True)
class AreaSpec:
    """An <area>: description (per language or one for all), polygons, circles, geocodes.

    Polygons are CAP strings ("lat,lon lat,lon ...", see geo.cap.cap_polygons) or
    sequences of (lat, lon) points; circles are "lat,lon radius_km" strings.
    """

    area_desc: LocalText
    polygons: Sequence[str | Sequence[Point]] = ()
    circles: Sequence[str] = ()
    geocodes: Sequence[Pair] = ()

    def desc(self, language: str) -> str:
        return _local(self.area_desc, language) or ""


@dataclass(frozen=True, slots=True)
class InfoSpec:
    """One <info> block; fields in the schema's order are filled by build_cap."""

    language: str
    event: str
    urgency: str
    severity: str
    certainty: str
    categories: Sequence[str] = ("Met",)
    response_types: Sequence[str] = ()
    audience: str | None = None
    event_codes: Sequence[Pair] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: Sequence[Pair] = ()
    areas: Sequence[AreaSpec] = ()


def cap_time(value: datetime) -> str:
    """An aware datetime as CAP text in Macau time: 2024-09-05T22:00:00+08:00."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"CAP times need a timezone, got the naive datetime {value!r}")
    return format_cap_time(value.astimezone(MACAU_TZ))


def make_identifier(*, prefix: str, sent: datetime) -> str:
    """A unique identifier without spaces or commas, e.g. HQ-20240905T220000-3f9a0c1b."""
    local = sent.astimezone(MACAU_TZ) if sent.tzinfo else sent
    return f"{prefix}-{local:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def build_cap(
    *,
    identifier: str,
    sender: str,
    sent: datetime,
    status: str = "Actual",
    msg_type: str = "Alert",
    scope: str = "Public",
    references: Sequence[CapReference | CapAlert | str] = (),
    infos: Sequence[InfoSpec],
    source: str | None = None,
    restriction: str | None = None,
    addresses: str | None = None,
    codes: Sequence[str] = (),
    note: str | None = None,
    incidents: str | None = None,
) -> bytes:
    """A CAP 1.2 alert as UTF-8 XML bytes; CapError cap_build_invalid if it would not validate."""
    alert = etree.Element(_q("alert"), nsmap={None: CAP_NS})
    _sub(alert, "identifier", identifier)
    _sub(alert, "sender", sender)
    _sub(alert, "sent", cap_time(sent))
    _sub(alert, "status", status)
    _sub(alert, "msgType", msg_type)
    _sub(alert, "source", source)
    _sub(alert, "scope", scope)
    _sub(alert, "restriction", restriction)
    _sub(alert, "addresses", addresses)
    for code in codes:
        _sub(alert, "code", code)
    _sub(alert, "note", note)
    if references:
        _sub(alert, "references", " ".join(_reference(r) for r in references))
    _sub(alert, "incidents", incidents)
    for spec in infos:
        _info(alert, spec)
    data = etree.tostring(alert, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    try:
        parse_cap(data, max_bytes=max(len(data), 1))
    except CapError as exc:
        raise CapError(
            "cap_build_invalid", f"the alert built is not valid: {exc}", path=exc.path
        ) from None
    return data


def signal_change_alert(
    *,
    catalogue: Catalogue,
    source: str,
    kind: str,
    level: str | None,
    previous: str | None = None,
    identifier: str,
    sender: str,
    sent: datetime,
    references: Sequence[CapReference | CapAlert | str] = (),
    effective: datetime | None = None,
    expires: datetime | None = None,
    areas: Sequence[AreaSpec] = (),
    instructions: Mapping[str, str] | None = None,
    sender_names: Mapping[str, str] | None = None,
    status: str = "Actual",
    web: str | None = None,
    contact: str | None = None,
) -> bytes:
    """The CAP alert announcing a signal change (level None: lowered), in four languages.

    msgType is Alert for a first raise, Update when `references` name the alert(s) it
    supersedes, and Cancel when lowering (which then needs `references`). Urgency and
    severity come from the level's rank (Catalogue.cap_severity).
    """
    code = catalogue.canonical(source, kind, level)
    before = catalogue.canonical(source, kind, previous) if previous is not None else None
    change = catalogue.compare(code.source, code.kind, previous, code.level)
    knd = catalogue.kind(code.source, code.kind)
    lowering = code.level is None
    if lowering and not references:
        raise ValueError(
            "lowering a signal is a Cancel: give the references of the alert(s) it cancels"
        )
    msg_type = "Cancel" if lowering else ("Update" if references else "Alert")

    shown = code.level if not lowering else (before.level if before else None)
    signal_value = format_signal_code(code.source, code.kind, shown)
    if lowering:
        severity, urgency, responses = "Minor", "Past", ["AllClear"]
    else:
        severity = catalogue.cap_severity(code.source, code.kind, code.level)
        urgency = "Immediate" if severity in ("Extreme", "Severe") else "Expected"
        responses = [_RESPONSE_BY_SEVERITY[severity]]
    parameters: list[Pair] = [("SIGNAL_CHANGE", str(change))]
    if before is not None and before.level is not None:
        parameters.append(("SIGNAL_PREVIOUS", str(before)))

    infos = []
    for language in LANGUAGE_ORDER:
        if shown is not None:
            level_obj = catalogue.level(code.source, code.kind, shown)
            name = level_obj.name(language)
            description = level_obj.meaning_in(language)
        else:
            name, description = knd.names[language], None
        headline = _LOWERED[language].format(name=name) if lowering else name
        infos.append(
            InfoSpec(
                language=language,
                categories=(knd.cap_category,),
                event=knd.names[language],
                response_types=responses,
                urgency=urgency,
                severity=severity,
                certainty="Observed",
                event_codes=[(SIGNAL_VALUE_NAME, signal_value)],
                effective=effective or sent,
                expires=None if lowering else expires,
                sender_name=_local(sender_names, language) if sender_names else None,
                headline=headline,
                description=description,
                instruction=_local(instructions, language) if instructions else None,
                web=web,
                contact=contact,
                parameters=parameters,
                areas=areas,
            )
        )
    return build_cap(
        identifier=identifier,
        sender=sender,
        sent=sent,
        status=status,
        msg_type=msg_type,
        references=references,
        infos=infos,
    )


def broadcast_alert(
    *,
    identifier: str,
    sender: str,
    sent: datetime,
    messages: Mapping[str, str],
    areas: Sequence[AreaSpec],
    headlines: Mapping[str, str] | None = None,
    events: Mapping[str, str] | None = None,
    instructions: Mapping[str, str] | None = None,
    urgency: str = "Immediate",
    severity: str = "Severe",
    certainty: str = "Observed",
    categories: Sequence[str] = ("Safety",),
    response_types: Sequence[str] = (),
    event_codes: Sequence[Pair] = (),
    effective: datetime | None = None,
    expires: datetime | None = None,
    sender_names: Mapping[str, str] | None = None,
    status: str = "Actual",
    msg_type: str = "Alert",
    references: Sequence[CapReference | CapAlert | str] = (),
    web: str | None = None,
    contact: str | None = None,
) -> bytes:
    """The CAP alert of a public broadcast: one <info> per language of `messages`.

    A drill is status Exercise. No SIGNAL eventCode is added: a broadcast informs, it does
    not assert a signal (feeding it back must not raise one).
    """
    languages = [lang for lang in LANGUAGE_ORDER if messages.get(lang)]
    languages += [lang for lang in messages if lang not in languages and messages[lang]]
    if not languages:
        raise ValueError("a broadcast needs a message in at least one language")
    event_names = {**_BROADCAST_EVENT, **(events or {})}
    infos = [
        InfoSpec(
            language=language,
            categories=categories,
            event=event_names.get(language) or event_names["en"],
            response_types=response_types,
            urgency=urgency,
            severity=severity,
            certainty=certainty,
            event_codes=event_codes,
            effective=effective,
            expires=expires,
            sender_name=_local(sender_names, language) if sender_names else None,
            headline=_local(headlines, language) if headlines else None,
            description=messages[language],
            instruction=_local(instructions, language) if instructions else None,
            web=web,
            contact=contact,
            areas=areas,
        )
        for language in languages
    ]
    return build_cap(
        identifier=identifier,
        sender=sender,
        sent=sent,
        status=status,
        msg_type=msg_type,
        references=references,
        infos=infos,
    )


# --- wording ---------------------------------------------------------------------------

_LOWERED = {
    "zh-Hans": "{name}已解除",
    "zh-Hant": "{name}已解除",
    "pt": "{name}: cancelado",
    "en": "{name} cancelled",
}
_BROADCAST_EVENT = {
    "zh-Hans": "公共安全警报",
    "zh-Hant": "公共安全警報",
    "pt": "Alerta de segurança pública",
    "en": "Public safety alert",
}
_RESPONSE_BY_SEVERITY = {
    "Minor": "Monitor",
    "Moderate": "Prepare",
    "Severe": "Shelter",
    "Extreme": "Shelter",
}


# --- XML helpers --------------------------------------------------------------------------


def _q(name: str) -> str:
    return f"{{{CAP_NS}}}{name}"


def _sub(parent: etree._Element, name: str, text: str | None) -> etree._Element | None:
    if text is None:
        return None
    child = etree.SubElement(parent, _q(name))
    child.text = text
    return child


def _pair(parent: etree._Element, name: str, pair: Pair) -> None:
    element = etree.SubElement(parent, _q(name))
    _sub(element, "valueName", pair[0])
    _sub(element, "value", pair[1])


def _info(alert: etree._Element, spec: InfoSpec) -> None:
    info = etree.SubElement(alert, _q("info"))
    _sub(info, "language", spec.language)
    for category in spec.categories:
        _sub(info, "category", category)
    _sub(info, "event", spec.event)
    for response in spec.response_types:
        _sub(info, "responseType", response)
    _sub(info, "urgency", spec.urgency)
    _sub(info, "severity", spec.severity)
    _sub(info, "certainty", spec.certainty)
    _sub(info, "audience", spec.audience)
    for pair in spec.event_codes:
        _pair(info, "eventCode", pair)
    for name in ("effective", "onset", "expires"):
        value = getattr(spec, name)
        _sub(info, name, cap_time(value) if value is not None else None)
    _sub(info, "senderName", spec.sender_name)
    _sub(info, "headline", spec.headline)
    _sub(info, "description", spec.description)
    _sub(info, "instruction", spec.instruction)
    _sub(info, "web", spec.web)
    _sub(info, "contact", spec.contact)
    for pair in spec.parameters:
        _pair(info, "parameter", pair)
    for area_spec in spec.areas:
        area = etree.SubElement(info, _q("area"))
        _sub(area, "areaDesc", area_spec.desc(spec.language))
        for polygon in area_spec.polygons:
            _sub(area, "polygon", polygon if isinstance(polygon, str) else _polygon_text(polygon))
        for circle in area_spec.circles:
            _sub(area, "circle", circle)
        for pair in area_spec.geocodes:
            _pair(area, "geocode", pair)


def _polygon_text(points: Sequence[Point]) -> str:
    return " ".join(f"{_number(lat)},{_number(lon)}" for lat, lon in points)


def _number(value: float) -> str:
    # CAP consumers expect at most 6 decimals (about 0.1 m).
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _reference(ref: CapReference | CapAlert | str) -> str:
    if isinstance(ref, CapAlert):
        ref = ref.reference
    if isinstance(ref, CapReference):
        return f"{ref.sender},{ref.identifier},{format_cap_time(ref.sent)}"
    return ref.strip()


def _local(text: LocalText | Mapping[str, str] | None, language: str) -> str | None:
    """The text for `language`: a plain string serves every language."""
    if text is None or isinstance(text, str):
        return text
    if language in text:
        return text[language]
    fallback = "zh-Hans" if language.startswith("zh") else "en"
    return text.get(fallback) or next(iter(text.values()), None)
