"""Who a broadcast reaches: the subscribers and browsers inside its target, once each.

The target is named zones (their geometries) and/or an ad-hoc area. One query per channel
loads the candidates inside the target's bounding box (or with a target zone id) into numpy
arrays, and :func:`geo.targeting.target_mask` decides the rest without a loop per person.

- SMS: subscribers with a phone and ``sms`` among their channels, not opted out, whose
  location is inside the target, or who have no location but a ``zone_id`` among the target
  zones (a declared zone counts even when a location elsewhere is also on file).
- Push: browser subscriptions inside the target by their own location or zone; one with
  neither is *island-wide* and is in every broadcast's audience (a browser that subscribed
  to the command post's alerts without sharing where it is). Subscriptions linked to an
  opted-out subscriber are left out.
- Exercise broadcasts: only subscribers on the exercise list; a push subscription counts
  only when it is linked to such a subscriber. Nobody else, whatever the target.

Each phone and each endpoint appears once (both are unique in their tables), so the outbox
dedupe keys ``sms:<E.164>`` and ``push:<sha1(endpoint)>`` are unique in a broadcast.
:func:`compute_chunk` gives the same audience a slice at a time, in id order (the outbox of a
big broadcast is written in chunks).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from sqlalchemy import ColumnElement, Select, and_, false, or_, select, true
from sqlmodel import Session

from alerts.models import Channel, PushSubscription, Subscriber
from alerts.sqltypes import table_of
from geo.targeting import target_mask

# Core tables: the audience is read as plain rows (no ORM loading), 200,000 at a time.
_SUBSCRIBER = table_of(Subscriber)
_PUSH = table_of(PushSubscription)


@dataclass(frozen=True)
class Target:
    zone_ids: tuple[str, ...]
    geometries: tuple[Any, ...]  # the zones' (Multi)Polygons
    area: Any | None  # a parsed ad-hoc (Multi)Polygon

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        shapes = [*self.geometries, *([self.area] if self.area is not None else [])]
        if not shapes:
            return None
        b = np.array([s.bounds for s in shapes])
        return (
            float(b[:, 0].min()),
            float(b[:, 1].min()),
            float(b[:, 2].max()),
            float(b[:, 3].max()),
        )


@dataclass
class Audience:
    """The recipients, as parallel lists per channel (in the order they will be queued)."""

    sms_subscriber_ids: list[int] = field(default_factory=list)
    sms_phones: list[str] = field(default_factory=list)
    sms_languages: list[str] = field(default_factory=list)
    push_ids: list[int] = field(default_factory=list)
    push_endpoints: list[str] = field(default_factory=list)
    push_languages: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.sms_phones) + len(self.push_endpoints)

    def by_channel(self) -> dict[str, int]:
        return {"sms": len(self.sms_phones), "push": len(self.push_endpoints)}

    def by_language(self, languages: Sequence[str]) -> dict[str, int]:
        counts = Counter(self.sms_languages) + Counter(self.push_languages)
        return {lang: counts.get(lang, 0) for lang in languages}

    def by_language_and_channel(self, languages: Sequence[str]) -> dict[str, dict[str, int]]:
        sms, push = Counter(self.sms_languages), Counter(self.push_languages)
        return {lang: {"sms": sms.get(lang, 0), "push": push.get(lang, 0)} for lang in languages}


def compute(
    session: Session, *, target: Target, channels: Sequence[str], exercise: bool
) -> Audience:
    audience = Audience()
    if Channel.sms.value in channels:
        _read(session, Channel.sms.value, target, exercise, audience)
    if Channel.push.value in channels:
        _read(session, Channel.push.value, target, exercise, audience)
    return audience


@dataclass
class Chunk:
    audience: Audience  # the recipients among the candidates looked at
    candidates: int  # rows looked at (fewer than asked: none left on this channel)
    last_id: int | None  # the highest id looked at (the next chunk starts after it)


def compute_chunk(
    session: Session,
    *,
    target: Target,
    channel: str,
    exercise: bool,
    after_id: int,
    limit: int,
) -> Chunk:
    """The same audience, one channel and a slice of it: the next ``limit`` candidates by
    id (subscriber id for SMS, push subscription id for push) above ``after_id``."""
    audience = Audience()
    candidates, last_id = _read(
        session, channel, target, exercise, audience, after_id=after_id, limit=limit
    )
    return Chunk(audience, candidates, last_id)


def _where_target(
    lon_col: ColumnElement[Any],
    lat_col: ColumnElement[Any],
    zone_col: ColumnElement[Any],
    target: Target,
) -> ColumnElement[bool]:
    """SQL prefilter: inside the target's bounding box, or in a target zone."""
    conditions: list[ColumnElement[bool]] = []
    bounds = target.bounds
    if bounds is not None:
        min_x, min_y, max_x, max_y = bounds
        conditions.append(
            and_(lon_col >= min_x, lon_col <= max_x, lat_col >= min_y, lat_col <= max_y)
        )
    if target.zone_ids:
        conditions.append(zone_col.in_(target.zone_ids))
    return or_(*conditions) if conditions else false()


