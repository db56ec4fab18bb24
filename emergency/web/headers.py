"""Security headers of the pages we serve: each page's Content-Security-Policy says what it may
load (nothing from another origin), and none of them may be framed by another site
(frame-ancestors, and X-Frame-Options for old browsers)."""

from __future__ import annotations

from starlette.responses import Response

# The field form: its own scripts, styles and service worker; photos as blob: previews.
FIELD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# A liaison contact's acknowledgement page: text and one form, nothing to load at all.
ACK_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# /docs: Swagger UI from /vendor/ (its start-up script is inline in FastAPI's page).
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def secure(response: Response, csp: str) -> Response:
    framing = "DENY" if "frame-ancestors 'none'" in csp else "SAMEORIGIN"
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Frame-Options"] = framing
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
