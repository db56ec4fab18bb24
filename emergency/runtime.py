"""What a process builds once from settings: database, event bus, signal catalogue.

The API (app lifespan), `typhoon worker` and `typhoon scheduler` all start from a Runtime, so
the embedded-or-scaled choice is made in one place. Nothing here connects at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alerts.dispatch.queue import InProcessQueue, MessageQueue, RedisStreamQueue
from emergency.catalogue import Catalogue, load_catalogue
from emergency.db import Database
from emergency.events.bus import EventBus, build_bus
from emergency.settings import Settings
from geo.zones import ZoneSet, load_zones


def build_queue(settings: Settings) -> MessageQueue:
    """Redis Streams (consumer group "workers") when TYPHOON_REDIS_URL is set, so that
    workers in other processes share the work; else a queue in this process."""
    if settings.redis_url:
        return RedisStreamQueue(
            settings.redis_url,
            namespace=settings.dispatch_namespace,
            min_idle=settings.queue_min_idle,
            max_deliveries=settings.queue_max_deliveries,
        )
    return InProcessQueue()


@dataclass
class Runtime:
    settings: Settings
    db: Database
    bus: EventBus
    catalogue: Catalogue
    queue: MessageQueue  # outbox message ids to the dispatch workers
    zones: ZoneSet | None = None  # config/zones, loaded once (broadcast targeting, rules)
    # Parts added by later start-up steps (dispatch queue, providers, scheduler, …).
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, *, catalogue: Catalogue | None = None) -> Runtime:
        bus = build_bus(settings.redis_url, channel=settings.redis_key("events"))
        db = Database(settings.database_url, bus=bus)
        catalogue = catalogue or load_catalogue(settings.config_dir / "signals.yaml")
        zones_dir = settings.config_dir / "zones"
        zones = load_zones(zones_dir) if zones_dir.is_dir() else ZoneSet([])
        return cls(
            settings=settings,
            db=db,
            bus=bus,
            catalogue=catalogue,
            queue=build_queue(settings),
            zones=zones,
        )

    def close(self) -> None:
        close_queue = getattr(self.queue, "close", None)
        if close_queue is not None:
            close_queue()
        self.db.dispose()
