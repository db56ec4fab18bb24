"""Polling the feeds of config/feeds.yaml.

    poll_due(runtime)        # the periodic job: every feed whose next_poll_at has come

Each due feed is fetched (at the same time, in a few threads) with a conditional request
(If-None-Match / If-Modified-Since), a timeout and a size limit; then, one feed at a time:
- 304: nothing new; 200: the CAP alerts it holds (kind cap: the document; kind atom: each
  entry's inline CAP content, or the CAP document its link points to, fetched once) are
  ingested oldest first, each in its own unit of work through `cap.flows.ingest_cap`
  (a duplicate is skipped there; a bad alert is recorded as the feed's last error and does
  not stop the others);
- a failure (timeout, refused connection, HTTP error, a feed that is not Atom) counts one
  more failure in a row and the next poll waits interval × 2^failures, at most
  max_backoff_seconds.
A feed is stale after `stale_after_failures` failures in a row or `stale_after_intervals`
intervals without an answer; `feed.stale` and `feed.recovered` are emitted when that
changes. Nothing here raises into the scheduler: one feed's trouble is that feed's state.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from lxml import etree
from sqlmodel import Session, select

from emergency.cap import flows as cap_flows
from emergency.cap.exceptions import CapError
from emergency.cap.models import CAP_NS
from emergency.cap.parse import DEFAULT_MAX_BYTES, parse_cap, parse_xml_safely
from emergency.cap.tables import CapReceived
from emergency.clock import local_iso
from emergency.db import utcnow
from emergency.events import service as event_service
from emergency.feeds.config import FeedDef, FeedsFile, feed_mappings, feeds_config
from emergency.feeds.models import FeedState
from emergency.signals.models import Origin

log = logging.getLogger(__name__)

ATOM = "{http://www.w3.org/2005/Atom}"
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


def poll_due(runtime: Any, *, now: datetime | None = None) -> list[PollResult]:
    """Poll every enabled feed that is due; never raises (see the module docstring)."""
    config = feeds_config(runtime)
    feeds = config.enabled()
    if not feeds:
        return []
    now = now or utcnow()
    with runtime.db.unit_of_work() as session:
        states = {f.id: _state(session, f) for f in feeds}
        due = [
            f
            for f in feeds
            if states[f.id].next_poll_at is None or states[f.id].next_poll_at <= now
        ]
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
        "Accept": "application/atom+xml, application/cap+xml, application/xml;q=0.9",
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


def _process(runtime: Any, config: FeedsFile, feed: FeedDef, answer: Fetched) -> PollResult:
    now = utcnow()
    result = PollResult(feed.id, False, answer.status)
    documents: list[tuple[bytes, str | None]] = []
    if answer.error is None and answer.status == 200:
        try:
            documents = _documents(runtime, feed, answer.body, config)
            result.ok = True
        except CapError as exc:
            answer.error = f"not a usable {feed.kind} document: {exc.message}"[:300]
    elif answer.error is None and answer.status == 304:
        result.ok = True
    elif answer.error is None:
        answer.error = f"HTTP {answer.status}"
    if result.ok:
        for data, url in _oldest_first(documents, result):
            _ingest(runtime, feed, data, url, result)
    with runtime.db.unit_of_work() as session:
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
    runtime: Any, feed: FeedDef, body: bytes, config: FeedsFile
) -> list[tuple[bytes, str | None]]:
    """(CAP document, its URL if fetched on its own) of a feed's answer."""
    if feed.kind == "cap":
        return [(body, feed.url)]
    root = parse_xml_safely(body)  # no DTDs, no entities
    if root.tag != ATOM + "feed":
        raise CapError("feed_not_atom", f"the root element is {root.tag!r}, not an Atom <feed>")
    out: list[tuple[bytes, str | None]] = []
    for entry in root.findall(ATOM + "entry")[:MAX_ENTRIES]:
        inline = next(
            (
                child
                for content in entry.findall(ATOM + "content")
                for child in content
                if child.tag == f"{{{CAP_NS}}}alert"
            ),
            None,
        )
        if inline is not None:
            out.append((etree.tostring(inline, xml_declaration=True, encoding="UTF-8"), None))
            continue
        link = next(
            (
                ln.get("href")
                for ln in entry.findall(ATOM + "link")
                if "cap" in (ln.get("type") or "") and ln.get("href")
            ),
            None,
        )
        if link and not _already_fetched(runtime, link):
            answer = fetch(link, timeout=config.timeout(feed), limit=DEFAULT_MAX_BYTES + 1)
            if answer.status == 200 and answer.error is None:
                out.append((answer.body, link))
            else:
                out.append((b"", f"{link} ({answer.error or f'HTTP {answer.status}'})"))
    return out


def _already_fetched(runtime: Any, url: str) -> bool:
    with runtime.db.session() as session:
        return (
            session.exec(select(CapReceived.id).where(CapReceived.source_url == url)).first()
            is not None
        )


def _oldest_first(documents, result: PollResult) -> list[tuple[bytes, str | None]]:
    """The documents in the order they were sent (Atom lists the newest first)."""
    dated = []
    for data, url in documents:
        if not data:
            result.errors.append(f"could not fetch {url}")
            continue
        try:
            dated.append((parse_cap(data).sent, data, url))
        except CapError as exc:
            result.errors.append(f"{exc.code}: {exc.message}"[:200])
    return [(data, url) for _, data, url in sorted(dated, key=lambda d: d[0])]


def _ingest(runtime: Any, feed: FeedDef, data: bytes, url: str | None, result: PollResult) -> None:
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
) -> dict:
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


def summary(session: Session, *, runtime: Any | None) -> list[dict]:
    """The situation's `feeds` section: each configured feed and whether it is stale."""
    if runtime is None:
        return []
    config = feeds_config(runtime)
    states = {s.feed_id: s for s in session.exec(select(FeedState))}
    now = utcnow()
    return [state_public(states.get(f.id), config, f, now=now) for f in config.feeds]
