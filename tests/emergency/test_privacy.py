"""Residents' data can be forgotten and is not kept forever (issue 20.2, 20.9; Macau PDPA,
mainland PIPL): one person is forgotten everywhere their number leads, the audit chain stays
whole, and nothing else is touched; what we hold about them can be exported; the retention
purge erases old addresses, expired acknowledgement links, old photos and hotline logs and
progress events; the photo store has a quota."""

from __future__ import annotations

import io
import json
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select, text
from sqlmodel import SQLModel

import emergency.models  # noqa: F401  (every table)
from alerts.models import Message, Subscriber
from alerts.testing import run_twilio_server
from emergency.audit import service as audit_service
from emergency.audit.models import AuditEntry
from emergency.db import utcnow
from emergency.events.models import Event
from emergency.privacy import service as privacy_service
from tests.emergency.broadcasts.factories import TEXTS
from tests.support import cli, server

ROOT = Path(__file__).resolve().parents[2]
PERSON = "+85366123456"  # the one who asks to be forgotten
DIGITS = "66123456"
OTHER = "+85366123457"
FROM = "+15005550006"


@pytest.fixture
def twilio():
    with run_twilio_server() as fake:
        yield fake


@pytest.fixture
def app(database_url, settings_for, twilio):
    settings = settings_for(
        database_url,
        TWILIO_ACCOUNT_SID=twilio.account_sid,
        TWILIO_AUTH_TOKEN=twilio.auth_token,
        TWILIO_FROM_NUMBER=FROM,
        TWILIO_API_BASE_URL=twilio.base_url,
    )
    with server.run(settings) as running:
        yield running


def call(app, method, path, role, body=None, expect=(200, 201)):
    r = app.client.request(method, path, headers=app.auth(role), json=body)
    assert r.status_code in expect, r.text
    return r.json()


