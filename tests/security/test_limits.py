"""Size and rate limits of the endpoints that take uploads or are open to the outside:
oversized bodies are a 413 and store nothing; the field phones' writes and the webhooks' refused
calls are rate-limited (429 with Retry-After) and a refused call stores nothing.

Elsewhere (see test_coverage_map.py): photos over 5 MB and CAP over 256 kB (413, nothing
stored), the push subscriptions' rate limit."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.emergency.broadcasts.conftest import PUBLIC_URL, TWILIO_SID, TWILIO_TOKEN
from tests.emergency.broadcasts.test_webhooks import INBOUND, STATUS, signed
from tests.emergency.field.conftest import LIANHUA, Api
from tests.emergency.field.factories import field_token, group, jpeg, report, upload
from tests.support import server

HAZARD = {
    "kind": "hazard",
    "hazard_kind": "fallen_tree",
    "severity": "high",
    "lat": LIANHUA[0],
    "lon": LIANHUA[1],
}


def count(app, table: str) -> int:
    with app.db.session() as session:
        return session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


@pytest.fixture
def limited(database_url, settings_for, tmp_path):
    """The app with small limits (and Twilio credentials, so webhooks can be signed)."""

    def start(**overrides):
        settings = settings_for(
            database_url,
            TYPHOON_DATA_DIR=str(tmp_path / "data"),
            TWILIO_ACCOUNT_SID=TWILIO_SID,
            TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
            TWILIO_FROM_NUMBER="+15005550006",
            TYPHOON_PUBLIC_URL=PUBLIC_URL,
            **overrides,
        )
        return server.run(settings, embedded_worker=False)

    return start


def test_defaults_are_on():
    from emergency.settings import Settings

    settings = Settings(TYPHOON_DATABASE_URL="sqlite:///x.db")
    assert settings.field_rate_limit == 120 and settings.webhook_refusal_limit == 30


# --- sizes -----------------------------------------------------------------------------------


@pytest.mark.one_db  # refused before the body is read
def test_json_body_over_the_request_ceiling_is_413_and_stores_nothing(limited):
    with limited() as app:
        token = field_token(Api(app), app, group_id=group(Api(app))["id"])
        big = {**HAZARD, "note": "x" * (13 * 1024 * 1024)}  # over the 12 MB ceiling
        r = report(app, token, big)
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        assert count(app, "field_report") == 0 and count(app, "hazard") == 0


@pytest.mark.one_db  # refused before the body is read
def test_webhook_form_over_64_kb_is_413_and_changes_nothing(limited):
    with limited() as app:
        before = count(app, "audit_entry")
        r = signed(app, INBOUND, {"From": "+85366000001", "Body": "STOP", "Pad": "x" * 70_000})
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        assert count(app, "audit_entry") == before and count(app, "subscriber") == 0


# --- rates -----------------------------------------------------------------------------------


@pytest.mark.one_db  # an in-process limiter
def test_field_reports_and_photos_are_rate_limited_per_user(limited):
    with limited(TYPHOON_FIELD_RATE_LIMIT="4") as app:
        api = Api(app)
        gid = group(api)["id"]
        phone, other = field_token(api, app, group_id=gid), field_token(api, app, group_id=gid)
        assert [report(app, phone, HAZARD).status_code for _ in range(3)] == [201] * 3
        assert upload(app, phone, jpeg()).status_code == 201  # photos share the allowance
        refused = report(app, phone, HAZARD)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert upload(app, phone, jpeg(exif_gps=False)).status_code == 429
        assert count(app, "field_report") == 3 and count(app, "photo") == 1
        assert report(app, other, HAZARD).status_code == 201  # another phone: its own allowance
        # a refused role never reaches the limit (403, not 429), and uses nobody's allowance
        assert report(app, app.token("viewer"), HAZARD).status_code == 403


@pytest.mark.one_db  # an in-process limiter, refused before SQL
def test_refused_webhook_calls_are_rate_limited_per_address(limited):
    with limited(TYPHOON_WEBHOOK_REFUSAL_LIMIT="3") as app:
        params = {"From": "+85366000001", "Body": "STOP"}
        answers = [
            app.client.post(INBOUND, data=params).status_code,
            signed(app, INBOUND, params, token="not-the-token").status_code,
            app.client.post(
                STATUS, data={"MessageSid": "SMx", "MessageStatus": "sent"}
            ).status_code,
        ]
        assert answers == [403, 403, 403]
        after = app.client.post(INBOUND, data=params)
        assert after.status_code == 429 and "Retry-After" in after.headers
        assert count(app, "subscriber") == 0
        # a correctly signed call from that address is still served (#14 item 7)
        assert signed(app, INBOUND, params).status_code == 200


def test_correctly_signed_webhooks_are_never_throttled(limited):
    with limited(TYPHOON_WEBHOOK_REFUSAL_LIMIT="2") as app:
        answers = {
            signed(app, INBOUND, {"From": "+85366000001", "Body": "HELP"}).status_code
            for _ in range(10)
        }
        assert answers == {200}


def test_unsigned_calls_never_lock_out_signed_ones(limited):
    """Thirty unsigned calls, then Twilio's signed ones: the signature is checked first, and a
    signed call is neither counted nor limited."""
    with limited(TYPHOON_WEBHOOK_REFUSAL_LIMIT="3") as app:
        params = {"From": "+85366000001", "Body": "HELP"}
        refused = [app.client.post(INBOUND, data=params).status_code for _ in range(30)]
        assert refused == [403] * 3 + [429] * 27
        assert {signed(app, INBOUND, params).status_code for _ in range(10)} == {200}


def test_forwarded_for_is_believed_only_from_trusted_proxies(limited):
    params = {"From": "+85366000001", "Body": "HELP"}

    def unsigned(forwarded_for: str) -> int:
        return app.client.post(
            INBOUND, data=params, headers={"X-Forwarded-For": forwarded_for}
        ).status_code

    with limited(TYPHOON_WEBHOOK_REFUSAL_LIMIT="3") as app:  # no trusted proxy (the default)
        answers = [unsigned(f"203.0.113.{n}") for n in range(5)]
        assert answers == [403, 403, 403, 429, 429]  # one key: the real peer's
    with limited(TYPHOON_WEBHOOK_REFUSAL_LIMIT="3", TYPHOON_TRUSTED_PROXIES="127.0.0.1") as app:
        assert [unsigned(f"203.0.113.{n}") for n in range(5)] == [403] * 5  # a key each
        assert [unsigned("198.51.100.7") for _ in range(4)] == [403, 403, 403, 429]


def test_trusted_proxies_setting():
    from emergency.serving import uvicorn_options
    from emergency.settings import Settings, load_settings

    default = Settings(TYPHOON_DATABASE_URL="sqlite:///x.db")
    assert default.trusted_proxies == ()
    assert uvicorn_options(default)["proxy_headers"] is False
    two = Settings(
        TYPHOON_DATABASE_URL="sqlite:///x.db", TYPHOON_TRUSTED_PROXIES="10.0.0.5, 10.1.0.0/16"
    )
    assert uvicorn_options(two) == {
        "proxy_headers": True,
        "forwarded_allow_ips": "10.0.0.5,10.1.0.0/16",
        "timeout_keep_alive": 150,  # longer than the proxy keeps idle connections (serving.py)
    }
    with pytest.raises(Exception, match="TYPHOON_TRUSTED_PROXIES"):
        load_settings(TYPHOON_DATABASE_URL="sqlite:///x.db", TYPHOON_TRUSTED_PROXIES="proxy.lan")
