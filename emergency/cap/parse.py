"""Parse and check an incoming CAP 1.2 alert, safely, into a CapAlert.

Order of checks, cheapest and most dangerous first:
1. size: over `max_bytes` is refused before any parsing (cap_too_large);
2. DTDs: a DOCTYPE in the prolog is refused before parsing (cap_forbidden_dtd), so an
   external entity (XXE) is never resolved and an entity bomb (billion laughs) never
   expanded; the parser itself is also hardened (no entities resolved, no DTD loaded,
   no network) and the parsed tree is checked again for any DTD, in case the prolog
   scan was fooled by an unusual encoding;
3. well-formedness (cap_not_xml);
4. structural limits (cap_too_complex), before the schema: attributes per element,
   elements, depth, text length. Schema validation costs grow with these (20,000
   attributes on one element kept a core busy for minutes), and no real alert comes near
   them; `parse_cap_within` also runs the parse in a worker thread with a deadline, so
   neither the event loop nor the request waits on it for ever;
5. the OASIS CAP 1.2 schema (cap_schema_invalid, naming the element and line);
6. the rules of the CAP 1.2 text the schema cannot express (cap_rule_violation):
   references of Update/Cancel/Ack/Error, times, polygons, circles, identifier/sender
   characters, restriction/addresses for the scope. No rule the standard does not have:
   an <expires> equal to <sent> (a tsunami cancellation) is valid.

The bytes received are never rewritten here: callers keep them as they came (encoding,
declaration, comments, signature), next to the parsed form.

Times: the schema's pattern already insists on YYYY-MM-DDThh:mm:ss±hh:mm (no 'Z', no
fractional seconds). The only leniency is what xs:dateTime itself allows: surrounding
whitespace, any UTC offset ("-00:00" is UTC, as CAP says), and 24:00:00 meaning
midnight at the end of that day.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta

from lxml import etree

from emergency.cap.alert import (
    CAP_NS,
    REFERRING_MSG_TYPES,
    CapAlert,
    CapArea,
    CapCircle,
    CapInfo,
    CapReference,
    CapResource,
    Pair,
    Point,
)
from emergency.cap.exceptions import CapError
from emergency.cap.xsd import cap_schema, cap_schema_libxml2

# A real CAP alert is tens of kB; IPAWS alerts carry their audio inline (one of 459 kB is
# in the wild). TYPHOON_CAP_MAX_BYTES overrides it.
DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_DEADLINE_SECONDS = 10.0

# Structural limits, checked on the parsed tree before the schema. CAP elements have no
# attributes (a signature's have a few); the largest real alerts we know have a few
# thousand elements (hundreds of geocodes) and nest 7 deep (two XML signatures).
MAX_ATTRIBUTES = 50  # per element
MAX_ELEMENTS = 10_000
MAX_DEPTH = 32
MAX_TEXT_CHARS = DEFAULT_MAX_BYTES  # one text or attribute value

_NS = "{" + CAP_NS + "}"
_MAX_SCHEMA_ERRORS = 5

# --- entry point ------------------------------------------------------------------------


def parse_cap(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> CapAlert:
    """Parse, validate and check one CAP 1.2 alert; raise CapError(code, message) if unusable."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise CapError(
            "cap_too_large", f"the alert is {len(data)} bytes, over the limit of {max_bytes}"
        )
    root = parse_xml_safely(data)
    if root.tag != _NS + "alert":
        raise CapError("cap_schema_invalid", _wrong_root(root), path="/")
    _check_schema(root)
    return _Reader().alert(root)


