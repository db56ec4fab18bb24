"""The field web form at /field (phones first, works offline) and its service worker.

The service worker is served from here, not /static, so that its scope may be `/field`
(header Service-Worker-Allowed); the token travels in the URL fragment (`/field#token=…`),
which browsers never send to a server.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

from emergency import __version__
from emergency.web.headers import FIELD_CSP, secure

HERE = Path(__file__).parent
STATIC = HERE / "static" / "field"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


@router.get("/field", response_class=HTMLResponse)
def field_form(request: Request) -> Response:
    response = templates.TemplateResponse(request, "field.html", {"version": __version__})
    response.headers["Cache-Control"] = "no-cache"
    return secure(response, FIELD_CSP)


@router.get("/field/sw.js")
def service_worker() -> FileResponse:
    return FileResponse(
        STATIC / "sw.js",
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/field", "Cache-Control": "no-cache"},
    )
