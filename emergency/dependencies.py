"""Dependencies that hand out what the app built in its lifespan (no globals)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request


def get_catalogue(request: Request) -> Any:
    return request.app.state.catalogue


def get_settings(request: Request) -> Any:
    return request.app.state.settings


def get_runtime(request: Request) -> Any:
    return request.app.state.runtime


CatalogueDep = Annotated[Any, Depends(get_catalogue)]
SettingsDep = Annotated[Any, Depends(get_settings)]
RuntimeDep = Annotated[Any, Depends(get_runtime)]  # emergency.runtime.Runtime