def _inside(
    rows: Sequence[Sequence[Any]], target: Target, lon_i: int, lat_i: int, zone_i: int
) -> np.ndarray:
    if not rows:
        return np.zeros(0, dtype=bool)
    lons = np.array([r[lon_i] if r[lon_i] is not None else np.nan for r in rows], dtype=float)
    lats = np.array([r[lat_i] if r[lat_i] is not None else np.nan for r in rows], dtype=float)
    mask = target_mask(lons, lats, geometries=list(target.geometries), area=target.area)
    if target.zone_ids:
        zone_ids = np.array([r[zone_i] for r in rows], dtype=object)
        mask |= np.isin(zone_ids, np.array(target.zone_ids, dtype=object))
    return mask


def _page(
    query: Select[Any], id_column: ColumnElement[int], after_id: int | None, limit: int | None
) -> Select[Any]:
    """The query's slice after ``after_id`` (by its id order), at most ``limit`` rows."""
    if after_id is not None:
        query = query.where(id_column > after_id)
    return query if limit is None else query.limit(limit)


def _read(
    session: Session,
    channel: str,
    target: Target,
    exercise: bool,
    audience: Audience,
    *,
    after_id: int | None = None,
    limit: int | None = None,
) -> tuple[int, int | None]:
    """One channel's candidates (after ``after_id``, at most ``limit``), those in the target
    added to ``audience``: how many were looked at, and the last id looked at."""
    if channel == Channel.sms.value:
        query, id_column, add = _sms_candidates(target, exercise), _SUBSCRIBER.c.id, _add_sms
    else:
        query, id_column, add = _push_candidates(target, exercise), _PUSH.c.id, _add_push
    query = _page(query, id_column, after_id, limit)
    rows = session.connection().execute(query).all()  # Core rows: no ORM loading
    add(audience, rows, _inside(rows, target, 3, 4, 5))
    return len(rows), (rows[-1][0] if rows else None)


def _sms_candidates(target: Target, exercise: bool) -> Select[Any]:
    s = _SUBSCRIBER.c
    query = (
        select(s.id, s.phone, s.language, s.lon, s.lat, s.zone_id)
        .where(
            s.opted_out.is_(False),
            s.phone.is_not(None),
            s.channels.contains("sms"),
            _where_target(s.lon, s.lat, s.zone_id, target),
        )
        .order_by(s.id)
    )
    if exercise:
        query = query.where(s.exercise_list.is_(True))
    return query


def _add_sms(audience: Audience, rows: Sequence[Sequence[Any]], inside: np.ndarray) -> None:
    for row, hit in zip(rows, inside, strict=True):
        if hit:
            audience.sms_subscriber_ids.append(row[0])
            audience.sms_phones.append(row[1])
            audience.sms_languages.append(row[2])


def _push_candidates(target: Target, exercise: bool) -> Select[Any]:
    p, s = _PUSH.c, _SUBSCRIBER.c
    island_wide = and_(p.lat.is_(None), p.zone_id.is_(None))
    query = (
        select(p.id, p.endpoint, p.language, p.lon, p.lat, p.zone_id)
        .select_from(_PUSH)
        .outerjoin(_SUBSCRIBER, s.id == p.subscriber_id)
        .where(
            or_(s.id.is_(None), s.opted_out.is_(False)),
            or_(island_wide, _where_target(p.lon, p.lat, p.zone_id, target)),
        )
        .order_by(p.id)
    )
    return query.where(s.exercise_list.is_(True) if exercise else true())


def _add_push(audience: Audience, rows: Sequence[Sequence[Any]], inside: np.ndarray) -> None:
    for row, hit in zip(rows, inside, strict=True):
        if hit or (row[4] is None and row[5] is None):  # a subscription for the whole island
            audience.push_ids.append(row[0])
            audience.push_endpoints.append(row[1])
            audience.push_languages.append(row[2])


def union_area(target: Target) -> shapely.Geometry | None:
    """The target as one geometry (for maps and CAP areas)."""
    shapes = [*target.geometries, *([target.area] if target.area is not None else [])]
    return shapely.union_all(shapes) if shapes else None