def parse_built_cap(data: bytes) -> CapAlert:
    """`parse_cap` for an alert this system has just built (`build.build_cap`, the profile check
    before publishing): the same checks, the schema's by libxml2 (`xsd.cap_schema_libxml2`,
    microseconds: a signal change builds and checks several alerts inside its transaction,
    where the pure-Python validator took ~10 ms each). Only when libxml2 refuses it does
    `parse_cap` run, for the message naming the element and line. The two validators differ
    at the edges (xmlschema refuses a URI whose port is past 65535, libxml2 does not): what
    we put into an alert's URIs is checked where it is set (`Settings`: TYPHOON_PUBLIC_URL)."""
    root = parse_xml_safely(data)
    if root.tag == _NS + "alert" and cap_schema_libxml2().validate(root):
        return _Reader().alert(root)
    parse_cap(data, max_bytes=max(len(data), 1))  # raises with the element and line
    problem = cap_schema_libxml2().error_log.last_error
    raise CapError("cap_schema_invalid", f"not valid CAP 1.2 (libxml2): {problem}", path="/")


def parse_cap_within(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    seconds: float = DEFAULT_DEADLINE_SECONDS,
) -> CapAlert:
    """`parse_cap` in a worker thread, waited for at most `seconds` (then a 422
    cap_too_complex). For requests and the feed poller: the limits keep any document well
    under the deadline; the deadline is the backstop if a document still found a slow path.
    """
    future = _parse_pool().submit(parse_cap, data, max_bytes=max_bytes)
    try:
        return future.result(timeout=seconds)
    except FutureTimeout:
        future.cancel()
        raise CapError(
            "cap_too_complex", f"the alert could not be checked within {seconds:g} s"
        ) from None


@functools.cache
def _parse_pool() -> ThreadPoolExecutor:
    # Two threads: one slow document never holds up the next alert.
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="cap-parse")


def parse_xml_safely(data: bytes, *, remove_blank_text: bool = False) -> etree._Element:
    """Well-formed XML without any DTD, or CapError; shared with the Atom feed builder."""
    if _prolog_has_doctype(data):
        raise CapError("cap_forbidden_dtd", "DOCTYPE/DTD and entity declarations are not accepted")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
        remove_blank_text=remove_blank_text,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:  # a DTD the prolog scan missed
            raise CapError("cap_forbidden_dtd", "DTDs and entities are not accepted") from None
        raise CapError("cap_not_xml", f"not well-formed XML: {exc}") from None
    if root is None:
        raise CapError("cap_not_xml", "not well-formed XML: empty document")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise CapError("cap_forbidden_dtd", "DOCTYPE/DTD and entity declarations are not accepted")
    check_structure(root)
    return root


def check_structure(root: etree._Element) -> None:
    """CapError cap_too_complex past the structural limits (module docstring, step 4)."""
    for count, (element, depth) in enumerate(_walk(root), 1):
        where = f"line {element.sourceline}" if element.sourceline else "the document"
        if count > MAX_ELEMENTS:
            raise CapError("cap_too_complex", f"more than {MAX_ELEMENTS} elements (at {where})")
        if depth > MAX_DEPTH:
            raise CapError(
                "cap_too_complex", f"elements nested more than {MAX_DEPTH} deep (at {where})"
            )
        attributes = element.attrib
        if len(attributes) > MAX_ATTRIBUTES:
            raise CapError(
                "cap_too_complex",
                f"<{etree.QName(element).localname}> at {where} has {len(attributes)} "
                f"attributes, over the limit of {MAX_ATTRIBUTES}",
            )
        texts = [element.text, element.tail, *attributes.values()]
        if any(t is not None and len(t) > MAX_TEXT_CHARS for t in texts):
            raise CapError(
                "cap_too_complex", f"a text at {where} is over {MAX_TEXT_CHARS} characters"
            )


def _walk(root: etree._Element) -> Iterator[tuple[etree._Element, int]]:
    """(element, depth) for every element, without recursion."""
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if not isinstance(element.tag, str):  # comments and PIs (kept by some parsers)
            continue
        yield element, depth
        stack.extend((child, depth + 1) for child in element)


# --- DTD refusal before parsing -------------------------------------------------------

