"""The dashboard page and the small APIs it stands on, over plain HTTP (no browser): the page,
its Content-Security-Policy, the vendored library (and what happens without it), GET
/api/v1/me and GET /api/v1/zones, and the optional tile layer setting."""

from __future__ import annotations

import json
import re

import pytest

from emergency.settings import SettingsError, load_settings
from emergency.web import router as web_router
from tests.support import server


def boot_of(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="boot">(.*?)</script>', html, re.S)
    assert match, "no boot data in the page"
    return json.loads(match.group(1))


@pytest.mark.one_db  # a page and its assets
def test_page_serves_the_dashboard_from_this_server_only(app_server):
    response = app_server.client.get("/")
    assert response.status_code == 200
    html = response.text
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    # every script and stylesheet is ours: no other origin anywhere in the page (a "#…" link
    # is a place in this page)
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith(("/", "data:", "#")), url
    boot = boot_of(html)
    assert boot["map"]["tile_url"] is None
    assert boot["vendor"] == {"leaflet": True, "markercluster": True, "swagger-ui": True}
    smg = next(s for s in boot["catalogue"] if s["id"] == "SMG")
    tc = next(k for k in smg["kinds"] if k["id"] == "tropical_cyclone")
    assert [lv["id"] for lv in tc["levels"]][:3] == ["1", "3", "8NE"]
    assert tc["levels"][2]["short"]["zh-Hant"] == "八號東北風球"
    leaflet = app_server.client.get("/vendor/leaflet/leaflet.js")
    assert leaflet.status_code == 200 and "Leaflet" in leaflet.text[:400]
    for path in (
        "/static/dashboard/main.js",
        "/static/dashboard/dashboard.css",
        "/vendor/leaflet/leaflet.css",
    ):
        assert app_server.client.get(path).status_code == 200, path


def test_without_node_modules_the_app_starts_and_says_so(
    database_url, settings_for, monkeypatch, tmp_path
):
    if not database_url.startswith("sqlite"):
        pytest.skip("one backend is enough")
    monkeypatch.setattr(web_router, "NODE_MODULES", tmp_path / "missing")
    with server.run(settings_for(database_url)) as app:
        html = app.client.get("/").text
        assert "Leaflet is not installed" in html and "make install" in html
        assert boot_of(html)["vendor"] == {
            "leaflet": False,
            "markercluster": False,
            "swagger-ui": False,
        }
        assert app.client.get("/vendor/leaflet/leaflet.js").status_code == 404
        assert app.client.get("/healthz").status_code == 200


@pytest.mark.one_db  # a page
def test_demo_tokens_are_listed_in_demo_mode_only(app_server):
    assert "Demo tokens" not in app_server.client.get("/").text


@pytest.mark.one_db  # role permissions, no SQL beyond the token
@pytest.mark.parametrize(
    "role, can, cannot",
    [
        (
            "operator",
            {"raise_signal", "draft_broadcast", "cancel_broadcast", "liaison"},
            {"approve_broadcast"},
        ),
        (
            "approver",
            {"approve_broadcast", "cancel_broadcast"},
            {"raise_signal", "draft_broadcast"},
        ),
        ("viewer", set(), {"raise_signal", "draft_broadcast", "approve_broadcast", "liaison"}),
        ("admin", {"raise_signal", "draft_broadcast", "approve_broadcast"}, set()),
    ],
)
def test_me_says_who_and_what_the_role_may_do(app_server, role, can, cannot):
    body = app_server.client.get("/api/v1/me", headers=app_server.auth(role)).json()
    assert body["role"] == role and body["name"].startswith(role)
    assert {a for a, ok in body["can"].items() if ok} >= can
    assert not {a for a, ok in body["can"].items() if ok} & cannot


@pytest.mark.one_db  # the token check
def test_me_refuses_a_bad_token(app_server):
    response = app_server.client.get("/api/v1/me", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


@pytest.mark.one_db  # config/zones as GeoJSON, no SQL
def test_zones_as_geojson(app_server):
    assert app_server.client.get("/api/v1/zones").status_code == 401
    fc = app_server.client.get("/api/v1/zones", headers=app_server.auth("viewer")).json()
    assert fc["type"] == "FeatureCollection" and fc["properties"]["approximate"] is True
    by_id = {f["id"]: f for f in fc["features"]}
    assert by_id["lianhua"]["properties"]["kind"] == "community"
    assert by_id["lianhua"]["properties"]["layer"] == "communities"
    assert by_id["lianhua"]["properties"]["name"]["zh-Hant"] == "蓮花社區"
    assert by_id["lianhua"]["geometry"]["type"] == "Polygon"
    assert by_id["lianhua_sports_hall"]["geometry"]["type"] == "Point"
    assert {f["properties"]["layer"] for f in fc["features"]} == {
        "areas",
        "communities",
        "shelter_catchments",
        "shelters",
    }


def test_tile_layer_setting(database_url, settings_for):
    if not database_url.startswith("sqlite"):
        pytest.skip("one backend is enough")
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    with server.run(
        settings_for(
            database_url,
            TYPHOON_MAP_TILE_URL=url,
            TYPHOON_MAP_TILE_ATTRIBUTION="© the command post",
        )
    ) as app:
        response = app.client.get("/")
        assert boot_of(response.text)["map"] == {
            "tile_url": url,
            "tile_attribution": "© the command post",
        }
        assert (
            "img-src 'self' data: blob: https://tiles.example.org"
            in response.headers["content-security-policy"]
        )


@pytest.mark.parametrize("value", ["tiles.example.org/{z}/{x}/{y}", "https://x.org/tiles.png"])
def test_bad_tile_url_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("TYPHOON_MAP_TILE_URL", value)
    with pytest.raises(SettingsError, match="TYPHOON_MAP_TILE_URL"):
        load_settings()
