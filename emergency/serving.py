"""How uvicorn serves the app: the options `typhoon serve` (and the tests' servers) give it,
in one place, so that what the app trusts and what the server trusts are the same list.

X-Forwarded-For / X-Forwarded-Proto are believed only from TYPHOON_TRUSTED_PROXIES (none by
default): otherwise any client, a local one included, could choose the address its rate
limits and per-address caps are counted under.
"""

from __future__ import annotations

from typing import Any

from emergency.settings import Settings

# How long an idle client connection stays open. Longer than the reverse proxy keeps its idle
# upstream connections (Caddy: 2 min): with uvicorn's default 5 s the server closed them while
# the proxy could still send an operator's POST on one, which the proxy answers 502 without
# retrying a POST. The tests' clients reuse their connection across seconds-long steps too.
KEEP_ALIVE_SECONDS = 150


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    proxies = settings.trusted_proxies
    return {
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": ",".join(proxies) if proxies else "",
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
    }


def served_settings(settings: Settings, host: str, port: int) -> Settings:
    """The settings `typhoon serve --host H --port P` runs with. Without TYPHOON_PUBLIC_URL
    the links the service makes (field links and their QR codes, liaison acknowledgement
    links, password links) point at the address it serves, not at the default port 8000 where
    nothing may be listening."""
    if "public_url" in settings.model_fields_set:
        return settings
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{local}]" if ":" in local else local
    return settings.model_copy(update={"public_url": f"http://{shown}:{port}"})
