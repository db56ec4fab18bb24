"""Test data of the field-operation tests, in one place."""

from __future__ import annotations

import uuid
from io import BytesIO

from PIL import Image


def jpeg(width=800, height=600, color=(200, 80, 40), exif_gps=True) -> bytes:
    img = Image.new("RGB", (width, height), color)
    out = BytesIO()
    exif = Image.Exif()
    if exif_gps:
        exif[0x010F] = "PhoneMaker"  # Make
        exif[0x8825] = {1: "N", 2: (22.0, 8.0, 0.0), 3: "E", 4: (113.0, 32.0, 0.0)}  # GPS
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


def png(width=64, height=64) -> bytes:
    out = BytesIO()
    Image.new("RGBA", (width, height), (0, 128, 255, 128)).save(out, "PNG")
    return out.getvalue()


def key() -> str:
    return str(uuid.uuid4())


def group(
    api,
    name="Inspection group 1",
    members=("Chen", "Leong", "Wong"),
    vehicles=("粤C·12345",),
    zone_ids=("lianhua",),
):
    return api.ok(
        api.post(
            "/api/v1/inspection-groups",
            {
                "name": name,
                "leader": members[0],
                "members": list(members),
                "vehicles": list(vehicles),
                "zone_ids": list(zone_ids),
                "grid_cells": ["LH-01"],
            },
        ),
        201,
    )


def field_token(api, app, group_id=None, crew_id=None, label="Team phone") -> str:
    link = api.ok(
        api.post("/api/v1/field/links", {"label": label, "group_id": group_id, "crew_id": crew_id}),
        201,
    )
    assert link["url"].endswith("/field#token=" + link["token"])
    return link["token"]


def report(app, token, body, idem=None):
    return app.client.post(
        "/api/v1/field-reports",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": idem or key()},
    )


def upload(app, token, data, name="p.jpg", ctype="image/jpeg"):
    return app.client.post(
        "/api/v1/photos",
        files={"file": (name, data, ctype)},
        headers={"Authorization": f"Bearer {token}"},
    )
