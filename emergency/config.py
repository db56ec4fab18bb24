"""Every config file a process reads, as one typed set: `ConfigSet`.

The files of config/ (signals, zones, shelters, facilities, CAP mappings, rules, liaison
contacts, feeds, message templates, duty leads) are loaded once per Runtime, each on first
use; `check()` (a step of `emergency.startup.startup`) loads them all at start, so a mistake
stops the process with file:line:field instead of surfacing at the first typhoon signal. Each
file is checked against the ones it names (CAP mappings and liaison contacts against the
catalogue, feeds against the mappings, rules against catalogue, zones, facilities, shelters
and templates). Read-only once loaded.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from alerts.templates import TemplateFile
from emergency.alarms.config import DutyFile, load_duty
from emergency.cap.mapping import CapMappings, load_cap_mappings
from emergency.catalogue import Catalogue, load_catalogue
from emergency.configfiles import load_yaml
from emergency.facilities.config import FacilitiesFile, load_facilities
from emergency.feeds.config import FeedDef, FeedsFile, load_feeds
from emergency.liaison.config import LiaisonFile, load_liaison
from emergency.rules.config import RulesFile, known_from_config, load_rules
from geo.cap import outline_polygons
from geo.shelters import Shelter, load_shelters
from geo.zones import ZoneSet, load_zones

T = TypeVar("T")

TEMPLATES_FILE = "message_templates.yaml"


def load_templates(path: str | Path) -> TemplateFile:
    return load_yaml(path, TemplateFile)


def _load_zones(folder: Path) -> ZoneSet:
    return load_zones(folder) if folder.is_dir() else ZoneSet([])


class ConfigSet:
    """The config files of one folder (TYPHOON_CONFIG_DIR), each loaded once, on first use."""

    def __init__(self, config_dir: Path, *, catalogue: Catalogue | None = None) -> None:
        self.dir = config_dir
        self.catalogue = catalogue or load_catalogue(config_dir / "signals.yaml")
        self._loaded: dict[str, object] = {}
        self._feed_mappings: dict[str, CapMappings] = {}
        self._lock = threading.RLock()  # re-entrant: one file is checked against another

    def _once(self, name: str, load: Callable[[], T]) -> T:
        if name not in self._loaded:
            with self._lock:
                if name not in self._loaded:
                    self._loaded[name] = load()
        return self._loaded[name]  # type: ignore[return-value]  # stored by this method

    def check(self) -> None:
        """Load (and so check) every file now."""
        for read in (
            lambda: self.zones,
            lambda: self.shelters,
            lambda: self.facilities,
            lambda: self.cap_mappings,
            lambda: self.liaison,
            lambda: self.rules,
            lambda: self.feeds,
            lambda: self.templates,
            lambda: self.duty,
            lambda: self.hengqin_polygons,
        ):
            read()

    # --- the files -------------------------------------------------------------------------

    @property
    def zones(self) -> ZoneSet:
        """config/zones/*.geojson (none: an empty set)."""
        return self._once("zones", lambda: _load_zones(self.dir / "zones"))

    @property
    def shelters_path(self) -> Path:
        return self.dir / "zones" / "shelters.geojson"

    @property
    def shelters(self) -> list[Shelter]:
        """config/zones/shelters.geojson as the file says (live occupancy is in the database)."""
        path = self.shelters_path
        return self._once("shelters", lambda: load_shelters(path) if path.exists() else [])

    @property
    def facilities(self) -> FacilitiesFile:
        return self._once("facilities", lambda: load_facilities(self.dir / "facilities.yaml"))

    @property
    def cap_mappings(self) -> CapMappings:
        """config/cap_mappings.yaml, checked against the catalogue."""
        path = self.dir / "cap_mappings.yaml"
        return self._once("cap_mappings", lambda: load_cap_mappings(path, catalogue=self.catalogue))

    @property
    def liaison(self) -> LiaisonFile:
        path = self.dir / "liaison.yaml"
        return self._once("liaison", lambda: load_liaison(path, catalogue=self.catalogue))

    @property
    def rules(self) -> RulesFile:
        """config/rules.yaml, checked against the other files."""

        def load() -> RulesFile:
            known = known_from_config(self.dir, catalogue=self.catalogue, zones=self.zones)
            return load_rules(self.dir / "rules.yaml", known=known)

        return self._once("rules", load)

    @property
    def feeds(self) -> FeedsFile:
        """config/feeds.yaml (none: no feeds and no trusted sender), checked against the CAP
        mappings and the catalogue's sources."""

        def load() -> FeedsFile:
            return load_feeds(
                self.dir / "feeds.yaml",
                mappings=self.cap_mappings,
                sources={s.id for s in self.catalogue.sources()},
            )

        return self._once("feeds", load)

    def feed_mappings(self, feed: FeedDef) -> CapMappings:
        """The mappings that apply to a feed (all of them unless the feed names some)."""
        every = self.cap_mappings
        if feed.mappings is None:
            return every
        patterns = feed.mappings
        with self._lock:
            found = self._feed_mappings.get(feed.id)
            if found is None:
                chosen = [
                    m
                    for m in every.mappings
                    if any(fnmatch.fnmatchcase(m.name, p) for p in patterns)
                ]
                found = self._feed_mappings[feed.id] = CapMappings(version=1, mappings=chosen)
        return found

    @property
    def templates(self) -> TemplateFile:
        """config/message_templates.yaml (none: no templates)."""
        path = self.dir / TEMPLATES_FILE
        return self._once(
            "templates",
            lambda: load_templates(path) if path.exists() else TemplateFile(templates={}),
        )

    @property
    def duty(self) -> DutyFile:
        """config/duty.yaml (none: nobody to escalate alarms to)."""
        path = self.dir / "duty.yaml"
        return self._once("duty", lambda: load_duty(path) if path.exists() else DutyFile(version=1))

    @property
    def hengqin_polygons(self) -> list[str]:
        """All of our zones as CAP polygons (their union; its convex hull if in pieces)."""
        return self._once(
            "hengqin_polygons", lambda: outline_polygons([z.geometry for z in self.zones])
        )
