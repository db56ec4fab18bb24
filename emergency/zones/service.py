"""The zone files of config/zones/ as one GeoJSON FeatureCollection for the dashboard's map.

Every feature keeps its own properties (id, per-language name, kind, …) and gains `layer`,
the name of its file (communities, areas, shelter_catchments, shelters). Each file is checked
by geo (a shelter file as points, the rest as zones) so the map shows what targeting uses.
The result (checked once as a ZoneCollection) is cached until a file changes.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from emergency.zones.schemas import ZoneCollection
from geo.shelters import load_shelters
from geo.zones import SHELTERS_FILE, load_zone_file


def feature_collection(directory: Path) -> ZoneCollection:
    folder = Path(directory)
    files = sorted(folder.glob("*.geojson")) if folder.is_dir() else []
    stamp = tuple((str(p), p.stat().st_mtime_ns) for p in files)
    return _collect(stamp)


@lru_cache(maxsize=4)
def _collect(stamp: tuple[tuple[str, int], ...]) -> ZoneCollection:
    features: list[dict[str, Any]] = []
    notes: list[str] = []
    approximate = False
    for name, _ in stamp:
        path = Path(name)
        if path.name == SHELTERS_FILE:
            load_shelters(path)
        else:
            load_zone_file(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        props = data.get("properties") or {}
        approximate = approximate or bool(props.get("approximate"))
        if props.get("note") and props["note"] not in notes:
            notes.append(props["note"])
        for feature in data["features"]:
            properties = dict(feature.get("properties") or {})
            properties.setdefault("id", feature.get("id"))
            properties["layer"] = path.stem
            features.append(
                {
                    "type": "Feature",
                    "id": properties["id"],
                    "properties": properties,
                    "geometry": feature["geometry"],
                }
            )
    return ZoneCollection.model_validate(
        {
            "type": "FeatureCollection",
            "features": features,
            "properties": {"approximate": approximate, "notes": notes},
        }
    )
