"""The app factory: builds the Runtime, the live hub and the routes from settings.

Nothing connects at import time; everything is made in the lifespan (the Runtime, then the
shared start-up of `emergency.startup`) and reaches handlers through `app.state.runtime` and
dependencies. The same code runs embedded (SQLite, in-process bus) and scaled (PostgreSQL,
Redis); the choice is made once, in the Runtime, from settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from emergency import __version__
from emergency.catalogue import load_catalogue
from emergency.exceptions import install_error_handlers
from emergency.live.hub import LiveHub
from emergency.middleware import AdmissionMiddleware, RequestContextMiddleware
from emergency.runtime import Runtime
from emergency.scheduler import Scheduler
from emergency.settings import Settings, load_settings
from emergency.startup import startup

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    demo: bool = False,
    embedded_worker: bool = True,
    embedded_scheduler: bool = True,
) -> FastAPI:
    settings = settings or load_settings()
    catalogue = load_catalogue(settings.config_dir / "signals.yaml")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.build(settings, catalogue=catalogue, role="api")
        db, bus = runtime.db, runtime.bus
        hub = LiveHub(
            db,
            queue_size=settings.ws_queue_size,
            ping_seconds=settings.ws_ping_seconds,
            per_token=settings.ws_per_token,
        )
        bus.subscribe(hub.on_bus_message)
        db.committed_listeners.append(hub.committed)
        # Without the embedded scheduler this process still adds timed jobs to the store.
        scheduler = Scheduler(runtime, run_jobs=embedded_scheduler)
        runtime.scheduler = scheduler
        app.state.runtime, app.state.db, app.state.bus, app.state.hub = runtime, db, bus, hub
        app.state.scheduler = scheduler
        app.state.field_report_threads = anyio.CapacityLimiter(settings.field_report_threads)
        app.state.demo_tokens = {}
        await bus.start(asyncio.get_running_loop())
        await hub.start()
        await asyncio.to_thread(scheduler.start)
        app.state.dispatcher = None
        if embedded_worker:  # the dispatch worker (emergency.dispatch), in this process
            from emergency.dispatch.service import DispatchHost

            app.state.dispatcher = DispatchHost(runtime)
            await app.state.dispatcher.start()

        def load_demo(runtime: Runtime) -> None:
            from emergency import demo as demo_data

            app.state.demo_tokens = demo_data.load(runtime)

        try:  # a bad config file stops the start: what is started above is stopped again
            await asyncio.to_thread(startup, runtime, demo=load_demo if demo else None)
            log.info(
                "serving", extra={"database": db.engine.dialect.name, "bus": type(bus).__name__}
            )
            yield
        finally:
            if app.state.dispatcher is not None:
                await app.state.dispatcher.stop()
            await asyncio.to_thread(scheduler.stop)
            await hub.stop()
            await bus.stop()
            runtime.close()

    # TYPHOON_PUBLIC_DETAILS=false (production): no /docs or /openapi.json (they map
    # every route for anyone), and / names no database, bus or SMS mode.
    public = settings.public_details
    app = FastAPI(
        title="Hengqin typhoon coordination and alert dispatch",
        version=__version__,
        lifespan=lifespan,
        description="Warning signals shared with Macau, field operations, mass alerts, live status.",
        # /docs is served by emergency.web.router with Swagger UI from this server (FastAPI's
        # own and /redoc load theirs from a CDN), only when /openapi.json is served
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if public else None,
        # FastAPI's own OpenTelemetry bridge asks on every request whether a provider is set
        # (three look-ups; ~3 % of a field report's CPU, issue 18); this service exports no
        # traces (its metrics are /metrics): off.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.catalogue = catalogue
    app.state.mode = {"demo": demo, "worker": embedded_worker, "scheduler": embedded_scheduler}
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    # Added last, so it runs first: a shed request costs no more than its 503.
    app.add_middleware(
        AdmissionMiddleware,
        limit=settings.max_requests_in_progress,
        per_address=settings.max_requests_per_address,
        body_timeout=settings.body_timeout,
    )

    from emergency.alarms.router import router as alarms_router
    from emergency.auth.router import router as auth_router
    from emergency.auth.sessions.router import router as sessions_router
    from emergency.cap.router import router as cap_router
    from emergency.crews.router import router as crews_router
    from emergency.evacuation.router import router as evacuation_router
    from emergency.facilities.router import router as facilities_router
    from emergency.feeds.router import router as feeds_router
    from emergency.field.router import router as field_router
    from emergency.health import router as health_router
    from emergency.liaison.router import router as liaison_router
    from emergency.live.router import router as live_router
    from emergency.rules.router import router as rules_router
    from emergency.signals.router import router as signals_router
    from emergency.situation.router import router as situation_router
    from emergency.vulnerable.router import router as vulnerable_router
    from emergency.web.field_router import router as field_pages_router
    from emergency.web.router import mount_vendor
    from emergency.web.router import router as web_router
    from emergency.zones.router import router as zones_router

    # Routes are matched one after the other, at a cost each (issue 18): the field router,
    # whose report endpoint is the busiest write, comes first. No path of it can match
    # another router's route, so the order changes no answer.
    for router in (
        field_router,
        health_router,
        auth_router,
        sessions_router,
        signals_router,
        situation_router,
        zones_router,
        live_router,
        web_router,
        facilities_router,  # field operations: facilities, evacuation, crews, field, …
        evacuation_router,
        crews_router,
        vulnerable_router,
        field_pages_router,
        cap_router,
        rules_router,
        feeds_router,
        liaison_router,
        alarms_router,
    ):
        app.include_router(router)
    from emergency.broadcasts.router import router as broadcasts_router
    from emergency.privacy.router import router as privacy_router
    from emergency.subscribers.router import router as subscribers_router
    from emergency.webhooks.router import router as webhooks_router

    for router in (  # mass alerts, and the residents' data they hold
        broadcasts_router,
        subscribers_router,
        privacy_router,
        webhooks_router,
    ):
        app.include_router(router)
    app.mount(
        "/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static"
    )
    mount_vendor(app)  # front-end libraries from emergency/web/node_modules (npm ci)
    from emergency import openapi

    openapi.install(app)  # our error body, 401 and 403 in /openapi.json
    return app
