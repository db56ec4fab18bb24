"""A process at its limit of requests in progress answers the next one 503 with Retry-After
at once (TYPHOON_MAX_REQUESTS_IN_PROGRESS); the request it was working on still completes, the
health probes still answer, and the shed request's retry is stored."""

from __future__ import annotations

import threading
import uuid

import httpx
from sqlalchemy import create_engine, text

from emergency.middleware import AdmissionMiddleware
from tests.support import server
from tests.support.waits import wait_for

HAZARD = {
    "kind": "hazard",
    "hazard_kind": "flooding",
    "severity": "high",
    "lat": 22.14,
    "lon": 113.54,
}


def _hold_the_audit_chain(url: str):
    """An open transaction holding the audit counter row: every write waits at its commit."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url)
    conn = engine.connect()
    conn.execute(text("UPDATE sequence_counter SET value = value WHERE name = 'audit'"))
    return engine, conn


def _admission(app) -> AdmissionMiddleware:
    layer = app.app.middleware_stack
    while not isinstance(layer, AdmissionMiddleware):
        layer = layer.app
    return layer


def _shed(app) -> float:
    for line in app.client.get("/metrics").text.splitlines():
        if line.startswith("typhoon_http_shed_total "):
            return float(line.split()[1])
    raise AssertionError("no typhoon_http_shed_total in /metrics")


def test_the_request_past_the_limit_is_shed_at_once(database_url, settings_for, tmp_path):
    settings = settings_for(
        database_url, TYPHOON_DATA_DIR=str(tmp_path / "data"), TYPHOON_MAX_REQUESTS_IN_PROGRESS=1
    )
    with server.run(settings) as app:
        headers = app.auth("field")
        shed_before = _shed(app)
        engine, holder = _hold_the_audit_chain(database_url)
        answers: dict[str, httpx.Response] = {}

        def slow() -> None:
            answers["slow"] = httpx.post(
                f"{app.url}/api/v1/field-reports",
                json=HAZARD,
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                timeout=60,
            )

        first = threading.Thread(target=slow)
        try:
            first.start()
            # the first report is now in progress, waiting for the audit chain
            wait_for(lambda: _admission(app).in_progress == 1, what="the first report")
            key = uuid.uuid4().hex
            shed = app.client.post(
                "/api/v1/field-reports", json=HAZARD, headers={**headers, "Idempotency-Key": key}
            )
            # At once: answered while the first still waits for the chain (held until below).
            in_progress_at_shed = _admission(app).in_progress
            probe = app.client.get("/healthz")
        finally:
            holder.rollback()
            holder.close()
            engine.dispose()
        first.join(60)
        assert shed.status_code == 503, shed.text
        assert shed.headers["Retry-After"] == "1"
        assert shed.json()["error"]["code"] == "busy"
        assert in_progress_at_shed == 1, "shed only after the first report was done"
        assert probe.status_code == 200
        assert answers["slow"].status_code == 201, answers["slow"].text

        retried = app.client.post(
            "/api/v1/field-reports", json=HAZARD, headers={**headers, "Idempotency-Key": key}
        )
        assert retried.status_code == 201, retried.text
        listed = app.client.get("/api/v1/field-reports", headers=app.auth("operator")).json()
        assert len(listed) == 2
        assert _shed(app) == shed_before + 1
