"""Polling the feeds of config/feeds.yaml.

    poll_due(runtime)        # the periodic job: every feed whose next_poll_at has come

Each due feed is fetched (at the same time, in a few threads) with a conditional request
(If-None-Match / If-Modified-Since), a timeout and a size limit; then, one feed at a time:
- 304: nothing new; 200: the document is read with the same safe parser and structural
  limits as a CAP alert, and may be an RSS 2.0 channel (SMG publishes its CAP index so), an
  Atom feed, or one CAP alert. Each RSS item's link, each Atom entry's inline CAP content
  or link, is followed. A link is fetched again at every poll, conditionally (its own ETag
  and Last-Modified, remembered in `feed_link`), and its document is ingested only when it
  changed (else its SHA-256 is compared): an agency may rewrite one URL per warning type.
  The alerts are ingested oldest first, each in its own unit of work through
  `cap.flows.ingest_cap` (a duplicate is skipped there; a bad alert is recorded as the
  feed's last error and does not stop the others);
- a failure (timeout, refused connection, HTTP error, a feed that is not Atom) counts one
  more failure in a row and the next poll waits interval × 2^failures, at most
  max_backoff_seconds.
A feed is stale after `stale_after_failures` failures in a row or `stale_after_intervals`
intervals without an answer; `feed.stale` and `feed.recovered` are emitted when that
changes. Nothing here raises into the scheduler: one feed's trouble is that feed's state.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from lxml import etree
from sqlmodel import Session, select

from emergency.cap import flows as cap_flows
from emergency.cap.alert import CAP_NS
from emergency.cap.exceptions import CapError
from emergency.cap.parse import parse_cap_within, parse_xml_safely
from emergency.clock import local_iso
from emergency.db import utcnow
from emergency.events import service as event_service
from emergency.feeds.config import FeedDef, FeedsFile, feed_mappings, feeds_config
from emergency.feeds.models import FeedLink, FeedState
from emergency.signals.models import Origin

if TYPE_CHECKING:
    from emergency.runtime import Runtime

log = logging.getLogger(__name__)

ATOM = "{http://www.w3.org/2005/Atom}"
CAP_ALERT = f"{{{CAP_NS}}}alert"
MAX_FEED_BYTES = 5 * 1024 * 1024  # an Atom feed with its alerts inline
MAX_ENTRIES = 200
USER_AGENT = "hengqin-typhoon-coordinator/1 (+feed poller)"


@dataclass
class Fetched:
    status: int | None = None  # None: no answer (timeout, refused, …)
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None


@dataclass
class PollResult:
    feed_id: str
    ok: bool
    status: int | None
    new_alerts: int = 0
    errors: list[str] = field(default_factory=list)


# --- the job's work --------------------------------------------------------------------


def poll_due(runtime: Runtime, *, now: datetime | None = None) -> list[PollResult]:
    """Poll every enabled feed that is due; never raises (see the module docstring)."""
    config = feeds_config(runtime)
    feeds = config.enabled()
    if not feeds:
        return []
    now = now or utcnow()
    with runtime.db.unit_of_work() as session:
        states = {f.id: _state(session, f) for f in feeds}
        due = [f for f in feeds if _due(states[f.id].next_poll_at, now)]
        validators = {f.id: (states[f.id].etag, states[f.id].last_modified) for f in due}
    if not due:
        return []
    with ThreadPoolExecutor(max_workers=min(4, len(due)), thread_name_prefix="feed") as pool:
        fetched = list(
            pool.map(
                lambda f: fetch(
                    f.url,
                    timeout=config.timeout(f),
                    etag=validators[f.id][0],
                    last_modified=validators[f.id][1],
                    limit=MAX_FEED_BYTES,
                ),
                due,
            )
        )
    results = []
    for feed, answer in zip(due, fetched, strict=True):
        try:
            results.append(_process(runtime, config, feed, answer))
        except Exception as exc:  # a bug must not stop the other feeds or the scheduler
            log.exception("feed poll failed", extra={"feed": feed.id})
            results.append(
                PollResult(feed.id, False, answer.status, errors=[f"{type(exc).__name__}: {exc}"])
            )
    return results


def fetch(
    url: str,
    *,
    timeout: float,
    etag: str | None = None,
    last_modified: str | None = None,
    limit: int = MAX_FEED_BYTES,
) -> Fetched:
    """GET with validators, a timeout and a size limit; never raises."""
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "application/rss+xml, application/atom+xml, application/cap+xml, "
        "application/xml;q=0.9",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=3) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            body = bytearray()
            if response.status_code == 200:
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > limit:
                        return Fetched(200, error=f"answer over {limit} bytes")
            return Fetched(
                response.status_code,
                bytes(body),
                response.headers.get("etag"),
                response.headers.get("last-modified"),
            )
    except httpx.TimeoutException:
        return Fetched(error=f"no answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        return Fetched(error=f"{type(exc).__name__}: {exc}"[:300])


def _process(runtime: Runtime, config: FeedsFile, feed: FeedDef, answer: Fetched) -> PollResult:
    now = utcnow()
    result = PollResult(feed.id, False, answer.status)
    documents: list[tuple[bytes, str | None]] = []
    links: list[FeedLink] = []
    if answer.error is None and answer.status == 200:
        try:
            documents, links = _documents(runtime, feed, answer.body, config)
            result.ok = True
        except CapError as exc:
            answer.error = f"not a usable feed document: {exc.message}"[:300]
    elif answer.error is None and answer.status == 304:
        # The index is unchanged, but a document it links to may have been rewritten.
        documents, links = _follow_listed(runtime, feed, config)
        result.ok = True
    elif answer.error is None:
        answer.error = f"HTTP {answer.status}"
    if result.ok:
        max_bytes = runtime.settings.cap_max_bytes
        for data, url in _oldest_first(documents, result, max_bytes=max_bytes):
            _ingest(runtime, feed, data, url, result)
    with runtime.db.unit_of_work() as session:
        for link in links:
            session.merge(link)
        if answer.status == 200 and result.ok:
            _mark_listed(session, feed, {link.url for link in links})
        state = _state(session, feed, lock=True)
        state.first_polled_at = state.first_polled_at or now
        state.last_polled_at, state.last_status = now, answer.status
        interval = config.interval(feed)
        if result.ok:
            state.failures, state.last_ok_at = 0, now
            if answer.status == 200:
                state.etag, state.last_modified = answer.etag, answer.last_modified
            state.last_error = "; ".join(result.errors)[:500] or None
            state.next_poll_at = now + timedelta(seconds=interval)
        else:
            state.failures += 1
            state.last_error = (answer.error or "failed")[:500]
            backoff = min(interval * 2**state.failures, config.defaults.max_backoff_seconds)
            state.next_poll_at = now + timedelta(seconds=max(backoff, interval))
            result.errors.append(state.last_error)
            log.warning(
                "feed poll failed",
                extra={"feed": feed.id, "failures": state.failures, "error": state.last_error},
            )
        if result.new_alerts:
            state.last_new_at = now
            state.alerts_ingested += result.new_alerts
        stale = is_stale(state, config, feed, now=now)
        if stale != state.stale:
            state.stale = stale
            event_service.emit(
                session,
                "feed.stale" if stale else "feed.recovered",
                state_public(state, config, feed, now=now),
            )
        session.add(state)
    return result


def _documents(
    runtime: Runtime, feed: FeedDef, body: bytes, config: FeedsFile
) -> tuple[list[tuple[bytes, str | None]], list[FeedLink]]:
    """(CAP document, its URL if fetched on its own) of a feed's answer, and the state of the
    links followed (to remember once the poll is done)."""
    root = parse_xml_safely(body)  # no DTDs, no entities, the structural limits
    kind = {CAP_ALERT: "cap", ATOM + "feed": "atom", "rss": "rss"}.get(root.tag)
    if kind is None or feed.kind not in ("auto", kind):
        wanted = {
            "auto": "an RSS 2.0 <rss>, an Atom <feed> or a CAP <alert>",
            "rss": "an RSS 2.0 <rss>",
            "atom": "an Atom <feed>",
            "cap": "a CAP 1.2 <alert>",
        }[feed.kind]
        raise CapError("feed_not_supported", f"the root element is {root.tag!r}, not {wanted}")
    if kind == "cap":
        return [(body, feed.url)], []
    out: list[tuple[bytes, str | None]] = []
    urls: list[str] = []
    for item in _items(root, kind)[:MAX_ENTRIES]:
        if isinstance(item, bytes):
            out.append((item, None))
        elif item not in urls:
            urls.append(item)
    links = []
    for url in urls:
        data, link = _follow(runtime, feed, url, config)
        links.append(link)
        if data is not None:
            out.append((data, url if data else f"{url} ({link.last_status or 'no answer'})"))
    return out, links


def _mark_listed(session: Session, feed: FeedDef, urls: set[str]) -> None:
    """Which links the index lists now: those are followed again while it answers 304."""
    session.flush()
    for row in session.exec(select(FeedLink).where(FeedLink.feed_id == feed.id)):
        listed = row.url in urls
        if row.listed != listed:
            row.listed = listed
            session.add(row)


def _due(next_poll_at: datetime | None, now: datetime) -> bool:
    return next_poll_at is None or next_poll_at <= now


def _follow_listed(
    runtime: Runtime, feed: FeedDef, config: FeedsFile
) -> tuple[list[tuple[bytes, str | None]], list[FeedLink]]:
    with runtime.db.session() as session:
        urls = list(
            session.exec(select(FeedLink.url).where(FeedLink.feed_id == feed.id, FeedLink.listed))
        )
    out: list[tuple[bytes, str | None]] = []
    links: list[FeedLink] = []
    for url in urls[:MAX_ENTRIES]:
        data, link = _follow(runtime, feed, url, config)
        links.append(link)
        if data:
            out.append((data, url))
    return out, links


def _items(root: etree._Element, kind: str) -> list[bytes | str]:
    """Each item's inline CAP alert (bytes) or the URL of its CAP document (str)."""
    found: list[bytes | str] = []
    if kind == "atom":
        for entry in root.findall(ATOM + "entry"):
            inline = next(
                (
                    c
                    for content in entry.findall(ATOM + "content")
                    for c in content
                    if c.tag == CAP_ALERT
                ),
                None,
            )
            if inline is not None:
                found.append(etree.tostring(inline, xml_declaration=True, encoding="UTF-8"))
                continue
            links = entry.findall(ATOM + "link")
            href = next(
                (
                    ln.get("href")
                    for ln in links
                    if "cap" in (ln.get("type") or "") and ln.get("href")
                ),
                None,
            ) or next(
                (
                    ln.get("href")
                    for ln in links
                    if ln.get("rel", "alternate") == "alternate" and ln.get("href")
                ),
                None,
            )
            if href:
                found.append(href.strip())
        return found
    for item in root.iter("item"):  # RSS 2.0: channel/item; the link, else a CAP enclosure
        enclosure = next(
            (e.get("url") for e in item.findall("enclosure") if "xml" in (e.get("type") or "")),
            None,
        )
        link = (item.findtext("link") or "").strip() or enclosure
        if link:
            found.append(link)
    return found


