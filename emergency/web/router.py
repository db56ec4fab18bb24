"""The command-center dashboard at / and the front-end libraries it uses.

The page is plain HTML with ES modules under /static/dashboard/ (no build step). Libraries
come from the npm registry through `make install` (`npm ci` in emergency/web/, pinned by
package-lock.json) and are served from node_modules under /vendor/; nothing is loaded from a
CDN, and the page's Content-Security-Policy allows no other origin (save the optional tile
server of TYPHOON_MAP_TILE_URL). Without node_modules the app still starts and the page says
what is missing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from alerts.templates import EXERCISE_MARK
from emergency import __version__
from emergency.catalogue import Catalogue
from emergency.demo import DEMO_PASSWORD
from emergency.web.headers import DOCS_CSP, secure

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
NODE_MODULES = HERE / "node_modules"
# URL prefix under /vendor/ → the folder of an npm package that is served.
VENDOR = {
    "leaflet": "leaflet/dist",
    "markercluster": "leaflet.markercluster/dist",
    "swagger-ui": "swagger-ui-dist",
}
LANGUAGES = ("zh-Hans", "zh-Hant", "pt", "en")

templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


def mount_vendor(app: FastAPI) -> None:
    """Serve each installed library under /vendor/<name>/; record which ones are missing."""
    installed: dict[str, bool] = {}
    for name, folder in VENDOR.items():
        path = NODE_MODULES / folder
        installed[name] = path.is_dir()
        if installed[name]:
            app.mount(f"/vendor/{name}", StaticFiles(directory=path), name=f"vendor-{name}")
        else:
            log.warning(
                "front-end library missing: %s (run `make install`, or `npm ci` in emergency/web)",
                name,
            )
    app.state.vendor = installed


def catalogue_for_screens(catalogue: Catalogue) -> list[dict[str, Any]]:
    """Sources, kinds and levels with their names, short names and colours (no aliases)."""
    return [
        {
            "id": source.id,
            "names": dict(source.names),
            "kinds": [
                {
                    "id": kind.id,
                    "names": dict(kind.names),
                    "levels": [
                        {
                            "id": level.id,
                            "rank": level.rank,
                            "names": dict(level.names),
                            "short": dict(level.short or level.names),
                            "color": level.color,
                            "meaning": dict(level.meaning),
                        }
                        for level in kind.levels
                    ],
                }
                for kind in source.kinds
            ],
        }
        for source in catalogue.sources()
    ]


def _csp(tile_url: str | None, host: str) -> str:
    img = "'self' data: blob:"
    if tile_url and tile_url.startswith(("http://", "https://")):
        parts = urlsplit(tile_url.replace("{s}", "a"))
        host = parts.netloc
        if "{s}" in tile_url:  # subdomains a, b, c of the same server
            host = urlsplit(tile_url.replace("{s}", "*")).netloc
        img += f" {parts.scheme}://{host}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src {img}; connect-src 'self' ws://{host} wss://{host}; font-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'self'; form-action 'self'"
    )


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> Response:
    state = request.app.state
    settings = state.settings
    vendor = getattr(state, "vendor", {})
    boot = {
        "version": __version__,
        "languages": list(LANGUAGES),
        "catalogue": catalogue_for_screens(state.catalogue),
        "map": {
            "tile_url": settings.map_tile_url,
            "tile_attribution": settings.map_tile_attribution,
        },
        "vendor": vendor,
        "ping_seconds": settings.ws_ping_seconds,
        "approval_threshold": settings.approval_threshold,
        "sms_rate": settings.sms_rate,
        "demo": bool(state.mode.get("demo")),
        "replay": state.mode.get("replay"),  # a storm replayed as an exercise (demo)
        # what the server puts in front of a drill's text (the composer counts it too)
        "exercise_marks": dict(EXERCISE_MARK),
    }
    response = templates.TemplateResponse(
        request,
        "dashboard.html",
        {
            "version": __version__,
            "boot": boot,
            "vendor": vendor,
            "database": state.db.engine.dialect.name,
            # the page words these in the screen's language (data-i18n)
            "redis": bool(settings.redis_url),
            "mode": state.mode,
            "twilio": settings.twilio_enabled,
            "demo_tokens": state.demo_tokens,
            "demo_password": DEMO_PASSWORD if state.demo_tokens else "",
            # TYPHOON_PUBLIC_DETAILS=false: the page does not say what runs behind it
            "details": settings.public_details,
        },
    )
    response.headers["Content-Security-Policy"] = _csp(settings.map_tile_url, request.url.netloc)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/set-password", response_class=HTMLResponse)
def set_password_page(request: Request) -> Response:
    """The page of the one-time link from `typhoon user add` (the token stays in the fragment)."""
    response = templates.TemplateResponse(request, "set_password.html", {"version": __version__})
    response.headers["Content-Security-Policy"] = _csp(None, request.url.netloc)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> Response:
    """The API's interactive documentation: Swagger UI served from here (/vendor/swagger-ui/,
    npm package swagger-ui-dist), never from a CDN; none with TYPHOON_PUBLIC_DETAILS=false."""
    if request.app.openapi_url is None:
        raise StarletteHTTPException(404, "Not Found")
    if not getattr(request.app.state, "vendor", {}).get("swagger-ui"):
        return HTMLResponse(
            "Swagger UI is not installed here (make install, or npm ci in emergency/web); "
            "the API is described at /openapi.json",
            status_code=503,
        )
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} — API",
        swagger_js_url="/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url="/vendor/swagger-ui/favicon-32x32.png",
    )
    return secure(page, DOCS_CSP)
