"""GET /api/v1/zones: every zone and shelter point of config/zones/ as GeoJSON."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from emergency.auth.dependencies import Reader
from emergency.dependencies import SettingsDep
from emergency.zones import service as zone_service
from emergency.zones.schemas import ZoneCollection

router = APIRouter(prefix="/api/v1", tags=["zones"])


@router.get("/zones")
async def get_zones(user: Reader, settings: SettingsDep) -> ZoneCollection:
    """A FeatureCollection: communities, areas, shelter catchments (polygons) and shelters
    (points), each feature with `id`, `name` per language, `kind` and `layer` (its file)."""
    return await asyncio.to_thread(zone_service.feature_collection, settings.config_dir / "zones")
