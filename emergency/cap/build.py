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

from emergency.cap.alert import (
    CAP_NS,
    CapAlert,
    CapReference,
    InfoTexts,
    Pair,
    Point,
    format_cap_time,
)
from emergency.cap.exceptions import CapError
from emergency.cap.mapping import SIGNAL_VALUE_NAME
from emergency.cap.parse import parse_built_cap
from emergency.catalogue import LANGUAGES, Catalogue, Language, format_signal_code

# Macau and Hengqin have kept UTC+8 without daylight saving since 1979: a fixed offset
# is exact and needs no tz database.
MACAU_TZ = timezone(timedelta(hours=8), "Asia/Macau")

# Our alerts' languages, in the order their <info> blocks are written.
LANGUAGE_ORDER: tuple[Language, ...] = LANGUAGES

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
class InfoSpec(InfoTexts):
    """One <info> block to write (build_cap writes its fields in the schema's order)."""

    language: str
    event: str
    urgency: str
    severity: str
    certainty: str
    categories: Sequence[str] = ("Met",)
    response_types: Sequence[str] = ()
    audience: str | None = None
    event_codes: Sequence[Pair] = ()
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
    data: bytes = etree.tostring(alert, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    try:
        parse_built_cap(data)
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

    msgType is Alert for a first raise and Update when `references` name the alert(s) it
    supersedes. Lowering is an Update of low severity (Minor, Past, Observed, AllClear)
    that expires an hour later, the way the Google Public Alerts guidelines end an event:
    a Cancel means "sent in error". Otherwise severity comes from the level's rank
    (Catalogue.cap_severity); certainty and urgency from what the signal is: a warning
    issued ahead (Level.forecast: SMG No. 1 and No. 3, the mainland's colour warnings,
    storm surge) is Likely/Expected, a signal in force now Observed/Immediate. Each
    language's headline is in that language and names the place the signal is for
    (澳門 / 澳门 / Macau for SMG's); <source> names the agency (SMG); <instruction> comes
    from the catalogue unless given; <expires> when known.
    """
    code = catalogue.canonical(source, kind, level)
    before = catalogue.canonical(source, kind, previous) if previous is not None else None
    change = catalogue.compare(code.source, code.kind, previous, code.level)
    src = catalogue.source(code.source)
    knd = catalogue.kind(code.source, code.kind)
    lowering = code.level is None
    if lowering and not references:
        raise ValueError(
            "lowering a signal is an Update: give the references of the alert(s) it ends"
        )
    msg_type = "Update" if references else "Alert"

    shown = code.level if not lowering else (before.level if before else None)
    level_obj = catalogue.level(code.source, code.kind, shown) if shown is not None else None
    if lowering:
        severity, urgency, certainty, responses = "Minor", "Past", "Observed", ["AllClear"]
        expires = sent + ALL_CLEAR_FOR
        signal_value = format_signal_code(code.source, code.kind, None)
    else:
        assert level_obj is not None and code.level is not None
        severity = catalogue.cap_severity(code.source, code.kind, code.level)
        forecast = level_obj.forecast if level_obj.forecast is not None else knd.forecast
        urgency, certainty = ("Expected", "Likely") if forecast else ("Immediate", "Observed")
        responses = [_RESPONSE_BY_SEVERITY[severity]]
        signal_value = format_signal_code(code.source, code.kind, code.level)
    parameters: list[Pair] = [("SIGNAL_CHANGE", str(change))]
    if before is not None and before.level is not None:
        parameters.append(("SIGNAL_PREVIOUS", str(before)))
    agency = src.names["en"] if src.id == src.names["en"] else f"{src.names['en']} ({src.id})"

    infos = []
    for language in LANGUAGE_ORDER:
        instruction: str | None
        name = level_obj.name(language) if level_obj is not None else knd.names[language]
        if lowering:
            ended = (_LOWERED_SIGNAL if code.kind == "tropical_cyclone" else _LOWERED)[language]
            headline = ended.format(name=name)
            description = headline + _PERIOD[language]
            instruction = _ALL_CLEAR_INSTRUCTION[language]
        else:
            assert level_obj is not None
            headline = name
            description = level_obj.meaning_in(language)
            own = level_obj.instruction or knd.instruction
            instruction = own[language] if own else None
        if src.place is not None:
            headline = _PLACED[language].format(place=src.place[language], text=headline)
        if instructions:
            instruction = _local(instructions, language)
        infos.append(
            InfoSpec(
                language=language,
                categories=(knd.cap_category,),
                event=knd.names[language],
                response_types=responses,
                urgency=urgency,
                severity=severity,
                certainty=certainty,
                event_codes=[(SIGNAL_VALUE_NAME, signal_value)],
                effective=effective or sent,
                expires=expires,
                sender_name=_local(sender_names, language) if sender_names else None,
                headline=headline,
                description=description,
                instruction=instruction,
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
        source=agency,
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
    languages: list[str] = [lang for lang in LANGUAGE_ORDER if messages.get(lang)]
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

# An all-clear stays in feeds this long: long enough to be seen, then it expires.
ALL_CLEAR_FOR = timedelta(hours=1)
_LOWERED_SIGNAL = {  # a tropical cyclone signal is lowered (除下, arriado)
    "zh-Hans": "{name}已除下",
    "zh-Hant": "{name}已除下",
    "pt": "{name} arriado",
    "en": "{name} lowered",
}
_LOWERED = {  # a warning is cancelled
    "zh-Hans": "{name}已取消",
    "zh-Hant": "{name}已取消",
    "pt": "{name} cancelado",
    "en": "{name} cancelled",
}
_PERIOD = {"zh-Hans": "。", "zh-Hant": "。", "pt": ".", "en": "."}
_PLACED = {
    "zh-Hans": "{place}：{text}",
    "zh-Hant": "{place}：{text}",
    "pt": "{place}: {text}",
    "en": "{place}: {text}",
}
_ALL_CLEAR_INSTRUCTION = {
    "zh-Hans": "外出时留意倒塌树木、积水及坠落物；按横琴三防指挥部的指示行事。",
    "zh-Hant": "外出時留意倒塌樹木、積水及墜落物；按橫琴三防指揮部的指示行事。",
    "pt": "Ao sair, cuidado com árvores caídas, água acumulada e objectos a cair; siga as "
    "instruções do posto de comando de Hengqin.",
    "en": "Outside, watch for fallen trees, standing water and falling objects; follow the "
    "Hengqin command post's instructions.",
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