# Whitespace, the XML declaration, processing instructions and comments may come before
# a DOCTYPE; nothing else may.
_PROLOG_ITEM = re.compile(r"\s+|<\?.*?\?>|<!--.*?-->", re.S)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _prolog_has_doctype(data: bytes) -> bool:
    head = data[:65536]
    encoding = "latin-1"  # any ASCII-compatible encoding reads the same for markup
    for bom, name in _BOMS:
        if head.startswith(bom):
            head, encoding = head[len(bom) :], name
            break
    else:
        if head[:2] in (b"<\x00", b"\x00<"):  # UTF-16 without a BOM
            encoding = "utf-16-le" if head[:1] == b"<" else "utf-16-be"
    text = head.decode(encoding, errors="replace")
    pos = 0
    while match := _PROLOG_ITEM.match(text, pos):
        pos = match.end()
    return text.startswith("<!DOCTYPE", pos) or text.startswith("<!ENTITY", pos)


def _wrong_root(root: etree._Element) -> str:
    qname = etree.QName(root)
    if qname.namespace and qname.namespace.startswith("urn:oasis:names:tc:emergency:cap:"):
        return f"CAP version {qname.namespace.rsplit(':', 1)[-1]} is not accepted, only CAP 1.2 ({CAP_NS})"
    namespace = f"{{{qname.namespace}}}" if qname.namespace else "no namespace"
    return (
        f"the root element is <{qname.localname}> in {namespace}, not a CAP 1.2 <alert> in {CAP_NS}"
    )


# --- schema -----------------------------------------------------------------------------


def _check_schema(root: etree._Element) -> None:
    errors = []
    for error in cap_schema().iter_errors(root.getroottree()):
        errors.append(error)
        if len(errors) > _MAX_SCHEMA_ERRORS:
            break
    if not errors:
        return
    problems = [_describe_schema_error(e) for e in errors[:_MAX_SCHEMA_ERRORS]]
    more = len(errors) - 1
    message = problems[0] + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
    raise CapError(
        "cap_schema_invalid",
        f"not valid CAP 1.2: {message}",
        path=errors[0].path,
        problems=problems,
    )


def _describe_schema_error(error: object) -> str:
    path = getattr(error, "path", None) or "/"
    line = getattr(error, "sourceline", None)
    reason = (getattr(error, "reason", None) or getattr(error, "message", "") or "invalid").strip()
    reason = reason.replace(_NS, "cap:").rstrip(".")
    where = f"{path} (line {line})" if line else path
    value = getattr(error, "obj", None)
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"{where}: {shown!r}: {reason}"
    return f"{where}: {reason}"


# --- reading the validated tree, with the rules ------------------------------------------

_CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_LAT_LON = re.compile(rf"^({_NUMBER}),({_NUMBER})$")
_CIRCLE = re.compile(rf"^\s*({_NUMBER})\s*,\s*({_NUMBER})\s+({_NUMBER})\s*$")
_BAD_ID_CHARS = re.compile(r"[\s,<&]")


def parse_cap_time(text: str, *, path: str = "") -> datetime:
    """A CAP time as an aware datetime; CapError(cap_rule_violation) if not CAP's form."""
    value = text.strip()
    if not _CAP_TIME.match(value):
        raise CapError(
            "cap_rule_violation",
            f"{path}: {text!r} is not a CAP time YYYY-MM-DDThh:mm:ss±hh:mm (no 'Z', no fractions)",
            path=path,
        )
    extra = timedelta(0)
    if value[11:19] == "24:00:00":  # xs:dateTime's end-of-day midnight
        value, extra = value[:11] + "00:00:00" + value[19:], timedelta(days=1)
    try:
        return datetime.fromisoformat(value) + extra
    except ValueError:
        raise CapError(
            "cap_rule_violation", f"{path}: {text!r} is not a valid date and time", path=path
        ) from None


