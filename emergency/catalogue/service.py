"""The signal catalogue: look up levels, rank and compare them, name them per language.

Loaded once at start-up from config/signals.yaml (`load_catalogue`) and passed to
whoever needs it; it is read-only. Lookups accept ids written loosely ("8 ne",
"smg", "Tropical_Cyclone") and aliases, and always answer with the canonical ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emergency.catalogue.exceptions import UnknownSignal
from emergency.catalogue.models import (
    CapSeverity,
    CatalogueFile,
    Change,
    Kind,
    Language,
    Level,
    SignalCode,
    Source,
    normalize_id,
    parse_signal_code,
)
from emergency.configfiles import load_yaml

# The repository's config/ folder; the app may pass another path (its settings).
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "config" / "signals.yaml"

_SEVERITY_FROM_TOP: tuple[CapSeverity, ...] = ("Extreme", "Severe", "Moderate")


def load_catalogue(path: str | Path = DEFAULT_PATH) -> Catalogue:
    """Read and check config/signals.yaml; a ConfigFileError names file:line:field."""
    return Catalogue(load_yaml(path, CatalogueFile))


class Catalogue:
    """Read-only index over a CatalogueFile."""

    def __init__(self, data: CatalogueFile) -> None:
        self.data = data
        self._sources = {normalize_id(s.id): s for s in data.sources}
        self._kinds = {(s.id, normalize_id(k.id)): k for s in data.sources for k in s.kinds}
        self._levels: dict[tuple[str, str, str], Level] = {}
        for source in data.sources:
            for kind in source.kinds:
                for level in kind.levels:
                    for spelling in (level.id, *level.aliases):
                        self._levels[(source.id, kind.id, normalize_id(spelling))] = level

    # --- lookups ---------------------------------------------------------------------

    def sources(self) -> list[Source]:
        return list(self.data.sources)

    def source(self, source: str) -> Source:
        found = self._sources.get(normalize_id(source))
        if found is None:
            raise UnknownSignal(
                f"unknown signal source {source!r}", valid=[s.id for s in self.data.sources]
            )
        return found

    def kind(self, source: str, kind: str) -> Kind:
        src = self.source(source)
        found = self._kinds.get((src.id, normalize_id(kind)))
        if found is None:
            raise UnknownSignal(
                f"unknown kind {kind!r} of source {src.id}", valid=[k.id for k in src.kinds]
            )
        return found

    def kinds(self) -> list[tuple[str, str]]:
        """Every (source id, kind id), in file order."""
        return [(s.id, k.id) for s in self.data.sources for k in s.kinds]

    def levels(self, source: str, kind: str) -> list[Level]:
        """The levels of a kind, lowest first."""
        return list(self.kind(source, kind).levels)

    def level(self, source: str, kind: str, level: str) -> Level:
        """The level named `level` (id or alias, loosely written) or UnknownSignal."""
        src = self.source(source)
        knd = self.kind(src.id, kind)
        found = self._levels.get((src.id, knd.id, normalize_id(str(level))))
        if found is None:
            raise UnknownSignal(
                f"{str(level)!r} is not a level of {src.id} {knd.id}",
                valid=[lv.id for lv in knd.levels],
            )
        return found

    def canonical(self, source: str, kind: str, level: str | None) -> SignalCode:
        """Canonical ids for a loosely written signal; level None stays None."""
        src = self.source(source)
        knd = self.kind(src.id, kind)
        return SignalCode(
            src.id, knd.id, None if level is None else self.level(src.id, knd.id, level).id
        )

    # The signals service's spelling.
    normalise = canonical

    def resolve(self, code: str) -> SignalCode:
        """'smg:tropical_cyclone:8 ne' -> SignalCode('SMG', 'tropical_cyclone', '8NE')."""
        parsed = parse_signal_code(code)
        return self.canonical(parsed.source, parsed.kind, parsed.level)

    def __iter__(self) -> Iterator[SignalCode]:
        """Every signal of the catalogue as a SignalCode, lowest level first per kind."""
        for source in self.data.sources:
            for kind in source.kinds:
                for level in kind.levels:
                    yield SignalCode(source.id, kind.id, level.id)

    # --- order -----------------------------------------------------------------------

    def rank(self, source: str, kind: str, level: str | None) -> int:
        """Severity of a level; 0 for None (nothing in force)."""
        return 0 if level is None else self.level(source, kind, level).rank

    def compare(self, source: str, kind: str, old: str | None, new: str | None) -> Change:
        """What going from `old` to `new` is: raise, upgrade, downgrade, change, lower or same."""
        old_level = None if old is None else self.level(source, kind, old)
        new_level = None if new is None else self.level(source, kind, new)
        if old_level is None:
            return Change.SAME if new_level is None else Change.RAISE
        if new_level is None:
            return Change.LOWER
        if new_level.id == old_level.id:
            return Change.SAME
        if new_level.rank > old_level.rank:
            return Change.UPGRADE
        if new_level.rank < old_level.rank:
            return Change.DOWNGRADE
        return Change.CHANGE

    def at_least(self, source: str, kind: str, level: str | None, minimum: str) -> bool:
        """True when `level` is in force and ranks at least as high as `minimum` (8NE >= 8SW)."""
        return level is not None and self.rank(source, kind, level) >= self.rank(
            source, kind, minimum
        )

    # --- names -----------------------------------------------------------------------

    def names(self, source: str, kind: str, level: str | None = None) -> dict[Language, str]:
        """Names per language of a level, or of the kind when level is None."""
        found = self.kind(source, kind) if level is None else self.level(source, kind, level)
        return dict(found.names)

    def name(self, source: str, kind: str, level: str | None = None, *, language: Language) -> str:
        return self.names(source, kind, level)[language]

    def cap_severity(self, source: str, kind: str, level: str) -> CapSeverity:
        """CAP <severity> for our alerts: the level's own, else from its place under the top."""
        found = self.level(source, kind, level)
        if found.cap_severity is not None:
            return found.cap_severity
        ranks = sorted({lv.rank for lv in self.kind(source, kind).levels}, reverse=True)
        below_top = ranks.index(found.rank)
        return _SEVERITY_FROM_TOP[below_top] if below_top < len(_SEVERITY_FROM_TOP) else "Minor"
