"""Dependencies that hand out what the app built in its lifespan (no globals).

`async def`, though nothing here awaits: FastAPI runs a plain `def` dependency in its thread
pool, one hand-over per dependency per request, which is wasted on reading an attribute."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request


async def get_catalogue(request: Request) -> Any:
    return request.app.state.catalogue


async def get_settings(request: Request) -> Any:
    return request.app.state.settings


async def get_runtime(request: Request) -> Any:
    return request.app.state.runtime


CatalogueDep = Annotated[Any, Depends(get_catalogue)]
SettingsDep = Annotated[Any, Depends(get_settings)]
RuntimeDep = Annotated[Any, Depends(get_runtime)]  # emergency.runtime.Runtime
