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

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from emergency import __version__

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
NODE_MODULES = HERE / "node_modules"
# URL prefix under /vendor/ → the folder of an npm package that is served.
VENDOR = {"leaflet": "leaflet/dist"}
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


def catalogue_for_screens(catalogue) -> list[dict[str, Any]]:
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
def index(request: Request):
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
    }
    response = templates.TemplateResponse(
        request,
        "dashboard.html",
        {
            "version": __version__,
            "boot": boot,
            "vendor": vendor,
            "database": state.db.engine.dialect.name,
            "bus": "Redis pub/sub" if settings.redis_url else "in-process",
            "mode": state.mode,
            "sms": "Twilio"
            if settings.twilio_enabled
            else "console (no credentials: nothing is sent)",
            "demo_tokens": state.demo_tokens,
        },
    )
    response.headers["Content-Security-Policy"] = _csp(settings.map_tile_url, request.url.netloc)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
