"""Benchmark: from "send" to 200,000 messages in the outbox.

Two steps of `alerts.broadcasts.service.start_sending` on a database of ``n`` subscribers
spread over Hengqin, for a broadcast to every community:

- the audience: one query into numpy arrays + :func:`geo.targeting.target_mask`; peer: ORM
  objects and ``poly.contains(Point)`` per subscriber (sample, extrapolated);
- the outbox: the bulk write of one row per recipient (``executemany`` in 5,000-row chunks on
  SQLite, ``COPY`` on PostgreSQL) and reading back the ids for the queue; peer: one ORM
  object per message, ``session.add`` and flush (sample, extrapolated).

    python -m benchmarks.bench_broadcast [--n 200000] [--pg [URL]]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from benchmarks.bench_import import ISLAND_BOX, ZONES_DIR, _count, bench_database

GOAL_AUDIENCE = 2.0  # seconds for 200k
GOAL_OUTBOX = 10.0  # seconds for 200k ("seconds, not minutes")


def seed(url: str, n: int) -> None:
    from alerts.subscribers import service as subscriber_service
    from emergency.db import Database
    from geo.targeting import target_mask
    from geo.zones import load_zones

    zones = load_zones(ZONES_DIR)
    db = Database(url)
    rng = np.random.default_rng(7)
    min_lon, min_lat, max_lon, max_lat = ISLAND_BOX
    languages = ("zh-Hans", "zh-Hant", "pt", "en")
    # everyone inside a community (the island), so the broadcast has n recipients
    geometries = [z.geometry for z in zones.of_kind("community")]
    lons, lats = np.empty(0), np.empty(0)
    while lons.size < n:
        x, y = rng.uniform(min_lon, max_lon, n), rng.uniform(min_lat, max_lat, n)
        inside = target_mask(x, y, geometries=geometries)
        lons, lats = np.concatenate([lons, x[inside]]), np.concatenate([lats, y[inside]])
    for start in range(0, n, 5000):
        rows = [
            {
                "phone": f"+86139{i:08d}",
                "language": languages[i % 4],
                "lat": float(lats[i]),
                "lon": float(lons[i]),
                "zone_id": None,
            }
            for i in range(start, min(start + 5000, n))
        ]
        subscriber_service.assign_zones(rows, zones=zones)
        with db.unit_of_work() as session:
            subscriber_service.upsert(session, rows)
    db.dispose()


def measure(url: str, n: int, sample: int) -> dict[str, Any]:
    from shapely.geometry import Point
    from sqlmodel import Session, select

    from alerts.broadcasts import audience as audience_mod
    from alerts.broadcasts import service as core
    from alerts.dispatch.queue import InProcessQueue
    from alerts.models import Broadcast, BroadcastStatus, Message, Subscriber
    from alerts.sqltypes import utcnow
    from emergency.db import Database
    from geo.zones import load_zones

    zones = load_zones(ZONES_DIR)
    ids = [z.id for z in zones.of_kind("community")]
    db = Database(url)
    texts = {"zh-Hans": "测试", "zh-Hant": "測試", "pt": "teste", "en": "test"}
    out: dict[str, Any] = {}
    with db.session() as session:
        target = core.resolve_target(zones, ids, None)
        t0 = time.perf_counter()
        audience = audience_mod.compute(session, target=target, channels=["sms"], exercise=False)
        out["audience_s"] = time.perf_counter() - t0
        out["audience"] = audience.total

        # peer: ORM objects, one contains() per subscriber and zone
        geometries = [zones[z].geometry for z in ids]
        t0 = time.perf_counter()
        people = session.exec(
            select(Subscriber).where(Subscriber.opted_out.is_(False)).limit(sample)
        ).all()
        picked = [p for p in people if any(g.contains(Point(p.lon, p.lat)) for g in geometries)]
        out["audience_peer_s"] = (time.perf_counter() - t0) * n / max(len(people), 1)
        out["peer_agree"] = len(picked) <= len(people)

    queue = InProcessQueue()
    with db.unit_of_work() as session:
        broadcast = Broadcast(
            status=BroadcastStatus.scheduled,
            messages=texts,
            zones=ids,
            channels=["sms"],
            created_by="bench",
            approved_by="bench",
        )
        session.add(broadcast)
        session.flush()
        t0 = time.perf_counter()
        started = core.start_sending(session, broadcast_id=broadcast.id, zones=zones, queue=queue)
        out["start_s"] = time.perf_counter() - t0
        out["outbox_s"] = started.seconds_insert
        out["messages"] = started.messages
        t0 = time.perf_counter()
    out["commit_s"] = time.perf_counter() - t0
    out["queued"] = len(queue)

    # peer: one ORM object per message
    with Session(db.engine) as session:
        other = Broadcast(
            status=BroadcastStatus.sending,
            messages=texts,
            zones=ids,
            channels=["sms"],
            created_by="bench",
        )
        session.add(other)
        session.flush()
        people = session.exec(select(Subscriber).limit(sample)).all()
        now = utcnow()
        t0 = time.perf_counter()
        for p in people:
            session.add(
                Message(
                    broadcast_id=other.id,
                    channel="sms",
                    subscriber_id=p.id,
                    dedupe_key=f"sms:{p.phone}",
                    address=p.phone,
                    language=p.language,
                    segments=1,
                    queued_at=now,
                    updated_at=now,
                )
            )
        session.flush()
        session.commit()
        out["outbox_peer_s"] = (time.perf_counter() - t0) * n / max(len(people), 1)
    db.dispose()
    return out


def run(n: int = 200_000, *, pg: str | None = None, sample: int = 10_000) -> list[dict[str, Any]]:
    with bench_database(pg) as url:
        seed(url, n)
        got = measure(url, n, min(sample, n))
    database = "postgresql" if pg else "sqlite"
    label = _count(n)
    return [
        {
            "benchmark": f"audience of {label} subscribers ({database})",
            "ours": round(got["audience_s"], 3),
            "peer": round(got["audience_peer_s"], 1),
            "peer_name": "ORM objects + per-point contains",
            "unit": "s",
            "goal": f"< {GOAL_AUDIENCE:g} s",
            "met": got["audience_s"] < GOAL_AUDIENCE,
            "note": f"{got['audience']:,} recipients in the four communities; one query + numpy "
            f"target_mask; peer timed on {sample:,} and extrapolated",
        },
        {
            "benchmark": f"outbox write of {_count(got['messages'])} messages ({database})",
            "ours": round(got["outbox_s"], 2),
            "peer": round(got["outbox_peer_s"], 1),
            "peer_name": "session.add per message",
            "unit": "s",
            "goal": f"< {GOAL_OUTBOX:g} s",
            "met": got["outbox_s"] < GOAL_OUTBOX and got["queued"] == got["messages"],
            "note": (
                f"bulk insert + ids read back; whole start_sending (audience, insert, "
                f"update) {got['start_s']:.2f} s, commit {got['commit_s']:.2f} s, "
                f"{got['queued']:,} ids queued after commit"
            ),
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--sample", type=int, default=10_000)
    parser.add_argument(
        "--pg",
        nargs="?",
        default=None,
        const=os.environ.get("TYPHOON_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
    )
    args = parser.parse_args()
    for row in run(args.n, pg=args.pg, sample=args.sample):
        print(
            f"{row['benchmark']}: ours {row['ours']} s, peer {row['peer']} s "
            f"({row['peer_name']}); goal {row['goal']}: {'met' if row['met'] else 'NOT met'}"
        )
        print(f"  {row['note']}")


if __name__ == "__main__":
    main()
