"""CAP 1.2 (OASIS Common Alerting Protocol): parse incoming alerts safely, map them to our
signals, build our own alerts and publish them as an Atom feed.

    alert = parse_cap(body)                                   # CapError(code, message)
    signals = signals_from_cap(alert, catalogue, mappings)     # [SignalAssertion]
    reading = read_cap(alert, catalogue, mappings)             # assertions, conflicts, questions
    problems = profile_problems(alert)                         # Google public-alert profile
    xml = signal_change_alert(catalogue=..., source="SMG", kind="tropical_cyclone", ...)
    feed = atom_feed([AtomEntry(xml, url)], feed_id=..., title=..., updated=..., self_url=...)
"""

from emergency.cap.alert import (
    CAP_MIME,
    CAP_NS,
    CapAlert,
    CapArea,
    CapCircle,
    CapInfo,
    CapReference,
    CapResource,
    format_cap_time,
)
from emergency.cap.atom import ATOM_NS, AtomEntry, atom_feed
from emergency.cap.build import (
    MACAU_TZ,
    AreaSpec,
    InfoSpec,
    broadcast_alert,
    build_cap,
    cap_time,
    make_identifier,
    signal_change_alert,
)
from emergency.cap.exceptions import CapError
from emergency.cap.mapping import (
    SIGNAL_VALUE_NAME,
    CapMapping,
    CapMappings,
    CapReading,
    SignalAssertion,
    load_cap_mappings,
    read_cap,
    signals_from_cap,
)
from emergency.cap.parse import DEFAULT_MAX_BYTES, parse_cap, parse_cap_time, parse_cap_within
from emergency.cap.profile import profile_problems
from emergency.cap.xsd import cap_schema

__all__ = [
    "ATOM_NS",
    "CAP_MIME",
    "CAP_NS",
    "DEFAULT_MAX_BYTES",
    "MACAU_TZ",
    "SIGNAL_VALUE_NAME",
    "AreaSpec",
    "AtomEntry",
    "CapAlert",
    "CapArea",
    "CapCircle",
    "CapError",
    "CapInfo",
    "CapMapping",
    "CapMappings",
    "CapReading",
    "CapReference",
    "CapResource",
    "InfoSpec",
    "SignalAssertion",
    "atom_feed",
    "broadcast_alert",
    "build_cap",
    "cap_schema",
    "cap_time",
    "format_cap_time",
    "load_cap_mappings",
    "make_identifier",
    "parse_cap",
    "parse_cap_time",
    "parse_cap_within",
    "profile_problems",
    "read_cap",
    "signal_change_alert",
    "signals_from_cap",
]