def _follow(
    runtime: Runtime, feed: FeedDef, url: str, config: FeedsFile
) -> tuple[bytes | None, FeedLink]:
    """A linked document, fetched conditionally: its bytes when they changed since the last
    poll (b"" when it could not be fetched), None when they did not."""
    with runtime.db.session() as session:
        known = session.exec(
            select(FeedLink).where(FeedLink.feed_id == feed.id, FeedLink.url == url)
        ).first()
        link = FeedLink.model_validate(known) if known else FeedLink(feed_id=feed.id, url=url)
    if not url.startswith(("http://", "https://")):
        link.last_status = None
        return b"", link
    answer = fetch(
        url,
        timeout=config.timeout(feed),
        etag=link.etag,
        last_modified=link.last_modified,
        limit=runtime.settings.cap_max_bytes + 1,
    )
    link.fetched_at, link.last_status = utcnow(), answer.status
    if answer.status == 304:
        return None, link
    if answer.status != 200 or answer.error is not None:
        return b"", link
    digest = hashlib.sha256(answer.body).hexdigest()
    link.etag, link.last_modified = answer.etag, answer.last_modified
    if digest == link.sha256:
        return None, link  # the same document again (a server without validators)
    link.sha256 = digest
    return answer.body, link


def _oldest_first(
    documents: Iterable[tuple[bytes | None, str | None]], result: PollResult, *, max_bytes: int
) -> list[tuple[bytes, str | None]]:
    """The documents in the order they were sent (feeds list the newest first)."""
    dated = []
    for data, url in documents:
        if not data:
            result.errors.append(f"could not fetch {url}")
            continue
        try:
            dated.append((parse_cap_within(data, max_bytes=max_bytes).sent, data, url))
        except CapError as exc:
            result.errors.append(f"{exc.code}: {exc.message}"[:200])
    return [(data, url) for _, data, url in sorted(dated, key=lambda d: d[0])]


