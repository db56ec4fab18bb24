"""One stray quote in a subscriber CSV costs its own line, not the thousands after it: every
data line is counted as added, updated or rejected, and only the broken lines are rejected."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from alerts.models import Subscriber
from alerts.subscribers.importer import import_csv
from emergency.db import Database
from emergency.settings import DEFAULT_CONFIG_DIR
from geo.zones import load_zones

ROWS = 10_000
BROKEN = {
    101: '66100101,en,22.14,113.54,"Chan Tai Man,,sms,',
    5003: '66105003,pt,22.14,113.54,Ho",x",,,',
}


@pytest.fixture(scope="module")
def zones():
    return load_zones(DEFAULT_CONFIG_DIR / "zones")


def test_a_stray_quote_rejects_its_line_alone(database_url, zones):
    lines = ["phone,language,lat,lon,name,zone,channels,tags"]
    for n in range(2, ROWS + 2):  # file line n
        lines.append(BROKEN.get(n, f'66{100000 + n:06d},en,22.14,113.54,Ch"an {n},,sms,'))
    lines.append('66999999,en,22.14,113.54,"Leong, Mei Ling",,sms,')  # quoted comma: fine
    db = Database(database_url)
    rejects = []
    try:
        summary = import_csv(
            io.StringIO("\n".join(lines) + "\n", newline=""),
            transaction=db.unit_of_work,
            zones=zones,
            on_reject=rejects.append,
        )
        with db.session() as session:
            stored = session.execute(select(func.count()).select_from(Subscriber)).scalar_one()
            quoted = session.execute(
                select(Subscriber.name).where(Subscriber.phone == "+85366999999")
            ).scalar_one()
    finally:
        db.dispose()
    data_lines = ROWS + 1
    assert summary.added + summary.updated + summary.rejected == data_lines == summary.rows
    assert sorted(r.line for r in rejects) == sorted(BROKEN)
    assert "quote" in next(r.reason for r in rejects if r.line == 101)
    assert stored == summary.added == data_lines - len(BROKEN)
    assert quoted == "Leong, Mei Ling"
