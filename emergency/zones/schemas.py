"""What the zones API returns: config/zones/ as one GeoJSON FeatureCollection."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ZoneProperties(BaseModel):
    """A feature's own properties as its file has them (name per language, kind, …), and
    `layer`, the name of its file."""

    model_config = ConfigDict(extra="allow")  # each file's properties are passed on as they are

    id: str
    layer: str


class ZoneFeature(BaseModel):
    type: Literal["Feature"]
    id: str
    properties: ZoneProperties
    geometry: dict[str, Any] = Field(description="GeoJSON geometry, as in its file")


class ZoneNotes(BaseModel):
    approximate: bool = Field(description="a file says its shapes are approximate")
    notes: list[str]


class ZoneCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[ZoneFeature]
    properties: ZoneNotes
