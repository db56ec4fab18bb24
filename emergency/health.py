"""/healthz (alive), /readyz (database and Redis reachable, the photo directory writable),
/metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import hmac
import tempfile
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str] = Field(
        description="database, redis (when configured), photos: `ok` or what is wrong",
        examples=[{"database": "ok", "photos": "ok"}],
    )


@router.get("/healthz")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready: `checks` says why"}},
)
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(asyncio.to_thread(state.db.ping), timeout=5)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if state.settings.redis_url:
        try:
            await asyncio.wait_for(asyncio.to_thread(state.bus.ping), timeout=5)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unreachable: {type(exc).__name__}"
    try:
        await asyncio.wait_for(asyncio.to_thread(photos_writable, state.settings.data_dir), 5)
        checks["photos"] = "ok"
    except Exception as exc:
        checks["photos"] = f"not writable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    answer = Readiness(ready=ready, checks=checks)
    return JSONResponse(answer.model_dump(), status_code=200 if ready else 503)


def photos_writable(data_dir: Path) -> None:
    """Field photos go to TYPHOON_DATA_DIR/photos (a volume shared by the API replicas): a
    replica that cannot write there would refuse every photo, so it is not ready."""
    root = Path(data_dir) / "photos"
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=root, prefix=".ready-"):
        pass


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text. With TYPHOON_METRICS_TOKEN only for `Authorization: Bearer <it>`;
    without it, open unless TYPHOON_PUBLIC_DETAILS is false (then not there at all)."""
    settings = request.app.state.settings
    expected = settings.secret("metrics_token")
    if expected:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return JSONResponse(
                {"error": {"code": "not_authenticated", "message": "metrics need their token"}},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    elif not settings.public_details:
        return JSONResponse(
            {"error": {"code": "not_found", "message": "not found"}}, status_code=404
        )
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
