"""The OASIS CAP 1.2 XML schema, shipped in this package and loaded once.

The .xsd next to this file is the OASIS text with its copyright notice. It imports
nothing; the schema is built with every resource access refused (allow="none"), so
validating never fetches anything from the network or the disk.
"""

from __future__ import annotations

import functools
import io
import threading
from importlib import resources

import xmlschema
from lxml import etree

XSD_NAME = "CAP-v1.2.xsd"

_per_thread = threading.local()


def _xsd_bytes() -> bytes:
    return resources.files("emergency.cap").joinpath(XSD_NAME).read_bytes()


@functools.cache
def cap_schema() -> xmlschema.XMLSchema10:
    """The CAP 1.2 schema, built on first use (~0.2 s) and reused: it is read-only."""
    return xmlschema.XMLSchema10(io.BytesIO(_xsd_bytes()), allow="none", defuse="always")


def cap_schema_libxml2() -> etree.XMLSchema:
    """The same schema compiled by libxml2 (lxml): it validates an alert in microseconds where
    `cap_schema` takes milliseconds, but names problems less clearly. One per thread: lxml
    keeps a validator's error log on the object."""
    schema: etree.XMLSchema | None = getattr(_per_thread, "schema", None)
    if schema is None:
        parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
        schema = etree.XMLSchema(etree.fromstring(_xsd_bytes(), parser))
        _per_thread.schema = schema
    return schema
