"""The feed poller: CAP and Atom feeds of other warning services (SMG, Zhuhai) polled on a
schedule with conditional requests, timeouts and backoff; their alerts go through the same
ingest as POST /api/v1/cap; a feed that stops answering shows as stale."""