def _ingest(
    runtime: Runtime, feed: FeedDef, data: bytes, url: str | None, result: PollResult
) -> None:
    try:
        with runtime.db.unit_of_work() as session:
            ingested = cap_flows.ingest_cap(
                session,
                runtime=runtime,
                data=data,
                posted_by=f"feed:{feed.id}",
                origin=Origin.feed,
                feed_id=feed.id,
                source_url=url,
                cap_mappings=feed_mappings(runtime, feed),
            )
        if not ingested.duplicate:
            result.new_alerts += 1
    except CapError as exc:
        result.errors.append(f"{exc.code}: {exc.message}"[:200])


def _state(session: Session, feed: FeedDef, *, lock: bool = False) -> FeedState:
    query = select(FeedState).where(FeedState.feed_id == feed.id)
    state = session.exec(query.with_for_update() if lock else query).first()
    if state is None:
        state = FeedState(feed_id=feed.id, url=feed.url)
        session.add(state)
        session.flush()
    elif state.url != feed.url:  # the address changed in the file: start afresh
        state.url, state.etag, state.last_modified, state.next_poll_at = feed.url, None, None, None
        session.add(state)
    return state


# --- reading ---------------------------------------------------------------------------


def is_stale(
    state: FeedState, config: FeedsFile, feed: FeedDef, *, now: datetime | None = None
) -> bool:
    now = now or utcnow()
    if state.failures >= config.defaults.stale_after_failures:
        return True
    silent_for = timedelta(seconds=config.interval(feed) * config.defaults.stale_after_intervals)
    since = state.last_ok_at or state.first_polled_at
    return since is not None and now - since > silent_for


