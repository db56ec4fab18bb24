"""Start-up of the field-operation domains: reference data from config/ into the database.

Run as the lifespan of the facilities router (FastAPI runs a router's lifespan inside the
app's, after the database is built): facilities from config/facilities.yaml, shelters from
config/zones/shelters.geojson (new ones added, live occupancy and open flags kept), and the
zone set on `app.state.zones` for the routes that check zone ids. Idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from geo.zones import ZoneSet, load_zones

log = logging.getLogger(__name__)


def load_reference_data(db, config_dir: Path) -> dict[str, int]:
    """Copy facilities and shelters from config/ into the database (both idempotent)."""
    from emergency.evacuation import service as evacuation_service
    from emergency.facilities import service as facility_service
    from emergency.facilities.config import load_facilities

    facilities = load_facilities(config_dir / "facilities.yaml")
    shelters_file = config_dir / "zones" / "shelters.geojson"
    zones = zones_for(config_dir)
    # Replicas starting at the same moment insert the same ids; the one that loses the race
    # finds the rows on its second try and only refreshes them.
    for attempt in (1, 2):
        try:
            with db.unit_of_work() as session:
                created = {"facilities": facility_service.sync(session, config=facilities)}
                if shelters_file.exists():
                    created["shelters"] = evacuation_service.sync_shelters(
                        session, path=shelters_file, zones=zones
                    )
            return created
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("another process seeded the reference data at the same time; refreshing")
    raise AssertionError("unreachable")


def zones_for(config_dir: Path) -> ZoneSet:
    folder = config_dir / "zones"
    return load_zones(folder) if folder.is_dir() else ZoneSet([])


@asynccontextmanager
async def lifespan(app):
    settings = app.state.settings
    if getattr(app.state, "zones", None) is None:
        app.state.zones = await asyncio.to_thread(zones_for, settings.config_dir)
    created = await asyncio.to_thread(load_reference_data, app.state.db, settings.config_dir)
    log.info("field reference data loaded", extra={"created_rows": created})
    yield
