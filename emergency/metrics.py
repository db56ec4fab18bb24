"""Prometheus metrics of the service (GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("typhoon_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "typhoon_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SHED = Counter(
    "typhoon_http_shed_total", "HTTP requests answered 503 at once: the process was at its limit"
)
REFUSED = Counter(
    "typhoon_http_refused_total",
    "HTTP requests refused before a handler: body_timeout (408), per_address (429)",
    ["reason"],
)
BODIES_ARRIVING = Gauge(
    "typhoon_http_bodies_arriving", "HTTP requests whose body is still arriving (not yet admitted)"
)
WS_REFUSED = Counter(
    "typhoon_ws_refused_total", "Live websockets refused: the token has as many open as allowed"
)
WS_CLIENTS = Gauge("typhoon_ws_clients", "Connected live-stream websocket clients")
WS_DROPPED = Counter("typhoon_ws_dropped_total", "Live clients closed for being too slow")
EVENTS_STREAMED = Counter(
    "typhoon_events_streamed_total", "Events fanned out to live clients", ["type"]
)
