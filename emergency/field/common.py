"""Small checks shared by the field-operation domains (field, crews, evacuation, vulnerable,
facilities): who set a change (origin), whether a location is in the operating area, the zone
it lies in, and the newest-first list of a domain's records (real or a drill's)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlmodel import SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from emergency.exceptions import InvalidInput
from geo.areas import HENGQIN_MACAU_REGION
from geo.zones import COMMUNITY, ZoneSet

_ORIGIN = re.compile(r"^(operator|field|system|replay|demo|rule:[A-Za-z0-9_.:-]{1,70})$")


def check_origin(origin: str) -> str:
    """`operator`, `field`, `system`, `replay`, `demo` or `rule:<id>` (what set a change)."""
    origin = str(origin)
    if not _ORIGIN.match(origin):
        raise InvalidInput(
            f"origin: {origin!r} must be 'operator', 'field', 'system', 'replay' or 'rule:<id>'"
        )
    return origin


def zone_at(
    zones: ZoneSet | None,
    lat: float | None,
    lon: float | None,
    *,
    kinds: Sequence[str] | None = (COMMUNITY,),
) -> str | None:
    """The zone (of `kinds`; None: any, the smallest) a point lies in; None without a point or
    zones."""
    if zones is None or lat is None or lon is None:
        return None
    return zones.zone_of(lon, lat, kinds=kinds)


def check_location(lat: float | None, lon: float | None, *, field: str = "") -> None:
    """Both or neither; finite; inside the operating region (Hengqin and Macau)."""
    prefix = f"{field}." if field else ""
    if lat is None and lon is None:
        return
    if lat is None or lon is None:
        raise InvalidInput(f"{prefix}lat/lon: give both or neither")
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise InvalidInput(f"{prefix}lat/lon: not finite numbers")
    min_lon, min_lat, max_lon, max_lat = HENGQIN_MACAU_REGION
    if not (min_lat <= lat <= max_lat and min_lon <= lon <= max_lon):
        raise InvalidInput(
            f"{prefix}lat/lon: ({lat:.5f}, {lon:.5f}) is far outside the operating area "
            f"(lat {min_lat}..{max_lat}, lon {min_lon}..{max_lon})",
            code="outside_area",
        )


RecordT = TypeVar("RecordT", bound=SQLModel)


def newest(model: type[RecordT], *, exercise: bool, limit: int) -> SelectOfScalar[RecordT]:
    """`model`'s records, newest first, the real ones or a drill's (`exercise`): a list
    endpoint's query, to narrow further with `.where(...)`."""
    record: Any = model  # a table model: its columns are class attributes
    return (
        select(model)
        .where(record.exercise == exercise)
        .order_by(col(record.id).desc())
        .limit(limit)
    )
