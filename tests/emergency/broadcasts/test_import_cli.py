"""`typhoon subscribers import` as an operator runs it: counts on stdout, each rejected row
with its line and reason (stderr or --rejects), the import audited, re-running harmless."""

from __future__ import annotations

import csv

from sqlalchemy import func, select

from alerts.models import Subscriber
from emergency.audit.models import AuditEntry
from emergency.db import Database
from tests.support.cli import typhoon

CSV = (
    "\ufeffphone,language,lat,lon,name,zone,channels,tags\n"  # Excel's BOM
    "66123456,zh-MO,22.105,113.53,陳大文,,sms,\n"
    "13800000001,,22.145,113.545,,,,exercise\n"  # language from --default-language
    "28211234,en,22.1,113.5,,,,\n"
    "13800000002,en,22.1,,,,,\n"
    "66123456,pt,22.105,113.53,,,,\n"
)


def test_import_command(database_url, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(CSV, encoding="utf-8")
    env = {"TYPHOON_DATABASE_URL": database_url}
    out = typhoon("subscribers", "import", str(path), "--default-language", "zh-CN", env=env)
    assert out.returncode == 0, out.stderr
    assert "added 2, updated 1, rejected 2" in out.stdout
    assert "line 4: phone: '28211234' is a landline" in out.stderr
    assert "line 5: lon: give both lat and lon" in out.stderr
    rejects = tmp_path / "rejects.csv"
    again = typhoon("subscribers", "import", str(path), "--rejects", str(rejects), env=env)
    assert again.returncode == 0
    assert "added 0, updated 2, rejected 3" in again.stdout  # no default language now
    rows = list(csv.DictReader(rejects.open(encoding="utf-8")))
    assert [r["line"] for r in rows] == ["3", "4", "5"]
    assert rows[0]["reason"].startswith("language: language is empty")
    db = Database(database_url)
    try:
        with db.session() as session:
            found = {s.phone: s for s in session.execute(select(Subscriber)).scalars()}
            imports = session.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "subscribers.imported")
            ).scalar_one()
    finally:
        db.dispose()
    assert set(found) == {"+85366123456", "+8613800000001"}
    assert found["+85366123456"].language == "pt"  # the later row
    assert found["+8613800000001"].language == "zh-Hans"
    assert found["+8613800000001"].exercise_list is True
    assert imports == 2


def test_import_command_refuses_a_bad_file(database_url, tmp_path):
    env = {"TYPHOON_DATABASE_URL": database_url}
    missing = typhoon("subscribers", "import", str(tmp_path / "nope.csv"), env=env)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    header = tmp_path / "h.csv"
    header.write_text("telephone,language,lat,lon\n", encoding="utf-8")
    bad = typhoon("subscribers", "import", str(header), env=env)
    assert bad.returncode == 2 and "missing column(s) phone" in bad.stderr
    latin = tmp_path / "latin.csv"
    latin.write_bytes("phone,language,lat,lon\n66123456,português,22.1,113.5\n".encode("latin-1"))
    enc = typhoon("subscribers", "import", str(latin), env=env)
    assert enc.returncode == 2 and "not UTF-8" in enc.stderr
