"""Phone numbers, names, addresses and notes stay out of the logs: SQL errors carry no
parameters (hide_parameters on every engine), and a structured log line's personal fields, and
phone numbers in a traceback, are masked."""

from __future__ import annotations

import io
import json
import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from emergency.db import Database
from emergency.logs import configure_logging

NAME = "Chan Tai Man, Rua do Campo 12"


@pytest.fixture
def json_logs():
    """The service's logging as `typhoon serve` configures it, written to a buffer."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(level="INFO", fmt="json")
    buffer = io.StringIO()
    root.handlers[0].setStream(buffer)

    def lines() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]

    try:
        yield lines
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_sql_errors_carry_no_parameters(database_url, json_logs):
    db = Database(database_url)
    insert = text(
        "INSERT INTO user_account (name, role, active, created_at, demo) "
        "VALUES (:name, 'viewer', true, CURRENT_TIMESTAMP, false)"
    )
    try:
        with db.unit_of_work() as session:
            session.execute(insert, {"name": NAME})
        with pytest.raises(IntegrityError) as failed, db.unit_of_work() as session:
            session.execute(insert, {"name": NAME})
    finally:
        db.dispose()
    assert "hidden due to hide_parameters" in str(failed.value)
    if database_url.startswith("sqlite"):
        assert "Chan Tai Man" not in str(failed.value)
    # PostgreSQL's own DETAIL quotes the row: it does not reach the log either
    try:
        raise failed.value
    except IntegrityError:
        logging.getLogger("emergency.test").exception("write failed")
    logged = json.dumps(json_logs(), ensure_ascii=False)
    assert "IntegrityError" in logged and "Chan Tai Man" not in logged


def test_structured_logs_mask_personal_fields_and_tracebacks(json_logs):
    log = logging.getLogger("emergency.test")
    log.warning(
        "sms refused",
        extra={
            "phone": "+85366123456",
            "person": "Chan Tai Man",
            "address": "Rua do Campo 12",
            "note": "uses a wheelchair",
            "broadcast_id": 7,
            "reason": "call 66123456 back",
        },
    )
    try:
        raise ValueError("could not reach +85366998877 (token tyh_abcdefghijklmnop)")
    except ValueError:
        log.exception("delivery failed")
    lines = json_logs()
    out = json.dumps(lines, ensure_ascii=False)
    for secret in ("66123456", "Chan Tai Man", "Rua do Campo", "wheelchair", "66998877", "tyh_abc"):
        assert secret not in out, secret
    first, second = lines
    assert first["broadcast_id"] == 7 and first["phone"] == "[redacted]"
    assert first["reason"] == "call [phone] back"
    assert "ValueError" in second["exc_info"] and "[phone]" in second["exc_info"]
