"""Photos: checked by content (not by name or declared type), size-limited, EXIF removed,
stored once by content hash, served to readers; refused uploads store nothing."""

from __future__ import annotations

from io import BytesIO

import pytest
from PIL import Image

from emergency.field import photos
from tests.emergency.field.conftest import LIANHUA
from tests.emergency.field.factories import field_token, group, jpeg, png, report, upload


@pytest.fixture
def token(api, app):
    return field_token(api, app, group_id=group(api)["id"])


def stored_files(app):
    root = app.app.state.settings.data_dir / "photos"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_upload_strips_exif_and_dedupes(api, app, token):
    data = jpeg()
    assert Image.open(BytesIO(data)).getexif()  # the original carries GPS and the maker
    r = upload(app, token, data)
    assert r.status_code == 201, r.text
    photo = r.json()
    assert photo["content_type"] == "image/jpeg" and (photo["width"], photo["height"]) == (800, 600)
    again = upload(app, token, data, name="other-name.jpg")
    assert again.status_code == 200 and again.json()["id"] == photo["id"]
    assert len(stored_files(app)) == 1
    served = app.client.get(photo["url"], headers=app.auth("operator"))
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert not Image.open(BytesIO(served.content)).getexif()
    assert app.client.get(photo["url"]).status_code == 401
    # a viewer's screen may not read it (#14 item 8: a photo may show a resident)
    assert app.client.get(photo["url"], headers=app.auth("viewer")).status_code == 403
    hz = report(
        app,
        token,
        {
            "kind": "hazard",
            "hazard_kind": "fallen_tree",
            "severity": "high",
            "lat": LIANHUA[0],
            "lon": LIANHUA[1],
            "photo_id": photo["id"],
        },
    )
    assert hz.status_code == 201
    assert api.ok(api.get("/api/v1/hazards"))[0]["photo_id"] == photo["id"]


@pytest.mark.one_db  # image processing
def test_png_and_large_images_are_kept_small(app, token):
    assert upload(app, token, png(), "x.png", "image/png").json()["content_type"] == "image/png"
    big = upload(app, token, jpeg(4000, 3000, exif_gps=False)).json()
    assert max(big["width"], big["height"]) == photos.MAX_SIDE


@pytest.mark.one_db  # refused by validation before any SQL
@pytest.mark.parametrize(
    "label,data,name,ctype,status",
    [
        ("text named jpg", b"not an image at all" * 10, "photo.jpg", "image/jpeg", 415),
        ("html", b"<html><script>alert(1)</script></html>", "x.jpg", "image/jpeg", 415),
        ("gif", None, "x.gif", "image/gif", 415),
        ("truncated jpeg", "truncated", "x.jpg", "image/jpeg", 415),
        ("oversized", b"\xff\xd8\xff" + b"0" * (photos.MAX_BYTES + 10), "x.jpg", "image/jpeg", 413),
        ("empty", b"", "x.jpg", "image/jpeg", 422),
    ],
)
def test_bad_uploads_are_refused_and_not_stored(app, token, label, data, name, ctype, status):
    if data is None:
        out = BytesIO()
        Image.new("RGB", (10, 10)).save(out, "GIF")
        data = out.getvalue()
    elif data == "truncated":
        data = jpeg()[:400]
    r = upload(app, token, data, name, ctype)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"]
    assert stored_files(app) == []


@pytest.mark.one_db  # refused while decoding, before any SQL
def test_decompression_bomb_is_refused(app, token):
    out = BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, "PNG")  # small file, 100 Mpx
    r = upload(app, token, out.getvalue(), "bomb.png", "image/png")
    assert r.status_code == 413 and stored_files(app) == []


@pytest.mark.one_db  # a role check
def test_viewer_cannot_upload(app):
    assert upload(app, app.token("viewer"), jpeg()).status_code == 403
