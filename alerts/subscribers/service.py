"""Subscribers and browser push subscriptions: adding, bulk upsert, opt-out, statistics.

Functions take the session (and what else they need) as arguments, add and flush, never
commit. Auditing is the caller's (``emergency`` wraps these in its flows), because this
library does not know the application's audit log.

Opt-out is never changed by an import or an operator's edit: only the person (STOP/START
by SMS) or an explicit opt-out call changes it, so a re-imported list cannot re-subscribe
someone who said STOP.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from alerts.languages import LANGUAGES
from alerts.models import (
    Message,
    MessageStatus,
    PushSubscription,
    PushVapidKey,
    Subscriber,
)
from alerts.sqltypes import rowcount, stored_id, table_of, utcnow
from alerts.subscribers import fields
from geo.zones import ZoneSet

# Push services of the browsers we expect (Chrome/Android, Firefox, Edge, Safari). The
# endpoint is chosen by the browser, but it reaches us from an unauthenticated request and
# the worker will POST to it, so only these hosts (plus configured extras) are accepted.
KNOWN_PUSH_HOSTS: tuple[str, ...] = (
    "fcm.googleapis.com",
    "android.googleapis.com",
    "updates.push.services.mozilla.com",
    "web.push.apple.com",
    ".push.apple.com",
    ".notify.windows.com",
)
MAX_ENDPOINT = 2000
_B64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")

_SUBSCRIBER = table_of(Subscriber)


class SubscriberExists(ValueError):
    def __init__(self, subscriber_id: int) -> None:
        super().__init__(f"a subscriber with this phone already exists (id {subscriber_id})")
        self.subscriber_id = subscriber_id


# --- subscribers ----------------------------------------------------------------------


def clean(
    values: dict[str, Any], *, zones: ZoneSet, default_language: str | None = None
) -> dict[str, Any]:
    """One subscriber's fields checked and normalised (raises :class:`fields.FieldProblem`).

    ``values`` may hold phone, language, lat, lon, zone, channels, name, tags, exercise;
    keys that are absent stay absent in the result (an update leaves those columns alone).
    ``zone_id`` is left for the caller to assign from the location when no zone is given.
    """
    out: dict[str, Any] = {"phone": fields.phone(values.get("phone"))}
    out["language"] = fields.language(values.get("language"), default_language)
    out["lat"], out["lon"] = fields.location(values.get("lat"), values.get("lon"))
    zone = fields.zone(values.get("zone"), zones) if "zone" in values else None
    if out["lat"] is None and zone is None:
        raise fields.FieldProblem("lat", "no location: give lat and lon, or a zone")
    out["zone_id"] = zone
    if "channels" in values:
        out["channels"] = fields.channels(values.get("channels"))
    if "name" in values:
        out["name"] = fields.name(values.get("name"))
    if "tags" in values or "exercise" in values:
        tag_text = fields.tags(values.get("tags"))
        if values.get("exercise") and not fields.is_exercise(tag_text):
            tag_text = fields.tags([*filter(None, tag_text.split(",")), fields.EXERCISE_TAG])
        out["tags"] = tag_text
        out["exercise_list"] = fields.is_exercise(tag_text)
    return out


def assign_zones(rows: Sequence[dict[str, Any]], *, zones: ZoneSet) -> None:
    """Fill ``zone_id`` of located rows that have none, vectorised (home community)."""
    todo = [r for r in rows if r.get("zone_id") is None and r.get("lat") is not None]
    if not todo:
        return
    ids = zones.zones_of([r["lon"] for r in todo], [r["lat"] for r in todo])
    for row, zone_id in zip(todo, ids, strict=True):
        row["zone_id"] = zone_id


def add_subscriber(session: Session, *, zones: ZoneSet, values: dict[str, Any]) -> Subscriber:
    """A new subscriber (raises FieldProblem, or SubscriberExists for a known phone)."""
    row = clean(values, zones=zones)
    assign_zones([row], zones=zones)
    existing = session.execute(
        select(col(Subscriber.id)).where(col(Subscriber.phone) == row["phone"])
    ).scalar_one_or_none()
    if existing is not None:
        raise SubscriberExists(existing)
    subscriber = Subscriber(**row)
    session.add(subscriber)
    session.flush()
    return subscriber


def upsert(
    session: Session, rows: Sequence[dict[str, Any]], *, now: datetime | None = None
) -> tuple[int, int]:
    """Insert or update subscribers by phone, in one statement; returns (added, updated).

    ``rows`` are :func:`clean` results with distinct phones and the same keys. An update
    sets only the keys present (plus ``updated_at``) and never ``opted_out``.
    """
    if not rows:
        return 0, 0
    now = now or utcnow()
    keys = list(rows[0])
    defaults = {"channels": "sms", "name": None, "tags": "", "exercise_list": False}
    params = [
        {**defaults, **r, "opted_out": False, "created_at": now, "updated_at": now} for r in rows
    ]
    table = table_of(Subscriber)
    dialect = session.get_bind().dialect.name
    changed = [k for k in keys if k != "phone"] + ["updated_at"]
    if dialect == "postgresql":
        existing = _upsert_postgresql(session, params, changed)
    else:
        existing = session.execute(
            select(func.count())
            .select_from(Subscriber)
            .where(col(Subscriber.phone).in_([r["phone"] for r in rows]))
        ).scalar_one()
        # sqlite3's executemany is a C loop over one prepared statement: fast as it is.
        stmt = sqlite.insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.phone], set_={k: stmt.excluded[k] for k in changed}
        )
        session.execute(stmt, params)
    return len(rows) - existing, existing


_PG_TYPES = {
    "phone": "varchar",
    "language": "varchar",
    "lat": "float8",
    "lon": "float8",
    "zone_id": "varchar",
    "channels": "varchar",
    "name": "varchar",
    "tags": "varchar",
    "exercise_list": "boolean",
    "opted_out": "boolean",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
}


def _upsert_postgresql(session: Session, params: list[dict[str, Any]], changed: list[str]) -> int:
    """COPY the batch into a temporary table, then one INSERT … SELECT … ON CONFLICT.

    executemany through psycopg still runs one INSERT per row, and arrays or a multi-row
    VALUES cost more in Python than COPY, which psycopg runs in C. Returns the number of
    rows that already existed (``xmax <> 0`` marks a row the upsert updated)."""
    columns = list(_PG_TYPES)
    connection = session.connection()
    connection.execute(
        text(
            "CREATE TEMPORARY TABLE IF NOT EXISTS subscriber_import "
            f"({', '.join(f'{c} {t}' for c, t in _PG_TYPES.items())}) ON COMMIT DELETE ROWS"
        )
    )
    connection.execute(text("TRUNCATE subscriber_import"))
    raw: Any = connection.connection.driver_connection  # psycopg's own connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY subscriber_import ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for p in params:
            copy.write_row([p[c] for c in columns])
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in changed)
    existed = connection.execute(
        text(
            f"WITH done AS (INSERT INTO subscriber ({', '.join(columns)}) "
            f"SELECT {', '.join(columns)} FROM subscriber_import "
            f"ON CONFLICT (phone) DO UPDATE SET {updates} RETURNING (xmax <> 0) AS existed) "
            "SELECT count(*) FILTER (WHERE existed) FROM done"
        )
    ).scalar_one()
    return int(existed)


def get_by_phone(session: Session, phone: str) -> Subscriber | None:
    return (
        session.execute(select(Subscriber).where(col(Subscriber.phone) == phone)).scalars().first()
    )


@dataclass(frozen=True)
class OptOutChange:
    subscriber_id: int
    language: str
    before: bool
    after: bool
    created: bool  # a number we did not know: recorded so a later import cannot add it

    @property
    def changed(self) -> bool:
        return self.created or self.before != self.after


def set_opt_out(
    session: Session,
    *,
    phone: str,
    opted_out: bool,
    default_language: str = "zh-Hans",
    now: datetime | None = None,
) -> OptOutChange | None:
    """Record that the person with this (E.164) phone opted out (or back in).

    An unknown number that opts out is stored as an opted-out subscriber without location
    (never targeted), so the opt-out survives a later import of that number. An unknown
    number opting in changes nothing (returns None).
    """
    now = now or utcnow()
    subscriber = (
        session.execute(select(Subscriber).where(col(Subscriber.phone) == phone).with_for_update())
        .scalars()
        .first()
    )
    if subscriber is None:
        if not opted_out:
            return None
        subscriber = Subscriber(
            phone=phone, language=default_language, opted_out=True, opted_out_at=now, channels="sms"
        )
        session.add(subscriber)
        session.flush()
        return OptOutChange(stored_id(subscriber), subscriber.language, False, True, created=True)
    before = subscriber.opted_out
    if before != opted_out:
        subscriber.opted_out = opted_out
        subscriber.opted_out_at = now if opted_out else None
        subscriber.updated_at = now
        session.add(subscriber)
        session.flush()
    return OptOutChange(
        stored_id(subscriber), subscriber.language, before, opted_out, created=False
    )


def stats(session: Session) -> dict[str, Any]:
    """Counts for the dashboard: by language, zone and channel (of those not opted out)."""
    s = _SUBSCRIBER.c
    total, opted_out, exercise = session.execute(
        select(
            func.count(),
            func.count().filter(s.opted_out.is_(True)),
            func.count().filter(s.exercise_list.is_(True), s.opted_out.is_(False)),
        )
    ).one()
    active = s.opted_out.is_(False)
    by_language: dict[str, int] = dict(
        session.execute(select(s.language, func.count()).where(active).group_by(s.language)).all()
    )
    by_zone = {
        (zone or "none"): count
        for zone, count in session.execute(
            select(s.zone_id, func.count()).where(active).group_by(s.zone_id)
        ).all()
    }
    by_channel = {"sms": 0, "push": 0}
    for channel_text, count in session.execute(
        select(s.channels, func.count()).where(active).group_by(s.channels)
    ).all():
        for channel in channel_text.split(","):
            if channel in by_channel:
                by_channel[channel] += count
    push = session.execute(select(func.count()).select_from(PushSubscription)).scalar_one()
    return {
        "total": total,
        "active": total - opted_out,
        "opted_out": opted_out,
        "exercise_list": exercise,
        "by_language": {lang: by_language.get(lang, 0) for lang in LANGUAGES},
        "by_zone": dict(sorted(by_zone.items())),
        "by_channel": by_channel,
        "push_subscriptions": push,
    }


# --- push subscriptions ---------------------------------------------------------------


def endpoint_key(endpoint: str) -> str:
    """The outbox dedupe key of a push endpoint (its SHA-1: endpoints are long)."""
    return "push:" + hashlib.sha1(endpoint.encode("utf-8")).hexdigest()


def check_endpoint(endpoint: str, *, extra_hosts: Iterable[str] = ()) -> str:
    if len(endpoint) > MAX_ENDPOINT:
        raise fields.FieldProblem("endpoint", f"longer than {MAX_ENDPOINT} characters")
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    extras = {h.strip().lower() for h in extra_hosts if h.strip()}
    allowed_extra = host in extras or parts.netloc.lower() in extras
    if parts.scheme != "https" and not (parts.scheme == "http" and allowed_extra):
        raise fields.FieldProblem("endpoint", "must be an https:// URL of a push service")
    known = any(host == h or (h.startswith(".") and host.endswith(h)) for h in KNOWN_PUSH_HOSTS)
    if not (known or allowed_extra):
        raise fields.FieldProblem(
            "endpoint", f"{host or 'the host'} is not a known browser push service"
        )
    return endpoint


def check_key(value: str, *, field: str, size: int) -> str:
    text = (value or "").strip()
    if not _B64URL.match(text):
        raise fields.FieldProblem(field, "must be base64url")
    try:
        raw = base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (ValueError, TypeError):
        raise fields.FieldProblem(field, "must be base64url") from None
    if len(raw) != size or (field == "p256dh" and raw[0] != 4):
        raise fields.FieldProblem(
            field,
            f"must decode to {size} bytes"
            + (" (an uncompressed P-256 point)" if field == "p256dh" else ""),
        )
    return text


def save_push_subscription(
    session: Session,
    *,
    endpoint: str,
    p256dh: str,
    auth: str,
    language: str,
    lat: float | None = None,
    lon: float | None = None,
    zone_id: str | None = None,
    exercise: bool = False,
    extra_hosts: Iterable[str] = (),
) -> tuple[PushSubscription, bool]:
    """Store (or refresh, by endpoint) a browser's subscription; returns (row, created).

    ``exercise`` (staff browsers only; the caller checks who may ask) links the
    subscription to a push-only subscriber on the exercise list, so drills reach it.
    A subscription without location or zone is island-wide: it is in the audience of every
    public broadcast (see :mod:`alerts.broadcasts.audience`).
    """
    check_endpoint(endpoint, extra_hosts=extra_hosts)
    p256dh = check_key(p256dh, field="p256dh", size=65)
    auth = check_key(auth, field="auth", size=16)
    language = fields.language(language)
    row = (
        session.execute(select(PushSubscription).where(col(PushSubscription.endpoint) == endpoint))
        .scalars()
        .first()
    )
    created = row is None
    if row is None:
        row = PushSubscription(endpoint=endpoint, p256dh=p256dh, auth=auth, language=language)
    row.p256dh, row.auth, row.language = p256dh, auth, language
    row.lat, row.lon, row.zone_id = lat, lon, zone_id
    if exercise and row.subscriber_id is None:
        staff = Subscriber(
            phone=None,
            language=language,
            channels="push",
            tags="staff,exercise",
            exercise_list=True,
            zone_id=zone_id,
            lat=lat,
            lon=lon,
        )
        session.add(staff)
        session.flush()
        row.subscriber_id = staff.id
    session.add(row)
    session.flush()
    return row, created


def delete_push_subscription(session: Session, *, endpoint: str) -> bool:
    """The browser unsubscribed (knowing the endpoint is the capability)."""
    found = session.execute(
        select(col(PushSubscription.id)).where(col(PushSubscription.endpoint) == endpoint)
    ).scalar_one_or_none()
    return found is not None and remove_push_subscription(session, found)


def remove_push_subscription(session: Session, subscription_id: int) -> bool:
    """Forget a push subscription (the push service said 404/410 Gone, or it unsubscribed).

    For the dispatch worker. Messages still ``queued`` for it become ``failed`` (error
    ``gone``); every message keeps its endpoint in ``address`` but loses the reference, so
    the row can be deleted. Returns False when it was already gone (idempotent).
    """
    now = utcnow()
    session.execute(
        update(Message)
        .where(
            col(Message.push_subscription_id) == subscription_id,
            col(Message.status) == MessageStatus.queued,
        )
        .values(
            status=MessageStatus.failed,
            error_code="gone",
            error_message="push subscription expired or unsubscribed",
            updated_at=now,
        )
    )
    session.execute(
        update(Message)
        .where(col(Message.push_subscription_id) == subscription_id)
        .values(push_subscription_id=None)
    )
    gone = delete(PushSubscription).where(col(PushSubscription.id) == subscription_id)
    return rowcount(session.execute(gone)) > 0


# --- VAPID keys for development -------------------------------------------------------


class StoredSecretCipher(Protocol):
    """Encrypts a secret for the database and back (the application's key, never stored)."""

    def encrypt(self, plaintext: str) -> str: ...

    def decrypt(self, stored: str) -> str: ...

    def is_encrypted(self, stored: str) -> bool: ...


def vapid_keys(
    session: Session,
    *,
    cipher: StoredSecretCipher,
    private_key: str | None = None,
    public_key: str | None = None,
) -> tuple[str, str]:
    """The VAPID (private, public) key pair: the configured one, else the stored dev pair.

    With no configured key a pair is generated once and stored in the database, the private
    key encrypted by `cipher`, so every process (API, workers) and every restart uses the same
    key and browsers that subscribed stay reachable, while the database alone does not give
    the key away. A plaintext key stored by an earlier version is encrypted when first read.
    Production sets VAPID_PRIVATE_KEY (and its public key).
    """
    from alerts.providers.webpush import generate_vapid_keys, vapid_public_key_of

    if private_key:
        return private_key, public_key or vapid_public_key_of(private_key)
    row = session.get(PushVapidKey, 1)
    if row is None:
        private, public = generate_vapid_keys()
        dialect = session.get_bind().dialect.name
        stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
            table_of(PushVapidKey)
        ).values(id=1, private_key=cipher.encrypt(private), public_key=public, created_at=utcnow())
        session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
        row = session.get(PushVapidKey, 1)  # another process may have won the race
        assert row is not None
    if not cipher.is_encrypted(row.private_key):  # stored in plaintext by an earlier version
        plaintext = row.private_key
        row.private_key = cipher.encrypt(plaintext)
        session.add(row)
        session.flush()
        return plaintext, row.public_key
    return cipher.decrypt(row.private_key), row.public_key


__all__ = [
    "OptOutChange",
    "StoredSecretCipher",
    "SubscriberExists",
    "add_subscriber",
    "assign_zones",
    "clean",
    "delete_push_subscription",
    "endpoint_key",
    "remove_push_subscription",
    "save_push_subscription",
    "set_opt_out",
    "stats",
    "upsert",
    "vapid_keys",
]
