"""Dependencies that hand out what the app built in its lifespan (no globals).

`async def`, though nothing here awaits: FastAPI runs a plain `def` dependency in its thread
pool, one hand-over per dependency per request, which is wasted on reading an attribute."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from emergency.catalogue import Catalogue
from emergency.runtime import Runtime
from emergency.settings import Settings


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_catalogue(request: Request) -> Catalogue:
    catalogue: Catalogue = request.app.state.catalogue
    return catalogue


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
