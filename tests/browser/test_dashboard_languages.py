"""Every word in the screen's language: the home page's "What is running" table, and the
message templates the composer lists (their titles per language, config/message_templates.yaml)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_dashboard import open_dashboard

pytestmark = pytest.mark.browser

# label of each row, then the value words this test app shows (SQLite, no Redis, no Twilio,
# worker and scheduler separate, no demo)
RUNNING = {
    "zh-Hans": ["版本", "数据库", "事件总线", "短信发送进程", "定时任务", "短信服务商", "演示数据",
                "地图库", "进程内", "独立进程", "控制台（无凭据：不会真正发出）", "否"],
    "zh-Hant": ["版本", "資料庫", "事件匯流排", "短訊發送程序", "定時任務", "短訊供應商", "示範數據",
                "地圖庫", "程序內", "獨立程序", "控制台（無憑證：不會真正發出）", "否"],
    "pt": ["Versão", "Base de dados", "Barramento de eventos", "Processo de envio", "Agendador",
           "Fornecedor de SMS", "Dados de demonstração", "Biblioteca do mapa",
           "no próprio processo", "processo separado", "consola (sem credenciais: nada é enviado)",
           "não"],
}  # fmt: skip
ENGLISH = ["Database", "Event bus", "Dispatch worker", "Scheduler", "SMS provider", "Demo data",
           "Map library", "in-process", "separate process", "console", "no"]  # fmt: skip


def test_what_is_running_is_in_the_screens_language(browser, live_app):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        for lang, words in RUNNING.items():
            page.goto(f"{live_app.url}/?lang={lang}")
            page.wait_for_selector("#running")
            cells = page.locator("#running td").all_inner_texts()
            assert cells[0::2] == words[:8], (lang, cells)
            assert set(words[8:]) <= set(cells[1::2]), (lang, cells)
            assert not set(ENGLISH) & set(cells), (lang, cells)
            heading = page.inner_text("#running h2")
            assert heading != "What is running", lang
        page.goto(f"{live_app.url}/?lang=en")
        page.wait_for_selector("#running")
        assert "Event bus" in page.locator("#running td").all_inner_texts()
    finally:
        context.close()


TITLES = {
    "zh-Hans": "区域撤离令",
    "zh-Hant": "區域撤離令",
    "pt": "Ordem de evacuação de uma zona",
    "en": "Evacuation order for a zone",
}


def test_template_titles_follow_the_screens_language(browser, live_app):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = open_dashboard(context, live_app, lang="zh-Hant")
        option = "#compose select[name=template] option[value=evacuation_order]"
        page.wait_for_selector(option, state="attached")  # the templates are loaded
        assert page.inner_text(option) == TITLES["zh-Hant"]
        for lang, title in TITLES.items():
            page.select_option("#lang", lang)
            assert page.inner_text(option) == title, lang
        # every template has a title of its own in each language (no English left over)
        page.select_option("#lang", "pt")
        listed = page.locator("#compose select[name=template] option").all_inner_texts()
        page.select_option("#lang", "en")
        english = page.locator("#compose select[name=template] option").all_inner_texts()
        assert len(listed) == len(english) > 5
        assert not set(listed[1:]) & set(english[1:]), listed  # [0]: free text
        assert page.errors == []
    finally:
        context.close()


def test_the_signal_form_says_a_running_replay_leaves_ones_own_drill_alone(browser, live_app):
    mode = live_app.app.state.mode
    mode["replay"] = "yagi"  # as `typhoon serve --demo` has it
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = open_dashboard(context, live_app, lang="zh-Hans")
        note = page.locator("#signal-form [data-testid=replay-note]")
        assert "不会更改或除下" in note.inner_text() and "yagi" in note.inner_text()
        page.select_option("#lang", "pt")
        assert "não altera nem arria" in page.inner_text("#signal-form [data-testid=replay-note]")
    finally:
        mode.pop("replay", None)
        context.close()


def test_a_language_switch_reaches_the_map_note_and_the_freshness_label(browser, live_app):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = open_dashboard(context, live_app, lang="en")
        expect(page.locator("#map-note")).to_have_text("Zones are approximate, not surveyed")
        expect(page.locator("#fresh")).to_have_text(re.compile(r"updated \d+ s ago"))
        page.select_option("#lang", "zh-Hant")
        expect(page.locator("#map-note")).to_have_text("區域為近似示意，非測繪邊界")
        # the freshness label is rewritten every second in the screen's language
        expect(page.locator("#fresh")).to_have_text(re.compile(r"\d+ 秒前更新"))
        assert page.errors == []
    finally:
        context.close()
