"""Dependencies of the field-operation routes: the zone set loaded at start-up."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request


def get_zones(request: Request) -> Any:
    return getattr(request.app.state, "zones", None)


ZonesDep = Annotated[Any, Depends(get_zones)]