def state_public(
    state: FeedState | None, config: FeedsFile, feed: FeedDef, *, now: datetime | None = None
) -> dict[str, Any]:
    if not feed.enabled:
        status = "disabled"
    elif state is None or state.last_polled_at is None:
        status = "never"
    elif is_stale(state, config, feed, now=now):
        status = "stale"
    else:
        status = "ok" if state.failures == 0 else "failing"
    return {
        "id": feed.id,
        "name": feed.name,
        "kind": feed.kind,
        "url": feed.url,
        "enabled": feed.enabled,
        "status": status,
        "interval_seconds": config.interval(feed),
        "failures": state.failures if state else 0,
        "last_ok_at_local": local_iso(state.last_ok_at) if state else None,
        "last_polled_at_local": local_iso(state.last_polled_at) if state else None,
        "last_new_at_local": local_iso(state.last_new_at) if state else None,
        "next_poll_at_local": local_iso(state.next_poll_at) if state else None,
        "last_status": state.last_status if state else None,
        "last_error": state.last_error if state else None,
        "alerts_ingested": state.alerts_ingested if state else 0,
    }


def summary(session: Session, *, runtime: Runtime | None) -> list[dict[str, Any]]:
    """The situation's `feeds` section: each configured feed and whether it is stale."""
    if runtime is None:
        return []
    config = feeds_config(runtime)
    states = {s.feed_id: s for s in session.exec(select(FeedState))}
    now = utcnow()
    return [state_public(states.get(f.id), config, f, now=now) for f in config.feeds]
