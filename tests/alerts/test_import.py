"""The streaming CSV import: rejects with line numbers and reasons, dedupe within the file
and against the database, zones from locations, and memory that does not grow with the file."""

from __future__ import annotations

import gc
import io
import re
import tracemalloc

import pytest
from sqlalchemy import func, select

from alerts.models import Subscriber
from alerts.subscribers import service as subscriber_service
from alerts.subscribers.importer import ImportFileError, import_csv
from emergency.db import Database
from emergency.settings import DEFAULT_CONFIG_DIR
from geo.zones import load_zones


@pytest.fixture(scope="module")
def zones():
    return load_zones(DEFAULT_CONFIG_DIR / "zones")


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def run(db, zones, text, **kw):
    rejects = []
    summary = import_csv(
        io.StringIO(text), transaction=db.unit_of_work, zones=zones, on_reject=rejects.append, **kw
    )
    return summary, {r.line: r.reason for r in rejects}


def subscribers(db) -> dict[str, Subscriber]:
    with db.session() as session:
        return {s.phone: s for s in session.execute(select(Subscriber)).scalars()}


CSV = """phone,language,lat,lon,name,zone,channels,tags
66123456,zh-MO,22.105,113.53,陳大文,,sms,
+86 138 0000 0001,zh-CN,22.145,113.545,,,sms;push,exercise
28211234,en,22.1,113.5,,,,
13800000002,fr,22.1,113.5,,,,
13800000003,en,,,,,,
13800000004,en,113.5,22.1,,,,
13800000005,en,22.1,,,,,
13800000006,pt,,,,atlantis,,
13800000007,pt,,,,LIANHUA,sms,
13800000008,en,22.1,113.5,,,fax,
"13800000009",en,22.1,113.5,x,,,,,
66123456,en,22.095,113.49,,,sms,
13800000010,en,0,0,,,,
"""


def test_rows_rejected_with_line_and_reason_and_dedupe_in_the_file(db, zones):
    summary, rejects = run(db, zones, CSV)
    assert set(rejects) == {4, 5, 6, 7, 8, 9, 11, 12, 14}
    assert "landline" in rejects[4] and rejects[4].startswith("phone:")
    assert rejects[5].startswith("language: unknown language 'fr'")
    assert "no location" in rejects[6]
    assert "swapped" in rejects[7]
    assert "give both lat and lon" in rejects[8]
    assert "unknown zone 'atlantis'" in rejects[9]
    assert "unknown channel(s) fax" in rejects[11]
    assert "expected 8 fields" in rejects[12]
    assert "outside the operating region" in rejects[14]
    # 13 rows: 9 rejected, 4 accepted of which 3 distinct phones (line 13 repeats line 2)
    assert (summary.rows, summary.added, summary.updated, summary.rejected) == (13, 3, 1, 9)
    found = subscribers(db)
    assert set(found) == {"+85366123456", "+8613800000001", "+8613800000007"}
    macau = found["+85366123456"]
    # the later row (line 13) won: English, in Fuxiangwan
    assert (macau.language, macau.zone_id, macau.lat) == ("en", "fuxiangwan", 22.095)
    assert found["+8613800000001"].zone_id == "lianhua"
    assert found["+8613800000001"].channels == "sms,push"
    assert found["+8613800000001"].exercise_list is True
    assert found["+8613800000007"].zone_id == "lianhua" and found["+8613800000007"].lat is None


def test_dedupe_against_the_database_keeps_opt_out_and_absent_columns(db, zones):
    run(
        db,
        zones,
        "phone,language,lat,lon,tags,name\n66123456,zh-Hant,22.105,113.53,"
        "exercise,Chan\n13800000001,en,22.105,113.53,,\n",
    )
    with db.unit_of_work() as session:
        subscriber_service.set_opt_out(session, phone="+85366123456", opted_out=True)
    summary, rejects = run(
        db,
        zones,
        "phone,language,lat,lon\n+853 6612 3456,pt,22.145,113.545\n13800000099,en,22.145,113.545\n",
    )
    assert rejects == {}
    assert (summary.added, summary.updated) == (1, 1)
    macau = subscribers(db)["+85366123456"]
    assert (macau.language, macau.zone_id) == ("pt", "lianhua")
    assert macau.opted_out is True  # an import never re-subscribes someone who said STOP
    assert (macau.tags, macau.exercise_list, macau.name) == ("exercise", True, "Chan")
    with db.session() as session:
        assert session.execute(select(func.count()).select_from(Subscriber)).scalar_one() == 3


def test_default_language_and_header_problems(db, zones):
    summary, rejects = run(
        db, zones, "Phone, Language ,LAT,lon\n66123456,,22.1,113.5\n", default_language="zh-Hant"
    )
    assert (summary.added, rejects) == (1, {})
    assert subscribers(db)["+85366123456"].language == "zh-Hant"
    for text, words in [
        ("", "empty"),
        ("phone,language,lat\n", "missing column(s) lon"),
        ("phone,langauge,lat,lon\n", "unknown column(s) 'langauge'"),
        ("phone,language,lat,lon,lat\n", "repeated column(s) lat"),
    ]:
        with pytest.raises(ImportFileError, match=re.escape(words)):
            run(db, zones, text)


def _big_csv(path, n: int, start: int = 0) -> None:
    languages = ("zh-Hans", "zh-Hant", "pt", "en")
    with path.open("w", encoding="utf-8") as out:
        out.write("phone,language,lat,lon\n")
        for i in range(start, start + n):
            lat = 22.075 + (i * 7919 % 8000) / 100000
            lon = 113.475 + (i * 104729 % 9000) / 100000
            out.write(f"+86139{i:08d},{languages[i % 4]},{lat:.5f},{lon:.5f}\n")


def _peak_while_importing(db, zones, path, batch_size: int):
    """The peak of the Python memory allocated while `path` is imported (tracemalloc: what
    the import holds, exactly; a process's resident size moves with the allocator and the
    machine), and the import's summary."""
    gc.collect()
    tracemalloc.start()
    try:
        with path.open(encoding="utf-8", newline="") as stream:
            summary = import_csv(
                stream, transaction=db.unit_of_work, zones=zones, batch_size=batch_size
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, summary


def test_memory_does_not_grow_with_the_file(db, zones, tmp_path):
    """A file eight times longer is imported in no more memory: only the current batch is
    held. Batches of 250 here (5,000 in production), so 20,000 rows make 80 batches; the
    200,000-row import with its resident memory is benchmarks/bench_import.py."""
    warm, small, big = tmp_path / "warm.csv", tmp_path / "small.csv", tmp_path / "big.csv"
    _big_csv(warm, 500, start=20_000_000)
    _big_csv(small, 2_500, start=10_000_000)
    _big_csv(big, 20_000)
    _peak_while_importing(db, zones, warm, batch_size=250)  # caches and pools, once
    small_peak, _ = _peak_while_importing(db, zones, small, batch_size=250)
    peak, summary = _peak_while_importing(db, zones, big, batch_size=250)
    assert (summary.added, summary.rejected, summary.batches) == (20_000, 0, 80)
    print(f"\npeak Python memory: 2,500 rows {small_peak / 1e6:.1f} MB, 20,000 {peak / 1e6:.1f} MB")
    # Holding the rows would take 8 times as much for the longer file (~1 kB a row).
    assert peak < 1.5 * small_peak + 1e6, (small_peak, peak)
    with db.session() as session:
        assert session.execute(select(func.count()).select_from(Subscriber)).scalar_one() == 23_000
