"""The OASIS CAP 1.2 XML schema, shipped in this package and loaded once.

The .xsd next to this file is the OASIS text with its copyright notice. It imports
nothing; the schema is built with every resource access refused (allow="none"), so
validating never fetches anything from the network or the disk.
"""

from __future__ import annotations

import functools
import io
from importlib import resources

import xmlschema

XSD_NAME = "CAP-v1.2.xsd"


@functools.cache
def cap_schema() -> xmlschema.XMLSchema10:
    """The CAP 1.2 schema, built on first use (~0.2 s) and reused: it is read-only."""
    data = resources.files("emergency.cap").joinpath(XSD_NAME).read_bytes()
    return xmlschema.XMLSchema10(io.BytesIO(data), allow="none", defuse="always")
