"""Fixtures for the geo tests: the shipped demo zone files."""

from pathlib import Path

import pytest

from geo.shelters import Shelter, load_shelters
from geo.zones import ZoneSet, load_zones

ZONES_DIR = Path(__file__).resolve().parents[2] / "config" / "zones"


@pytest.fixture(scope="session")
def zones_dir() -> Path:
    return ZONES_DIR


@pytest.fixture(scope="session")
def zones() -> ZoneSet:
    return load_zones(ZONES_DIR)


@pytest.fixture(scope="session")
def shelters() -> list[Shelter]:
    return load_shelters(ZONES_DIR / "shelters.geojson")