class _Reader:
    """Walks the schema-valid tree; collects every rule violation, then raises once."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def alert(self, root: etree._Element) -> CapAlert:
        fields = _singles(root)
        codes = [_text(c) for c in _all(root, "code")]
        identifier = self.token(fields, "identifier", "/alert/identifier")
        sender = self.token(fields, "sender", "/alert/sender")
        sent = self.time(fields["sent"], "/alert/sent")
        msg_type = _text(fields["msgType"])
        scope = _text(fields["scope"])
        restriction = _opt(fields.get("restriction"))
        addresses = _opt(fields.get("addresses"))
        if scope == "Restricted" and not restriction:
            self.fail("/alert/restriction", "scope Restricted needs a <restriction>")
        if scope == "Private" and not addresses:
            self.fail("/alert/addresses", "scope Private needs <addresses>")
        references = self.references(_opt(fields.get("references")), msg_type)
        infos = [
            self.info(elem, f"/alert/info[{i}]", sent)
            for i, elem in enumerate(_all(root, "info"), 1)
        ]
        if self.problems:
            path, first = self.problems[0]
            more = len(self.problems) - 1
            suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
            raise CapError(
                "cap_rule_violation",
                f"{path}: {first}{suffix}",
                path=path,
                problems=[f"{p}: {m}" for p, m in self.problems],
            )
        assert sent is not None  # a bad <sent> is a recorded problem, raised above
        return CapAlert(
            identifier=identifier,
            sender=sender,
            sent=sent,
            status=_text(fields["status"]),
            msg_type=msg_type,
            scope=scope,
            source=_opt(fields.get("source")),
            restriction=restriction,
            addresses=addresses,
            codes=codes,
            note=_opt(fields.get("note")),
            references=references,
            incidents=_opt(fields.get("incidents")),
            infos=infos,
        )

    def token(self, fields: dict[str, etree._Element], name: str, path: str) -> str:
        value = _text(fields[name])
        if not value:
            self.fail(path, f"<{name}> is empty")
        elif _BAD_ID_CHARS.search(value):
            # References are comma- and space-separated: these would break them.
            self.fail(path, f"<{name}> {value!r} must not contain spaces, commas, '<' or '&'")
        return value

    def time(self, elem: etree._Element, path: str) -> datetime | None:
        try:
            return parse_cap_time(_text(elem), path=path)
        except CapError as exc:
            self.fail(path, exc.message.split(": ", 1)[-1])
            return None  # recorded: alert() raises before any CapAlert is made

    def references(self, text: str | None, msg_type: str) -> list[CapReference]:
        path = "/alert/references"
        if not text:
            if msg_type in REFERRING_MSG_TYPES:
                self.fail(
                    path, f"msgType {msg_type} must have <references> to the message(s) it concerns"
                )
            return []
        out = []
        for n, triple in enumerate(text.split(), 1):
            parts = triple.split(",")
            if len(parts) != 3 or not all(parts):
                self.fail(path, f"reference #{n} {triple!r} is not 'sender,identifier,sent'")
                continue
            try:
                sent = parse_cap_time(parts[2], path=path)
            except CapError:
                self.fail(path, f"reference #{n} {triple!r}: {parts[2]!r} is not a CAP time")
                continue
            out.append(CapReference(parts[0], parts[1], sent))
        return out

    def info(self, elem: etree._Element, path: str, sent: datetime | None) -> CapInfo:
        fields = _singles(elem)
        times = {
            name: self.time(fields[name], f"{path}/{name}") if name in fields else None
            for name in ("effective", "onset", "expires")
        }
        effective, expires = times["effective"], times["expires"]
        return CapInfo(
            language=_opt(fields.get("language")) or "en-US",
            categories=[_text(c) for c in _all(elem, "category")],
            event=_text(fields["event"]),
            response_types=[_text(c) for c in _all(elem, "responseType")],
            urgency=_text(fields["urgency"]),
            severity=_text(fields["severity"]),
            certainty=_text(fields["certainty"]),
            audience=_opt(fields.get("audience")),
            event_codes=[_pair(c) for c in _all(elem, "eventCode")],
            effective=effective,
            onset=times["onset"],
            expires=expires,
            sender_name=_opt(fields.get("senderName")),
            headline=_opt(fields.get("headline")),
            description=_opt(fields.get("description")),
            instruction=_opt(fields.get("instruction")),
            web=_opt(fields.get("web")),
            contact=_opt(fields.get("contact")),
            parameters=[_pair(c) for c in _all(elem, "parameter")],
            resources=[_resource(c) for c in _all(elem, "resource")],
            areas=[self.area(a, f"{path}/area[{i}]") for i, a in enumerate(_all(elem, "area"), 1)],
        )

    def area(self, elem: etree._Element, path: str) -> CapArea:
        fields = _singles(elem)
        polygons = []
        for i, poly in enumerate(_all(elem, "polygon"), 1):
            points = self.polygon(_text(poly), f"{path}/polygon[{i}]")
            if points:
                polygons.append(points)
        circles = []
        for i, circ in enumerate(_all(elem, "circle"), 1):
            circle = self.circle(_text(circ), f"{path}/circle[{i}]")
            if circle:
                circles.append(circle)
        return CapArea(
            area_desc=_text(fields["areaDesc"]),
            polygons=polygons,
            circles=circles,
            geocodes=[_pair(g) for g in _all(elem, "geocode")],
            altitude=_float(fields.get("altitude")),
            ceiling=_float(fields.get("ceiling")),
        )

    def polygon(self, text: str, path: str) -> list[Point] | None:
        pairs = text.split()
        if len(pairs) < 4:
            self.fail(
                path, f"a polygon needs at least 4 'lat,lon' pairs (first = last), got {len(pairs)}"
            )
            return None
        points: list[Point] = []
        for n, pair in enumerate(pairs, 1):
            point = self.point(pair, path, f"pair #{n}")
            if point is None:
                return None
            points.append(point)
        if points[0] != points[-1]:
            self.fail(
                path,
                f"the polygon is not closed: first pair {pairs[0]!r} differs from last {pairs[-1]!r}",
            )
            return None
        return points

    def circle(self, text: str, path: str) -> CapCircle | None:
        match = _CIRCLE.match(text)
        if not match:
            self.fail(path, f"{text[:60]!r} is not a circle 'lat,lon radius_km'")
            return None
        point = self.point(f"{match[1]},{match[2]}", path, "centre")
        radius = float(match[3])
        if radius < 0:
            self.fail(path, f"the radius {match[3]} km is negative")
            return None
        return CapCircle(point[0], point[1], radius) if point else None

    def point(self, pair: str, path: str, what: str) -> Point | None:
        match = _LAT_LON.match(pair)
        if not match:
            self.fail(path, f"{what} {pair[:40]!r} is not 'lat,lon'")
            return None
        lat, lon = float(match[1]), float(match[2])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            self.fail(
                path,
                f"{what} {pair!r} is out of range (lat -90..90, lon -180..180; CAP puts lat first)",
            )
            return None
        return (lat, lon)


# --- small helpers over lxml elements -------------------------------------------------------


def _local(elem: etree._Element) -> str:
    name: str = etree.QName(elem).localname
    return name


def _singles(elem: etree._Element) -> dict[str, etree._Element]:
    """Child elements by local name (the first of each; the schema says which repeat)."""
    out: dict[str, etree._Element] = {}
    for child in elem:
        if isinstance(child.tag, str) and child.tag.startswith(_NS):
            out.setdefault(_local(child), child)
    return out


def _all(elem: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in elem if child.tag == _NS + name]


def _text(elem: etree._Element | None) -> str:
    return (elem.text or "").strip() if elem is not None else ""


def _opt(elem: etree._Element | None) -> str | None:
    return _text(elem) or None


def _pair(elem: etree._Element) -> Pair:
    fields = _singles(elem)
    return (_text(fields.get("valueName")), _text(fields.get("value")))


def _float(elem: etree._Element | None) -> float | None:
    text = _text(elem)
    return float(text) if text else None


def _resource(elem: etree._Element) -> CapResource:
    fields = _singles(elem)
    size = _text(fields.get("size"))
    return CapResource(
        resource_desc=_text(fields.get("resourceDesc")),
        mime_type=_text(fields.get("mimeType")),
        size=int(size) if size else None,
        uri=_opt(fields.get("uri")),
        digest=_opt(fields.get("digest")),
    )
