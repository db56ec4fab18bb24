"""Our own CAP 1.2 alerts: one for every signal change and every public broadcast, stored and
served as an Atom feed (GET /api/v1/cap/feed.atom) and one by one (GET /api/v1/cap/alerts/…).

- `publish_signal_change`: called by the signal flow for every change. The first alert of a
  signal is an Alert, the next ones Updates that reference the previous one, and lowering is
  an Update of low severity (AllClear) that references it; a drill's alerts have status
  Exercise.
- `publish_broadcast_cap`: called when a public broadcast goes out (the broadcasts flow, and
  the rules when their broadcast is sent automatically); idempotent per broadcast. A
  broadcast sent because a condition stopped holding (a rule's reverse: "signal lowered") is
  an all-clear: an Update of low severity of our previous broadcast alert, not a Severe Alert.
Every alert passes the OASIS schema and the offline checks of the Google Public Alerts CAP
profile (emergency.cap.profile) before it is stored.

Publishing never fails the change it describes: a problem is logged and the change stands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from shapely.geometry import MultiPolygon, Polygon, shape
from sqlmodel import Session, col, select

from alerts.models import Broadcast
from emergency.cap.atom import AtomEntry, atom_feed
from emergency.cap.build import (
    ALL_CLEAR_FOR,
    AreaSpec,
    broadcast_alert,
    cap_time,
    make_identifier,
    signal_change_alert,
)
from emergency.cap.models import CapPublished
from emergency.cap.parse import parse_built_cap
from emergency.cap.profile import profile_problems
from emergency.db import utcnow
from emergency.events import service as event_service
from emergency.rules.models import is_reverse_key
from emergency.runtime import Runtime
from emergency.signals.models import SignalChange
from geo.cap import cap_polygons

log = logging.getLogger(__name__)

# The <sender> of our alerts: a stable id of the command post (CAP: normally a domain name).
SENDER = "sanfang.hengqin.gov.cn"
IDENTIFIER_PREFIX = "HQ"
SENDER_NAMES = {
    "zh-Hans": "横琴粤澳深度合作区三防指挥部",
    "zh-Hant": "橫琴粵澳深度合作區三防指揮部",
    "pt": "Posto de Comando de Prevenção de Inundações, Secas e Ventos Fortes de Hengqin",
    "en": "Hengqin Flood, Drought and Wind Prevention Command Post",
}
HENGQIN_NAMES = {
    "zh-Hans": "横琴粤澳深度合作区",
    "zh-Hant": "橫琴粵澳深度合作區",
    "pt": "Zona de Cooperação Aprofundada entre Guangdong e Macau em Hengqin",
    "en": "Guangdong-Macao In-Depth Cooperation Zone in Hengqin",
}
FEED_LIMIT = 50


# --- areas -------------------------------------------------------------------------------


def hengqin_area(runtime: Runtime) -> AreaSpec:
    """All of our zones as one CAP area (their union; its convex hull if it is in pieces)."""
    return AreaSpec(area_desc=HENGQIN_NAMES, polygons=runtime.config.hengqin_polygons)


def zone_areas(
    runtime: Runtime, zone_ids: list[str], area: dict[str, Any] | None = None
) -> list[AreaSpec]:
    """One CAP area per zone (named in each language), plus a drawn GeoJSON area if any."""
    zone_set = runtime.zones
    areas = []
    for zone_id in zone_ids:
        zone = zone_set.get(zone_id)
        if zone is not None:
            areas.append(AreaSpec(area_desc=dict(zone.name), polygons=cap_polygons(zone.geometry)))
    if area:
        geometry = shape(area)
        if isinstance(geometry, Polygon | MultiPolygon):
            desc = {
                "zh-Hans": "指定区域",
                "zh-Hant": "指定區域",
                "pt": "Área indicada",
                "en": "Designated area",
            }
            areas.append(AreaSpec(area_desc=desc, polygons=cap_polygons(geometry)))
    return areas or [hengqin_area(runtime)]


# --- publishing --------------------------------------------------------------------------


def publish_signal_change(
    session: Session, *, runtime: Runtime, change: SignalChange
) -> CapPublished | None:
    """Our CAP alert for one signal change (see the module docstring)."""
    status = "Exercise" if change.exercise else "Actual"
    previous = session.exec(
        select(CapPublished)
        .where(
            CapPublished.source == change.source,
            CapPublished.kind == change.kind,
            CapPublished.status == status,
        )
        .order_by(col(CapPublished.id).desc())
        .limit(1)
    ).first()
    references = []
    if previous is not None and previous.msg_type != "Cancel" and previous.level is not None:
        references = [_reference(previous)]  # an all-clear ended the previous one
    if change.level is None and not references:
        # Raised before we published alerts (or never announced): nothing to cancel.
        log.info(
            "signal lowered without an alert of ours to cancel",
            extra={"signal_change_id": change.id},
        )
        return None

    def build(header: _Header) -> bytes:
        return signal_change_alert(
            catalogue=runtime.catalogue,
            source=change.source,
            kind=change.kind,
            level=change.level,
            previous=change.previous_level,
            expires=change.expires_at,
            areas=[hengqin_area(runtime)],
            **header,
        )

    return _publish(
        session, runtime=runtime, of=change, sent=change.at, references=references, build=build
    )


def publish_broadcast_cap(
    session: Session, *, runtime: Runtime, broadcast: Broadcast, all_clear: bool = False
) -> CapPublished | None:
    """The CAP alert of a public broadcast (one <info> per language of its messages); the same
    broadcast again returns the alert already published. `all_clear`: the broadcast says a
    danger has passed (a rule's reverse action): an Update of low severity."""
    existing = session.exec(
        select(CapPublished).where(CapPublished.broadcast_id == broadcast.id)
    ).first()
    if existing is not None:
        return existing
    sent = utcnow()
    status = "Exercise" if broadcast.exercise else "Actual"
    # The broadcasts flow publishes as soon as a broadcast goes out: a rule's reverse action
    # is recognised by the broadcast's idempotency key, the key of the rule's run.
    all_clear = all_clear or is_reverse_key(broadcast.idempotency_key)
    references: list[str] = []
    if all_clear:
        earlier = session.exec(
            select(CapPublished)
            .where(col(CapPublished.broadcast_id).is_not(None), CapPublished.status == status)
            .order_by(col(CapPublished.id).desc())
            .limit(1)
        ).first()
        references = [_reference(earlier)] if earlier is not None else []
    tone = _ALL_CLEAR if all_clear else _WARNING

    def build(header: _Header) -> bytes:
        return broadcast_alert(
            messages={k: v for k, v in dict(broadcast.messages).items() if v},
            areas=zone_areas(runtime, list(broadcast.zones or []), broadcast.area),
            headlines={
                lang: f"{HENGQIN_PLACE[lang]}{_SEP[lang]}{text}"
                for lang, text in tone.headline.items()
            },
            urgency=tone.urgency,
            severity=tone.severity,
            certainty="Observed",
            response_types=[tone.response],
            expires=sent + (ALL_CLEAR_FOR if all_clear else BROADCAST_FOR),
            msg_type="Update" if references else "Alert",
            **header,
        )

    return _publish(
        session, runtime=runtime, of=broadcast, sent=sent, references=references, build=build
    )


class _Header(TypedDict):
    """What every alert of ours says of itself (its <alert> and <info> heads)."""

    identifier: str
    sender: str
    sent: datetime
    references: list[str]
    sender_names: dict[str, str]
    status: str
    web: str | None


def _publish(
    session: Session,
    *,
    runtime: Runtime,
    of: SignalChange | Broadcast,
    sent: datetime,
    references: list[str],
    build: Callable[[_Header], bytes],
) -> CapPublished | None:
    """Store our alert `of` a signal change or a broadcast that `build(header)` makes,
    once it passes the profile's checks; an Update when it `references` an earlier one. One
    that cannot be built is logged and not published: the change or the broadcast stands."""
    about: dict[str, Any]  # which change or broadcast: in the row and in the log
    subject: dict[str, Any]  # what a signal change is of
    if isinstance(of, SignalChange):
        what, about = "a signal change", {"signal_change_id": of.id}
        subject = {"source": of.source, "kind": of.kind, "level": of.level}
    else:
        what, about, subject = "a broadcast", {"broadcast_id": of.id}, {}
    header = _Header(
        identifier=make_identifier(prefix=IDENTIFIER_PREFIX, sent=sent),
        sender=SENDER,
        sent=sent,
        references=references,
        sender_names=SENDER_NAMES,
        status="Exercise" if of.exercise else "Actual",
        web=runtime.settings.public_url,
    )
    try:
        xml = build(header)
        _check_profile(xml)
    except Exception:
        log.exception("could not build the CAP alert of %s", what, extra=about)
        return None
    row = CapPublished(
        identifier=header["identifier"],
        sender=SENDER,
        sent=sent,
        status=header["status"],
        msg_type="Update" if references else "Alert",
        references=" ".join(references) or None,
        xml=xml.decode("utf-8"),
        **subject,
        **about,
    )
    return _store(session, runtime=runtime, row=row)


HENGQIN_PLACE = {"zh-Hans": "横琴", "zh-Hant": "橫琴", "pt": "Hengqin", "en": "Hengqin"}
_SEP = {"zh-Hans": "：", "zh-Hant": "：", "pt": ": ", "en": ": "}
# A public broadcast stays current a day unless a later alert replaces it; an all-clear an hour.
BROADCAST_FOR = timedelta(hours=24)


@dataclass(frozen=True)
class _Tone:
    """What a broadcast's CAP alert says besides its messages: a warning, or an all-clear."""

    headline: dict[str, str]
    urgency: str
    severity: str
    response: str


_WARNING = _Tone(
    headline={
        "zh-Hans": "三防指挥部公共安全警报",
        "zh-Hant": "三防指揮部公共安全警報",
        "pt": "alerta de segurança pública do posto de comando",
        "en": "public safety alert from the command post",
    },
    urgency="Immediate",
    severity="Severe",
    response="Execute",  # do what the message says
)
_ALL_CLEAR = _Tone(
    headline={
        "zh-Hans": "警报解除，外出请注意安全",
        "zh-Hant": "警報解除，外出請注意安全",
        "pt": "fim do alerta, cuidado ao sair",
        "en": "all clear, take care outside",
    },
    urgency="Past",
    severity="Minor",
    response="AllClear",
)


def _check_profile(xml: bytes) -> None:
    """Never publish what the Google Public Alerts profile's offline checks refuse."""
    problems = profile_problems(parse_built_cap(xml))
    if problems:
        raise ValueError("the alert breaks the CAP profile: " + "; ".join(problems))


def _store(session: Session, *, runtime: Runtime, row: CapPublished) -> CapPublished:
    session.add(row)
    session.flush()
    event_service.emit(
        session,
        "cap.published",
        {
            "identifier": row.identifier,
            "msg_type": row.msg_type,
            "status": row.status,
            "source": row.source,
            "kind": row.kind,
            "level": row.level,
            "broadcast_id": row.broadcast_id,
            "url": alert_url(runtime, row.identifier),
        },
    )
    return row


def _reference(row: CapPublished) -> str:
    # The sent time as written in the alert (Macau time, whole seconds), so references match.
    return f"{row.sender},{row.identifier},{cap_time(row.sent)}"


# --- reading -----------------------------------------------------------------------------


def alert_url(runtime: Runtime, identifier: str) -> str:
    return f"{runtime.settings.public_url}/api/v1/cap/alerts/{identifier}.xml"


def get_published(session: Session, *, identifier: str) -> CapPublished | None:
    return session.exec(select(CapPublished).where(CapPublished.identifier == identifier)).first()


def list_published(session: Session, *, limit: int = FEED_LIMIT) -> list[CapPublished]:
    return list(
        session.exec(select(CapPublished).order_by(col(CapPublished.id).desc()).limit(limit))
    )


def feed_version(session: Session) -> int:
    """The id of our newest alert: the feed changes exactly when it does (its ETag)."""
    newest = session.exec(select(CapPublished.id).order_by(col(CapPublished.id).desc())).first()
    return int(newest or 0)


def atom(session: Session, *, runtime: Runtime, limit: int = FEED_LIMIT) -> bytes:
    """Our newest alerts as an Atom feed, built once per version of the feed and reused."""
    version = feed_version(session)
    memo = runtime.memo.atom_feed
    if memo and memo[0] == (version, limit):
        return memo[1]
    rows = list_published(session, limit=limit)
    base = runtime.settings.public_url
    entries = [
        AtomEntry(cap_xml=row.xml.encode("utf-8"), url=alert_url(runtime, row.identifier))
        for row in rows
    ]
    data = atom_feed(
        entries,
        feed_id=f"{base}/api/v1/cap/feed.atom",
        title="Hengqin command post: warning signals and public alerts (CAP 1.2)",
        updated=rows[0].sent if rows else utcnow(),
        self_url=f"{base}/api/v1/cap/feed.atom",
        author_uri=base,
        alternate_url=f"{base}/",
    )
    runtime.memo.atom_feed = ((version, limit), data)
    return data
