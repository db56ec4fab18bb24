"""Demo subscribers for `typhoon serve --demo` (`make run`): about 3,000 residents spread over
the demo communities, in the four languages, a few on the exercise list, some wanting push
too. Idempotent: the numbers are the same every time, so a second run only updates them.

The numbers are valid-looking Macau and mainland mobiles and carry the tag `demo`; they are
created only when no Twilio credentials are set (the console provider sends nothing), so a
demo can never text a stranger. Push subscriptions come from real browsers only (the
dashboard and the field page subscribe with /static/push/subscribe.js): a made-up endpoint
would only make the real web-push sender fail.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlmodel import col

from alerts.models import Subscriber
from alerts.subscribers import service as subscriber_service
from emergency.db import Database
from emergency.settings import Settings
from geo.targeting import target_mask
from geo.zones import ZoneSet

log = logging.getLogger(__name__)

COUNT = 3000
SHARE = {"zh-Hans": 0.45, "zh-Hant": 0.35, "en": 0.12, "pt": 0.08}
EXERCISE_SHARE = 0.03
PUSH_SHARE = 0.2
SEED = 20240905  # Yagi's No. 8


def demo_rows(zones: ZoneSet, count: int = COUNT) -> list[dict[str, Any]]:
    communities = zones.of_kind("community")
    rng = np.random.default_rng(SEED)
    per_zone = np.full(len(communities), count // max(len(communities), 1))
    per_zone[: count - per_zone.sum()] += 1
    rows: list[dict[str, Any]] = []
    for zone, wanted in zip(communities, per_zone, strict=True):
        min_x, min_y, max_x, max_y = zone.geometry.bounds
        points = np.empty((0, 2))
        while len(points) < wanted:
            lons = rng.uniform(min_x, max_x, wanted * 3)
            lats = rng.uniform(min_y, max_y, wanted * 3)
            inside = target_mask(lons, lats, geometries=[zone.geometry])
            points = np.vstack([points, np.column_stack([lons[inside], lats[inside]])])
        for lon, lat in points[:wanted]:
            i = len(rows)
            macau = i % 3 == 0  # a third are Macau numbers (the New Neighbourhood and others)
            phone = f"+8536{(2, 3, 5)[i % 3]}{i:06d}" if macau else f"+86139{i:08d}"
            language = rng.choice(list(SHARE), p=list(SHARE.values()))
            exercise = rng.random() < EXERCISE_SHARE
            rows.append(
                {
                    "phone": phone,
                    "language": str(language),
                    "lat": round(float(lat), 6),
                    "lon": round(float(lon), 6),
                    "zone_id": zone.id,
                    "channels": "sms,push" if rng.random() < PUSH_SHARE else "sms",
                    "name": None,
                    "tags": "demo,exercise" if exercise else "demo",
                    "exercise_list": bool(exercise),
                }
            )
    return rows


def load(db: Database, settings: Settings, zones: ZoneSet | None = None) -> int:
    """Create (or refresh) the demo subscribers; returns how many there are."""
    if settings.twilio_enabled:
        log.warning(
            "demo subscribers not loaded: Twilio credentials are set and they would "
            "receive real SMS"
        )
        return 0
    if zones is None:
        from geo.zones import load_zones

        zones = load_zones(settings.config_dir / "zones")
    with db.session() as session:
        have: int = session.execute(
            select(func.count())
            .select_from(Subscriber)
            .where(col(Subscriber.tags).contains("demo"))
        ).scalar_one()
    if have >= COUNT:
        return have
    rows = demo_rows(zones)
    for start in range(0, len(rows), 1000):
        with db.unit_of_work() as session:
            subscriber_service.upsert(session, rows[start : start + 1000])
    log.info("demo subscribers ready: %s", len(rows))
    return len(rows)
