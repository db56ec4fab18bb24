"""Our alerts as an Atom 1.0 feed of CAP 1.2 messages (GET /api/v1/cap/feed.atom).

The form the WMO Register of Alerting Authorities and the Google public-alert hubs
read: one <entry> per alert, with a link to the alert's own URL typed
application/cap+xml and the CAP <alert> itself inline as the entry's content
(type="application/cap+xml"; RFC 4287 puts an XML media type's document inline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from emergency.cap.alert import CAP_MIME
from emergency.cap.build import cap_time
from emergency.cap.parse import parse_cap, parse_xml_safely

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_MIME = "application/atom+xml"


@dataclass(frozen=True, slots=True)
class AtomEntry:
    """One alert of the feed; title, updated and summary default to the alert's own."""

    cap_xml: bytes
    url: str  # where this CAP alert is served on its own
    id: str | None = None  # default: url (an Atom id must be a permanent IRI)
    title: str | None = None  # default: the English (else first) headline or event
    updated: datetime | None = None  # default: the alert's <sent>
    summary: str | None = None  # default: the same info's description, if any


def atom_feed(
    entries: Sequence[AtomEntry],
    *,
    feed_id: str,
    title: str,
    updated: datetime,
    self_url: str,
    author_name: str = "Hengqin Flood, Drought and Wind Prevention Command Post",
    author_uri: str | None = None,
    alternate_url: str | None = None,
) -> bytes:
    """A valid Atom 1.0 document (id, title, updated, author, link rel=self) of CAP entries."""
    feed = etree.Element(_q("feed"), nsmap={None: ATOM_NS})
    _sub(feed, "id", feed_id)
    _sub(feed, "title", title)
    _sub(feed, "updated", cap_time(updated))
    author = etree.SubElement(feed, _q("author"))
    _sub(author, "name", author_name)
    if author_uri:
        _sub(author, "uri", author_uri)
    _link(feed, rel="self", href=self_url, type=ATOM_MIME)
    if alternate_url:
        _link(feed, rel="alternate", href=alternate_url, type="text/html")
    for item in entries:
        _entry(feed, item)
    data: bytes = etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data


def _entry(feed: etree._Element, item: AtomEntry) -> None:
    alert = parse_cap(
        item.cap_xml, max_bytes=max(len(item.cap_xml), 1)
    )  # never publish an invalid alert
    info = alert.info("en") or (alert.infos[0] if alert.infos else None)
    entry = etree.SubElement(feed, _q("entry"))
    _sub(entry, "id", item.id or item.url)
    default_title = (info.headline or info.event) if info else alert.identifier
    _sub(entry, "title", item.title or default_title)
    _sub(entry, "updated", cap_time(item.updated or alert.sent))
    _sub(entry, "published", cap_time(alert.sent))
    _link(entry, rel="alternate", href=item.url, type=CAP_MIME)
    summary = item.summary or (info.description if info else None)
    if summary:
        _sub(entry, "summary", summary)
    content = etree.SubElement(entry, _q("content"), type=CAP_MIME)
    # Re-indented by the feed's pretty printer, so the alert's own layout is dropped.
    content.append(parse_xml_safely(item.cap_xml, remove_blank_text=True))


def _q(name: str) -> str:
    return f"{{{ATOM_NS}}}{name}"


def _sub(parent: etree._Element, name: str, text: str) -> None:
    etree.SubElement(parent, _q(name)).text = text


def _link(parent: etree._Element, *, rel: str, href: str, type: str) -> None:
    etree.SubElement(parent, _q("link"), rel=rel, href=href, type=type)