def wait_for(predicate, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def sent_to(twilio, phone) -> int:
    return sum(1 for m in twilio.received if m.to == phone)


def everything(db) -> str:
    """Every row of every table, as text: where a number could still hide."""
    out = []
    with db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                out.append(f"{table.name}: {tuple(row)}")
    return "\n".join(out)


def give_the_person_a_history(app, twilio) -> dict:
    """The person is a subscriber who got a broadcast, a liaison contact who got a notice with
    an acknowledgement link, a vulnerable resident (number written the local way) with a
    check, and is named in a hotline log. Another subscriber gets the same broadcast."""
    for phone in (PERSON, OTHER):
        call(
            app,
            "POST",
            "/api/v1/subscribers",
            "operator",
            {"phone": phone, "language": "zh-Hant", "zone": "lianhua", "name": "a resident"},
        )
    b = call(
        app,
        "POST",
        "/api/v1/broadcasts",
        "operator",
        {"messages": TEXTS, "zones": ["lianhua"], "channels": ["sms"]},
    )
    contact = call(
        app,
        "POST",
        "/api/v1/liaison/contacts",
        "admin",
        {
            "key": "chan_tai_man",
            "name": "Chan Tai Man",
            "organisation": {"en": "Macau Civil Protection"},
            "phone": PERSON,
            "language": "zh-Hant",
        },
    )
    notice = call(
        app,
        "POST",
        "/api/v1/liaison/notices",
        "liaison",
        {"texts": {lang: "test notice" for lang in ("zh-Hans", "zh-Hant", "pt", "en")}},
    )
    app.drain()  # no background worker in the test apps: send what is queued
    wait_for(lambda: sent_to(twilio, PERSON) >= 2 and sent_to(twilio, OTHER) >= 1, "the SMS")
    resident = call(
        app,
        "POST",
        "/api/v1/vulnerable/residents",
        "operator",
        {"name": "Chan Tai Man", "address": "Lianhua 1", "phone": "6612 3456"},
    )
    call(
        app,
        "POST",
        f"/api/v1/vulnerable/residents/{resident['id']}/check",
        "operator",
        {"state": "reached", "note": "fine"},
    )
    hotline = call(
        app,
        "POST",
        "/api/v1/liaison/calls",
        "liaison",
        {
            "direction": "inbound",
            "caller": "Mr Chan, 6612-3456",
            "summary": "asked about the shelter; call back on +853 6612 3456",
            "follow_up": "call back",
        },
    )
    other_call = call(
        app,
        "POST",
        "/api/v1/liaison/calls",
        "liaison",
        {"direction": "outbound", "caller": "Port office", "summary": "bridge status"},
    )
    return {
        "broadcast": b,
        "contact": contact,
        "notice": notice,
        "resident": resident,
        "call": hotline,
        "other_call": other_call,
    }


def test_forget_removes_a_person_everywhere_and_nothing_else(app, twilio):
    history = give_the_person_a_history(app, twilio)
    before = everything(app.db)
    assert DIGITS in before  # the number is in many places to begin with

    exported = call(app, "POST", "/api/v1/subscribers/export", "admin", {"phone": "66123456"})
    assert exported["phone"] == PERSON
    assert [s["phone"] for s in exported["subscribers"]] == [PERSON]
    assert len(exported["messages"]) >= 2  # the broadcast and the notice
    assert [r["id"] for r in exported["vulnerable_residents"]] == [history["resident"]["id"]]
    assert [c["id"] for c in exported["liaison_contacts"]] == [history["contact"]["id"]]
    assert [c["id"] for c in exported["hotline_calls"]] == [history["call"]["id"]]
    assert not any("token" in n for n in exported["liaison_notices"])

    # Only an admin may forget or export.
    for role in ("operator", "liaison", "viewer"):
        for what in ("forget", "export"):
            r = app.client.post(
                f"/api/v1/subscribers/{what}", headers=app.auth(role), json={"phone": PERSON}
            )
            assert r.status_code == 403
    bad = app.client.post(
        "/api/v1/subscribers/forget", headers=app.auth("admin"), json={"phone": "not a number"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_phone"

    done = call(app, "POST", "/api/v1/subscribers/forget", "admin", {"phone": "+853 6612 3456"})
    assert done["found"] is True and done["in_flight"] == 0
    assert len(done["subscribers"]) == 1 and done["vulnerable_residents"] == [
        history["resident"]["id"]
    ]
    assert done["liaison_contacts"] == [history["contact"]["id"]]
    assert done["hotline_calls"] == [history["call"]["id"]]
    assert done["messages"] >= 2 and done["notice_links"] == 1

    after = everything(app.db)
    assert DIGITS not in after, [line for line in after.splitlines() if DIGITS in line]
    assert "Chan Tai Man" not in after and "Mr Chan" not in after
    # Everybody else's data is as it was.
    with app.db.session() as session:
        other = session.execute(select(Subscriber).where(Subscriber.phone == OTHER)).scalar_one()
        assert other.name == "a resident"
        kept = session.execute(select(Message).where(Message.address == OTHER)).scalars().all()
        assert len(kept) == 1 and kept[0].dedupe_key == f"sms:{OTHER}"
    assert "Port office" in after and "bridge status" in after
    # The counts of what happened stay: the broadcast still had two recipients.
    b = call(app, "GET", f"/api/v1/broadcasts/{history['broadcast']['id']}", "viewer")
    assert b["recipients"] == 2 and sum(b["counts"].values()) == 2

    # The audit chain is whole, and says what was done by ids only.
    with app.db.session() as session:
        assert audit_service.verify(session).ok
        entry = session.execute(
            select(AuditEntry).where(AuditEntry.action == "person.forgotten")
        ).scalar_one()
    assert entry.summary["after"]["vulnerable_residents"] == [history["resident"]["id"]]

    # The forgotten contact's acknowledgement link no longer works.
    r = app.client.get(
        f"/api/v1/liaison/notices/{history['notice']['id']}", headers=app.auth("liaison")
    )
    links = [
        x["ack_url"] for x in r.json()["recipients"] if x["contact_id"] == history["contact"]["id"]
    ]
    assert links == [None]

    again = call(app, "POST", "/api/v1/subscribers/forget", "admin", {"phone": PERSON})
    assert again["found"] is False and again["messages"] == 0
    empty = call(app, "POST", "/api/v1/subscribers/export", "admin", {"phone": PERSON})
    assert all(
        empty[k] == [] for k in ("subscribers", "messages", "vulnerable_residents", "hotline_calls")
    )


LIANHUA = (22.1480, 113.5440)


def field_report(app, body: dict) -> dict:
    headers = {**app.auth("operator"), "Idempotency-Key": str(uuid.uuid4())}
    r = app.client.post("/api/v1/field-reports", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_forget_erases_the_number_from_every_note_and_text(app, twilio):
    """The red review (#20 item 2): someone wrote the number in words, in many places: a
    request for help from the field (and the alarm and events it made), a hazard, an
    inspection group's members, a crew's status note, an alarm's closing note, a signal's
    note, a facility's, another resident's note and check, a liaison notice (and the SMS it
    sent), a broadcast. Forgetting erases the number there, keeps the other words, says
    which rows by id, and leaves the audit chain whole (its notes are counted, not changed)."""
    written = {  # however people write it
        "help": "old man, call his son on 6612 3456",
        "hazard": "tree down; owner +853 6612-3456 has the key",
        "member": "Wong (66123456)",
        "crew": "deployed, leader on 00853 66123456",
        "alarm": "son reached on ６６１２３４５６",
        "signal": "confirmed by phone with 6612 3456",
        "facility": "gate keeper 6612 3456",
        "resident": "neighbour checks on her: 6612-3456",
        "check": "reached via 66123456",
        "notice": "Shelter contact 6612 3456",
        "broadcast": "Missing person: call 6612 3456",
    }
    others = {"help": "old man, call his son on ", "hazard": "tree down; owner "}
    operator = "operator"
    help_report = field_report(
        app,
        {"kind": "help", "people": 1, "urgency": "high", "note": written["help"],
         "lat": LIANHUA[0], "lon": LIANHUA[1]},
    )  # fmt: skip
    field_report(
        app,
        {"kind": "hazard", "hazard_kind": "fallen_tree", "severity": "high",
         "place": "Rua 1", "note": written["hazard"], "lat": LIANHUA[0], "lon": LIANHUA[1]},
    )  # fmt: skip
    call(
        app,
        "POST",
        "/api/v1/inspection-groups",
        operator,
        {"name": "Group 9", "members": ["Lei", written["member"]]},
    )
    crew = call(app, "POST", "/api/v1/crews", operator, {"name": "Crew 9", "headcount": 4})
    call(
        app,
        "POST",
        f"/api/v1/crews/{crew['id']}/status",
        operator,
        {"status": "deployed", "note": written["crew"]},
    )
    [alarm] = call(app, "GET", "/api/v1/alarms", operator)
    call(app, "POST", f"/api/v1/alarms/{alarm['id']}/close", operator, {"note": written["alarm"]})
    call(
        app,
        "POST",
        "/api/v1/signals",
        operator,
        {"source": "SMG", "kind": "tropical_cyclone", "level": "3", "note": written["signal"]},
    )
    facility = call(app, "GET", "/api/v1/facilities", "viewer")[0]
    other_status = next(o["id"] for o in facility["statuses"] if o["id"] != facility["status"])
    call(
        app,
        "POST",
        f"/api/v1/facilities/{facility['id']}/status",
        operator,
        {"status": other_status, "note": written["facility"]},
    )
    resident = call(
        app,
        "POST",
        "/api/v1/vulnerable/residents",
        operator,
        {"name": "Madam Lei", "address": "Lianhua 2", "phone": "+85366000111",
         "needs": written["resident"]},
    )  # fmt: skip
    call(
        app,
        "POST",
        f"/api/v1/vulnerable/residents/{resident['id']}/check",
        operator,
        {"state": "reached", "note": written["check"]},
    )
    call(
        app,
        "POST",
        "/api/v1/liaison/contacts",
        "admin",
        {"key": "port", "name": "Port office", "organisation": {"en": "Port"},
         "phone": OTHER, "language": "en"},
    )  # fmt: skip
    call(
        app,
        "POST",
        "/api/v1/liaison/notices",
        "liaison",
        {"texts": {lang: written["notice"] for lang in ("zh-Hans", "zh-Hant", "pt", "en")}},
    )
    call(
        app,
        "POST",
        "/api/v1/subscribers",
        operator,
        {"phone": OTHER, "language": "en", "zone": "lianhua", "name": "a resident"},
    )
    call(
        app,
        "POST",
        "/api/v1/broadcasts",
        operator,
        {"messages": {lang: written["broadcast"] for lang in ("zh-Hans", "zh-Hant", "pt", "en")},
         "zones": ["lianhua"], "channels": ["sms"]},
    )  # fmt: skip
    app.drain()
    wait_for(lambda: sent_to(twilio, OTHER) >= 2, "the notice and the broadcast sent")
    before = everything(app.db)
    for words in written.values():
        assert words in before, words  # each note is stored as written

    # the person's right of access: the notes that mention them are theirs to see
    exported = call(app, "POST", "/api/v1/subscribers/export", "admin", {"phone": PERSON})
    mentions = exported["mentioned_in"]
    assert [r["note"] for r in mentions["help_request"]] == [written["help"]]
    assert [r["needs"] for r in mentions["vulnerable_resident"]] == [written["resident"]]

    done = call(app, "POST", "/api/v1/subscribers/forget", "admin", {"phone": "+85366123456"})
    assert done["found"] is True
    assert {name: [r["id"] for r in rows] for name, rows in mentions.items()} == done["free_text"]
    for table in (
        "field_report",
        "help_request",
        "hazard",
        "alarm",
        "inspection_group",
        "crew",
        "signal_change",
        "facility_change",
        "vulnerable_resident",
        "resident_check",
        "liaison_notice",
        "message",
        "broadcast",
        "event",
    ):
        assert done["free_text"].get(table), (table, done["free_text"])  # fmt: skip
    assert done["free_text"]["help_request"] == [help_report["result"]["help_request_id"]]

    after = everything(app.db).splitlines()
    forms = privacy_service.PhoneForms.of(PERSON)  # however it is written
    left = [line for line in after if forms.found_in(line)]
    # only the audit chain still has it (notes given with actions: the hashes cover them)
    assert left and all(line.startswith("audit_entry:") for line in left), left
    assert done["audit_mentions"] == len(left)
    text_after = "\n".join(after)
    assert f"{others['help']}(number erased)" in text_after
    assert f"{others['hazard']}(number erased) has the key" in text_after
    assert "Wong ((number erased)" in text_after or "Wong (number erased)" in text_after
    assert OTHER in text_after and "Madam Lei" in text_after  # nobody else's data changed
    with app.db.session() as session:
        assert audit_service.verify(session).ok
        entry = session.execute(
            select(AuditEntry).where(AuditEntry.action == "person.forgotten")
        ).scalar_one()
    assert entry.summary["after"]["free_text"] == done["free_text"]  # ids, never the words
    # the live stream's copies are erased too: a screen resuming from 0 never reads it
    with app.db.session() as session:
        streamed = json.dumps(
            [e.data for e in session.execute(select(Event)).scalars()], ensure_ascii=False
        )
    assert DIGITS not in streamed and "6612 3456" not in streamed

    again = call(app, "POST", "/api/v1/subscribers/forget", "admin", {"phone": PERSON})
    assert again["found"] is False and again["free_text"] == {}


def test_forget_and_export_from_the_command_line(database_url, settings_for, tmp_path):
    """The CLI as the duty officer runs it: export prints JSON, forget says what went and
    a second forget finds nothing; a subscriber could not be deleted before (foreign key)."""
    settings = settings_for(database_url)
    with server.run(settings) as app:
        call(
            app,
            "POST",
            "/api/v1/subscribers",
            "operator",
            {"phone": PERSON, "language": "en", "zone": "lianhua"},
        )
        call(
            app,
            "POST",
            "/api/v1/broadcasts",
            "operator",
            {"messages": TEXTS, "zones": ["lianhua"], "channels": ["sms"]},
        )

        def sent() -> bool:
            with app.db.session() as session:
                return (
                    session.execute(
                        select(Message.status).where(Message.address == PERSON)
                    ).scalar_one_or_none()
                    == "sent"
                )

        app.drain()
        wait_for(sent, "the message to be sent (console provider)")
    env = {"TYPHOON_DATABASE_URL": database_url, "TYPHOON_DATA_DIR": str(tmp_path / "data")}

    def typhoon(*args):  # the command in this process (tests.support.cli)
        return cli.typhoon(*args, env=env)

    exported = typhoon("subscribers", "export", "66123456")
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert data["subscribers"][0]["phone"] == PERSON and len(data["messages"]) == 1
    forgotten = typhoon("subscribers", "forget", "66123456")
    assert forgotten.returncode == 0, forgotten.stderr
    assert (
        "forgotten: 1 subscriber(s)" in forgotten.stdout
        and "1 message address(es)" in forgotten.stdout
    )
    assert typhoon("subscribers", "forget", PERSON).stdout.strip() == "nothing held for this number"
    refused = typhoon("subscribers", "forget", "hello")
    assert refused.returncode == 2 and "is not a phone number" in refused.stderr
    # The retention rules on demand: a message sent a moment ago is kept, so nothing goes.
    purged = typhoon("retention", "purge")
    assert purged.returncode == 0, purged.stderr
    assert purged.stdout.strip() == (
        "message addresses 0, ack links 0, photos 0, orphan photo files 0, hotline calls 0, "
        "progress events 0"
    )


def _jpeg(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (seed % 256, 90, 160)).save(out, "JPEG")
    return out.getvalue()


def test_retention_purge_erases_what_is_kept_no_longer(
    database_url, settings_for, twilio, tmp_path
):
    settings = settings_for(
        database_url,
        TWILIO_ACCOUNT_SID=twilio.account_sid,
        TWILIO_AUTH_TOKEN=twilio.auth_token,
        TWILIO_FROM_NUMBER=FROM,
        TWILIO_API_BASE_URL=twilio.base_url,
        TYPHOON_RETAIN_MESSAGE_ADDRESSES_DAYS=30,
        TYPHOON_RETAIN_ACK_LINKS_DAYS=7,
        TYPHOON_RETAIN_PHOTOS_DAYS=90,
        TYPHOON_RETAIN_HOTLINE_DAYS=90,
        TYPHOON_RETAIN_PROGRESS_EVENTS_DAYS=2,
        TYPHOON_DATA_DIR=str(tmp_path / "data"),
    )
    with server.run(settings) as app:
        history = give_the_person_a_history(app, twilio)
        photo = app.client.post(
            "/api/v1/photos",
            headers=app.auth("field"),
            files={"file": ("p.jpg", _jpeg(1), "image/jpeg")},
        ).json()
        notice = call(app, "GET", f"/api/v1/liaison/notices/{history['notice']['id']}", "liaison")
        link = next(r["ack_url"] for r in notice["recipients"] if r["ack_url"]).split("/api/v1", 1)[
            1
        ]
        assert app.client.get("/api/v1" + link).status_code == 200

        def progress_events() -> list[int]:
            with app.db.session() as session:
                return list(
                    session.execute(
                        select(Event.seq).where(Event.type == "broadcast.progress")
                    ).scalars()
                )

        app.drain()  # sends, and runs the progress job (no background worker here)
        wait_for(lambda: progress_events(), "progress events")

        def all_sent() -> bool:
            with app.db.session() as session:
                states = set(session.execute(select(Message.status)).scalars())
            return not states & {"queued", "sending"}

        wait_for(all_sent, "every message sent (the liaison notice's too)")

        # Nothing is old yet: the purge leaves everything.
        nothing = privacy_service.purge(app.db, settings=settings)
        assert nothing.total == 0

        # Eight days on: the acknowledgement links expired; nothing else is old enough.
        seen = max(progress_events())
        week = privacy_service.purge(app.db, settings=settings, now=utcnow() + timedelta(days=8))
        assert week.ack_links >= 1 and week.message_addresses == 0 and week.photos == 0
        assert week.progress_events >= 1
        assert app.client.get("/api/v1" + link).status_code == 404
        assert [seq for seq in progress_events() if seq <= seen] == []  # (newer may come)
        with app.db.session() as session:
            assert session.execute(
                select(Event.seq).where(Event.type == "broadcast.created")
            ).first()

        # A month on: the numbers in sent messages are erased (rows and counts stay).
        month = privacy_service.purge(app.db, settings=settings, now=utcnow() + timedelta(days=31))
        assert month.message_addresses >= 3 and month.hotline_calls == 0
        with app.db.session() as session:
            rows = session.execute(select(Message)).scalars().all()
        assert all(m.address == "" and m.erased_at and m.body is None for m in rows)
        assert all(m.dedupe_key == f"erased:{m.id}" for m in rows)
        b = call(app, "GET", f"/api/v1/broadcasts/{history['broadcast']['id']}", "viewer")
        assert b["counts"]["sent"] + b["counts"].get("delivered", 0) == 2

        # A quarter on: photos and hotline logs go too.
        quarter = privacy_service.purge(
            app.db, settings=settings, now=utcnow() + timedelta(days=91)
        )
        assert quarter.photos == 1 and quarter.hotline_calls == 2
        gone = app.client.get(f"/api/v1/photos/{photo['id']}", headers=app.auth("operator"))
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "photo_deleted"
        assert not list((tmp_path / "data" / "photos").glob("*/*.jpg"))
        calls = call(app, "GET", "/api/v1/liaison/calls", "liaison")
        assert {c["caller"] for c in calls} == {"(erased)"}
        # Subscribers, contacts and residents stay (until forgotten); what they were sent,
        # what was said on the hotline and what the screens showed of it do not.
        left = [
            line
            for line in everything(app.db).splitlines()
            if line.startswith(("message:", "hotline_call:", "event:")) and DIGITS in line
        ]
        assert left == []
        with app.db.session() as session:
            purged = (
                session.execute(select(AuditEntry).where(AuditEntry.action == "retention.purged"))
                .scalars()
                .all()
            )
            assert len(purged) == 3 and audit_service.verify(session).ok
        # Again: nothing left to do (but a progress event the live broadcast made since).
        again = privacy_service.purge(app.db, settings=settings, now=utcnow() + timedelta(days=91))
        assert again.total == again.progress_events


def test_the_photo_store_has_a_quota(database_url, settings_for, tmp_path):
    settings = settings_for(
        database_url,
        TYPHOON_PHOTOS_MAX_MB=0.0005,  # 500 bytes: one small photo
        TYPHOON_DATA_DIR=str(tmp_path / "data"),
    )
    with server.run(settings, embedded_worker=False) as app:
        first = app.client.post(
            "/api/v1/photos",
            headers=app.auth("field"),
            files={"file": ("a.jpg", _jpeg(1), "image/jpeg")},
        )
        assert first.status_code == 201, first.text
        again = app.client.post(
            "/api/v1/photos",
            headers=app.auth("field"),
            files={"file": ("a.jpg", _jpeg(1), "image/jpeg")},
        )
        assert again.status_code == 200  # the same photo costs nothing more
        full = app.client.post(
            "/api/v1/photos",
            headers=app.auth("field"),
            files={"file": ("b.jpg", _jpeg(200), "image/jpeg")},
        )
        assert full.status_code == 507, full.text
        assert "TYPHOON_PHOTOS_MAX_MB" in full.json()["error"]["message"]
        with app.db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM photo")).scalar_one() == 1


def _a_refused_sms_with_twilios_words(app, twilio) -> None:
    """A subscriber whose number Twilio refuses (21211). Twilio's answer names the number
    ("The 'To' number +853… is not a valid phone number."); the local stand-in leaves it out,
    so the stored error is set to Twilio's words here."""
    twilio.control(invalid_numbers=[PERSON])
    call(
        app,
        "POST",
        "/api/v1/subscribers",
        "operator",
        {"phone": PERSON, "language": "en", "zone": "lianhua", "name": "a resident"},
    )
    call(
        app,
        "POST",
        "/api/v1/broadcasts",
        "operator",
        {"messages": TEXTS, "zones": ["lianhua"], "channels": ["sms"]},
    )
    app.drain()
    wait_for(lambda: len(_failed(app)) == 1, "the refused SMS")
    with app.db.session() as session:
        session.execute(
            text("UPDATE message SET error_message = :e WHERE status = 'failed'"),
            {"e": f"The 'To' number {PERSON} is not a valid phone number."},
        )
        session.commit()


def _failed(app) -> list[Message]:
    with app.db.session() as session:
        return list(session.execute(select(Message).where(Message.status == "failed")).scalars())


ERROR_ERASED = "The 'To' number (number erased) is not a valid phone number."


def test_forget_erases_the_number_from_a_providers_error(app, twilio):
    """The red review of session 5: the worker keeps Twilio's error in the message's
    error_message, number included: forget left it there, and export did not show it."""
    _a_refused_sms_with_twilios_words(app, twilio)
    exported = call(app, "POST", "/api/v1/subscribers/export", "admin", {"phone": PERSON})
    [mention] = exported["mentioned_in"]["message"]
    assert PERSON in mention["error_message"]
    call(app, "POST", "/api/v1/subscribers/forget", "admin", {"phone": PERSON})
    after = everything(app.db)
    assert DIGITS not in after, [line for line in after.splitlines() if DIGITS in line]
    [message] = _failed(app)
    assert (message.error_code, message.error_message) == ("21211", ERROR_ERASED)


def test_retention_erases_the_number_from_a_providers_error(app, twilio):
    """The retention purge erases the numbers of old messages: the one in Twilio's error too
    (why it failed is kept)."""
    _a_refused_sms_with_twilios_words(app, twilio)
    settings = app.app.state.runtime.settings
    purged = privacy_service.purge(app.db, settings=settings, now=utcnow() + timedelta(days=31))
    assert purged.message_addresses == 1
    [message] = _failed(app)
    assert (message.address, message.error_code, message.error_message) == (
        "",
        "21211",
        ERROR_ERASED,
    )
