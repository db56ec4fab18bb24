"""The after-action report in the four languages (`typhoon report --lang`), fit for
superiors: letterhead, summary, the key decisions with who and when, the command post's
figures, charts, human names instead of ids, liaison notices grouped, a sign-off block."""

from __future__ import annotations

import pytest

from tests.support.cli import typhoon  # in this process: quicker, and its code is measured

LANGS = {
    "zh-Hans": (
        "横琴粤澳深度合作区三防指挥部",
        "关键决定",
        "八号东北烈风或暴风信号",
        "签发",
        "倒树",
    ),
    "zh-Hant": (
        "橫琴粵澳深度合作區三防指揮部",
        "關鍵決定",
        "八號東北烈風或暴風信號",
        "簽發",
        "倒樹",
    ),
    "pt": ("Posto de Comando", "Decisões-chave", "Sinal n.º 8", "Assinaturas", "árvore caída"),
    "en": (
        "Hengqin Flood, Drought and Typhoon Command Post",
        "Key decisions",
        "No. 8",
        "Sign-off",
        "fallen tree",
    ),
}


@pytest.fixture
def night(app_server):
    """A few decisions of a storm night, by named people."""
    app = app_server
    op = {"Authorization": f"Bearer {app.token('operator', name='duty-chan')}"}
    assert (
        app.client.post(
            "/api/v1/signals",
            headers=op,
            json={"source": "SMG", "kind": "tropical_cyclone", "level": "8NE"},
        ).status_code
        == 200
    )
    hazard = {
        "kind": "fallen_tree",
        "severity": "high",
        "place": "Huandao E Rd",
        "lat": 22.131,
        "lon": 113.541,
    }
    assert app.client.post("/api/v1/hazards", headers=op, json=hazard).status_code == 201
    call = {"direction": "inbound", "caller": "SMG duty forecaster", "summary": "No. 9 possible"}
    assert app.client.post("/api/v1/liaison/calls", headers=op, json=call).status_code == 201
    return app


@pytest.mark.parametrize("lang", list(LANGS))
def test_report_in_each_language_for_superiors(night, database_url, lang, tmp_path):
    out = tmp_path / f"report-{lang}.html"
    r = typhoon(
        "report", "--lang", lang, "-o", str(out), env={"TYPHOON_DATABASE_URL": database_url}
    )
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    org, decisions, signal, signoff, tree = LANGS[lang]
    assert f'<html lang="{lang}">' in html
    for expected in (org, decisions, signal, signoff, tree, "duty-chan"):
        assert expected in html, expected
    assert "SMG:tropical_cyclone" not in html  # names, not ids
    assert html.count("<svg") == 3
    assert "hazard.reported" not in html and "fallen_tree" not in html
    md = typhoon("report", "--lang", lang, env={"TYPHOON_DATABASE_URL": database_url})
    assert md.returncode == 0 and org in md.stdout and signoff in md.stdout


def test_a_language_not_offered_is_refused(database_url):
    r = typhoon("report", "--lang", "fr", env={"TYPHOON_DATABASE_URL": database_url})
    assert r.returncode == 2 and "--lang: 'fr' is not one of zh-Hans, zh-Hant, pt, en" in r.stderr
