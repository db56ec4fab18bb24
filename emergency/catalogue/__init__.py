"""The signal catalogue (config/signals.yaml): sources, kinds and levels of warning signals.

catalogue = load_catalogue()
catalogue.compare("SMG", "tropical_cyclone", "8NE", "3")   # Change.DOWNGRADE
catalogue.resolve("SMG:tropical_cyclone:8NE").level         # '8NE'
"""

from emergency.catalogue.exceptions import CatalogueError, InvalidSignalCode, UnknownSignal
from emergency.catalogue.models import (
    LANGUAGES,
    CapSeverity,
    CatalogueFile,
    Change,
    Kind,
    Language,
    Level,
    SignalCode,
    SignalName,
    Source,
    format_signal_code,
    normalize_id,
    parse_signal_code,
    source_and_kind,
)
from emergency.catalogue.service import DEFAULT_PATH, Catalogue, load_catalogue

__all__ = [
    "DEFAULT_PATH",
    "LANGUAGES",
    "CapSeverity",
    "Catalogue",
    "CatalogueError",
    "CatalogueFile",
    "Change",
    "InvalidSignalCode",
    "Kind",
    "Language",
    "Level",
    "SignalCode",
    "SignalName",
    "Source",
    "UnknownSignal",
    "format_signal_code",
    "load_catalogue",
    "normalize_id",
    "parse_signal_code",
    "source_and_kind",
]
