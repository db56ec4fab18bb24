"""A small Atom/CAP feed server on 127.0.0.1 for the poller tests: the real HTTP protocol
(ETag and If-None-Match, 304), entries with the CAP alert inline or behind a link, and it
can be stopped and started again on the same port."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.server import free_port


class FeedServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.feed = b""
        self.etag = '"empty"'
        self.documents: dict[str, bytes] = {}  # path -> CAP alert
        self.requests: list[tuple[str, int]] = []  # (path, status)
        self.raw: bytes | None = None  # serve this instead of the feed (a broken feed)
        self.document_etags = True  # linked documents carry an ETag (and answer 304)
        self._server: ThreadingHTTPServer | None = None

    # --- content ---------------------------------------------------------------------
    def publish(self, *, inline: list[bytes] = (), linked: dict[str, bytes] | None = None):
        """The feed now lists these alerts (newest first, as Atom feeds do)."""
        entries = []
        for n, alert in enumerate(inline):
            body = alert.split(b"?>", 1)[1] if alert.startswith(b"<?xml") else alert
            entries.append(
                f"<entry><id>urn:test:inline:{n}:{hashlib.sha1(alert).hexdigest()}</id>"
                "<title>alert</title><updated>2024-09-05T22:00:00+08:00</updated>"
                '<content type="application/cap+xml">'.encode()
                + body
                + b"</content></entry>"
            )
        for name, alert in (linked or {}).items():
            path = f"/alerts/{name}.xml"
            with self.lock:
                self.documents[path] = alert
            entries.append(
                f"<entry><id>urn:test:{name}</id><title>{name}</title>"
                "<updated>2024-09-05T22:00:00+08:00</updated>"
                f'<link rel="alternate" type="application/cap+xml" href="{self.base}{path}"/>'
                "</entry>".encode()
            )
        feed = (
            b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:test:feed</id>'
            b"<title>test feed</title><updated>2024-09-05T22:00:00+08:00</updated>"
            + b"".join(reversed(entries))
            + b"</feed>"
        )
        with self.lock:
            self.feed, self.etag = feed, f'"{hashlib.sha1(feed).hexdigest()[:16]}"'

    def publish_rss(self, linked: dict[str, bytes]) -> None:
        """The feed is now an RSS 2.0 channel (as SMG publishes its CAP index) whose items
        link to these CAP documents (newest first)."""
        items = []
        for name, alert in linked.items():
            path = f"/alerts/{name}.xml"
            with self.lock:
                self.documents[path] = alert
            items.append(
                f"<item><title>{name}</title><link>{self.base}{path}</link>"
                f"<guid>{self.base}{path}</guid></item>"
            )
        feed = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            "<title>test CAP index</title><link>http://example.org/</link>"
            "<description>test</description>" + "".join(reversed(items)) + "</channel></rss>"
        ).encode()
        with self.lock:
            self.feed, self.etag = feed, f'"{hashlib.sha1(feed).hexdigest()[:16]}"'

    def rewrite(self, name: str, alert: bytes) -> None:
        """The same URL, another document (an agency rewriting one URL per warning type)."""
        with self.lock:
            self.documents[f"/alerts/{name}.xml"] = alert

    def statuses(self, path="/feed.atom") -> list[int]:
        with self.lock:
            return [status for p, status in self.requests if p == path]

    # --- life cycle ------------------------------------------------------------------
    def start(self) -> FeedServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                with owner.lock:
                    if self.path == "/feed.atom":
                        if owner.raw is not None:
                            status, body, etag = 200, owner.raw, None
                        elif self.headers.get("If-None-Match") == owner.etag:
                            status, body, etag = 304, b"", owner.etag
                        else:
                            status, body, etag = 200, owner.feed, owner.etag
                    elif self.path in owner.documents:
                        body = owner.documents[self.path]
                        etag = None
                        if owner.document_etags:
                            etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
                        if etag and self.headers.get("If-None-Match") == etag:
                            status, body = 304, b""
                        else:
                            status = 200
                    else:
                        status, body, etag = 404, b"", None
                    owner.requests.append((self.path, status))
                self.send_response(status)
                if etag:
                    self.send_header("ETag", etag)
                if status == 200:
                    kind = (
                        "application/atom+xml"
                        if self.path == "/feed.atom"
                        else "application/cap+xml"
                    )
                    self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, daemon=True, name=f"feed-{self.port}"
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
