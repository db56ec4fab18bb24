"""The routers of the field-operation domains, listed once for emergency/app.py."""

from emergency.crews.router import router as crews_router
from emergency.evacuation.router import router as evacuation_router
from emergency.facilities.router import router as facilities_router
from emergency.field.router import router as field_router
from emergency.vulnerable.router import router as vulnerable_router
from emergency.web.field_router import router as field_pages_router

ROUTERS = (
    facilities_router,
    evacuation_router,
    crews_router,
    field_router,
    vulnerable_router,
    field_pages_router,
)
