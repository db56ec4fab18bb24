"""Real CAP documents of agencies (tests/data/cap/corpus, each with its source in
tests/data/cap/SOURCES) over real HTTP: every valid CAP 1.2 document is accepted and stored
byte for byte (encoding, declaration, comments, signature), every invalid one gets a 4xx
that names what is wrong and stores nothing. None of them is from a sender trusted for our
signals, so none changes one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.emergency.cap.samples import CAP_HEADERS, DATA
from tests.emergency.cap.test_ingest import active, stored_counts

CORPUS = DATA / "corpus"
SOURCES = DATA / "SOURCES"


@dataclass(frozen=True)
class Source:
    file: str
    expected: str  # "accepted" or "refused <code> <words>"
    repository: str
    path: str
    commit: str
    what: str

    @property
    def data(self) -> bytes:
        return (CORPUS / self.file).read_bytes()


def sources() -> list[Source]:
    rows = []
    for line in SOURCES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(Source(*[part.strip() for part in line.split(" | ")]))
    return rows


ALL = sources()
VALID = [s for s in ALL if s.expected == "accepted"]
INVALID = [s for s in ALL if s.expected != "accepted"]


def test_sources_record_every_file_of_the_corpus():
    assert len(ALL) >= 25
    assert sorted(s.file for s in ALL) == sorted(p.name for p in CORPUS.iterdir())
    for source in ALL:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", source.repository), source
        assert re.fullmatch(r"[0-9a-f]{40}", source.commit), source
        assert source.path and source.what, source
        assert source.expected == "accepted" or re.fullmatch(r"refused \w+ .+", source.expected)
    assert len(VALID) >= 12 and len(INVALID) >= 10


def test_every_valid_document_is_accepted_and_kept_exactly(app_server):
    app_server.token("operator"), app_server.token("viewer")
    for source in VALID:
        r = app_server.client.post(
            "/api/v1/cap",
            content=source.data,
            headers={**app_server.auth("operator"), **CAP_HEADERS},
        )
        assert r.status_code == 201, (source.file, r.text)
        body = r.json()
        # No sender of the corpus is trusted for our signals: nothing may change.
        assert body["outcome"] in ("nothing_mapped", "not_actual", "no_change"), source.file
        stored = app_server.client.get(
            f"/api/v1/cap/received/{body['id']}.xml", headers=app_server.auth("viewer")
        )
        assert stored.status_code == 200
        assert stored.content == source.data, f"{source.file} was not kept byte for byte"
    assert active(app_server) == {}
    received = app_server.client.get(
        "/api/v1/cap/received?limit=100", headers=app_server.auth("viewer")
    ).json()
    assert len(received) == len(VALID)
    latin1 = next(r for r in received if r["identifier"].startswith("USGS-earthquakes-usB000D5T4"))
    assert latin1["size"] == len(
        (CORPUS / "google-cap-library_earthquake-iso8859-1.cap").read_bytes()
    )


@pytest.mark.parametrize("source", INVALID, ids=[s.file for s in INVALID])
def test_every_invalid_document_gets_a_4xx_naming_the_problem(app_server, source):
    app_server.token("operator")
    before = stored_counts(app_server)
    r = app_server.client.post(
        "/api/v1/cap", content=source.data, headers={**app_server.auth("operator"), **CAP_HEADERS}
    )
    _, code, words = source.expected.split(" ", 2)
    assert 400 <= r.status_code < 500, (source.file, r.status_code, r.text)
    error = r.json()["error"]
    assert error["code"] == code, (source.file, error)
    assert words in error["message"], (source.file, error["message"])
    assert stored_counts(app_server) == before


def test_the_corpus_is_real_and_varied():
    """What the corpus holds, so that a future trim does not quietly lose a case."""
    datas = {s.file: s.data for s in VALID}
    assert any(b'encoding="ISO-8859-1"' in d for d in datas.values())
    assert any(b"xmldsig#" in d for d in datas.values())
    assert any(b"<cap:alert" in d for d in datas.values())  # prefixed namespace
    assert any(b"<msgType>Cancel</msgType>" in d and b"<info>" not in d for d in datas.values())
    assert any(b"<status>Test</status>" in d for d in datas.values())
    tsunami = datas["noaa_wcatwc_tsunami-cancellation_PAAQ-4-mg5a94.xml"].decode()
    sent = re.search(r"<sent>([^<]+)</sent>", tsunami)[1]
    assert f"<expires>{sent}</expires>" in tsunami
    languages = {m for d in datas.values() for m in re.findall(rb"<(?:cap:)?language>([^<]+)<", d)}
    assert len(languages) >= 8
    assert Path(CORPUS).is_dir()
