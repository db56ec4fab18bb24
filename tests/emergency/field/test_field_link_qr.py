"""A team's phone opens the field form from a link or a QR code: the code, read back with a
real QR decoder, carries the same link, and its token works on the field endpoints."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from tests.emergency.field.factories import group
from tests.support.cli import typhoon

zxingcpp = pytest.importorskip("zxingcpp")


def decode(png: bytes) -> str:
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(found) == 1, f"{len(found)} codes found"
    return found[0].text


def token_of(url: str) -> str:
    return url.split("#token=", 1)[1]


def test_link_comes_with_a_qr_code_that_opens_the_form(api, app):
    g = group(api)
    link = api.ok(
        api.post("/api/v1/field/links", {"label": "Group 1 phone", "group_id": g["id"]}), 201
    )
    prefix = "data:image/png;base64,"
    assert link["qr_png"].startswith(prefix)
    assert decode(base64.b64decode(link["qr_png"][len(prefix) :])) == link["url"]
    # the token in the code is a field token: it opens the form's context, not operator routes
    bearer = {"Authorization": f"Bearer {token_of(link['url'])}"}
    context = app.client.get("/api/v1/field/context", headers=bearer)
    assert context.status_code == 200, context.text
    assert app.client.post("/api/v1/inspection-groups", headers=bearer, json={}).status_code == 403
    # the form page the link points at is served
    assert app.client.get("/field").status_code == 200


def test_cli_prints_the_link_and_writes_a_printable_qr(database_url, tmp_path):
    from emergency.auth import service as auth_service
    from emergency.db import Database

    env = {"TYPHOON_DATABASE_URL": database_url, "TYPHOON_PUBLIC_URL": "https://hq.example.mo"}
    png = tmp_path / "group17.png"
    out = typhoon("field", "link", "Inspection group 17", "--qr", str(png), env=env)
    assert out.returncode == 0, out.stderr
    url = out.stdout.strip().splitlines()[-1]
    assert url.startswith("https://hq.example.mo/field#token=")
    assert "█" in out.stdout or "▀" in out.stdout  # the code drawn in the terminal
    assert decode(png.read_bytes()) == url
    db = Database(database_url)
    try:
        with db.session() as session:
            user = auth_service.user_for_token(session, token_of(url))
            assert user.role == "field"
    finally:
        db.dispose()


@pytest.mark.one_db  # argument checks of the CLI
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["field", "link", "x", "--group", "999"], "999"),
        (["field", "link", "   "], "LABEL"),
        (["field", "link", "x", "--qr", "/no/such/dir/q.png"], "does not exist"),
    ],
)
def test_cli_bad_input_is_named_and_creates_nobody(database_url, args, says):
    from sqlmodel import func, select

    from emergency.auth.models import User
    from emergency.db import Database

    db = Database(database_url)
    with db.session() as session:
        before = session.exec(select(func.count()).select_from(User)).one()
    out = typhoon(*args, env={"TYPHOON_DATABASE_URL": database_url})
    assert out.returncode == 2 and says in out.stderr, (out.stdout, out.stderr)
    with db.session() as session:
        assert session.exec(select(func.count()).select_from(User)).one() == before
    db.dispose()


def test_links_are_listed_without_tokens_and_a_revoked_one_stops_at_once(api, app):
    g = group(api)
    link = api.ok(
        api.post("/api/v1/field/links", {"label": "Lost phone", "group_id": g["id"]}), 201
    )
    bearer = {"Authorization": f"Bearer {token_of(link['url'])}"}
    assert app.client.get("/api/v1/field/context", headers=bearer).status_code == 200
    [listed] = api.ok(api.get("/api/v1/field/links", role="operator"))
    assert listed["label"] == "Lost phone" and listed["active"] and listed["group_id"] == g["id"]
    assert "token" not in listed
    assert api.get("/api/v1/field/links", role="viewer").status_code == 403
    revoked = api.ok(api.post(f"/api/v1/field/links/{listed['user_id']}/revoke"))
    assert revoked["active"] is False
    assert app.client.get("/api/v1/field/context", headers=bearer).status_code == 401
    assert api.ok(api.post(f"/api/v1/field/links/{listed['user_id']}/revoke")) == revoked
    assert api.post("/api/v1/field/links/99999/revoke").status_code == 404
