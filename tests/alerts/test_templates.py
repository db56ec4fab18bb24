"""Message templates: the shipped file loads, renders in four languages, refuses code and
unknown or missing variables; the exercise mark."""

from __future__ import annotations

import pytest

from alerts.templates import EXERCISE_MARK, TemplateError, TemplateFile, mark_exercise
from alerts.text import segments
from emergency.configfiles import ConfigFileError, load_yaml, load_yaml_text
from emergency.settings import DEFAULT_CONFIG_DIR

FOUR = {"zh-Hans": "{a}甲", "zh-Hant": "{a}乙", "pt": "{a} c", "en": "{a} d"}


def load(text: str) -> TemplateFile:
    return load_yaml_text(text, TemplateFile, name="message_templates.yaml")


def one(messages: dict[str, str], variables: str = "a: x") -> str:
    lines = "\n".join(f'      {k}: "{v}"' for k, v in messages.items())
    return (
        f"templates:\n  t:\n    title: T\n    variables:\n      {variables}\n"
        f"    messages:\n{lines}\n"
    )


def test_shipped_templates_load_and_fit_one_segment():
    found = load_yaml(DEFAULT_CONFIG_DIR / "message_templates.yaml", TemplateFile)
    assert {
        "stay_indoors_signal8",
        "signal_lowered",
        "evacuation_order",
        "exercise_notice",
        "correction",
    } <= set(found.templates)
    assert found.get("stay_indoors_signal8").preapproved is True
    assert found.get("evacuation_order").preapproved is False
    for template_id, spec in found.templates.items():
        values = {name: "22:00" for name in spec.variables}
        for lang, text in spec.render(values).items():
            assert segments(text) == 1, (template_id, lang, text)


def test_shipped_templates_have_a_title_in_each_language():
    """The dashboard lists templates by title in the screen's language."""
    found = load_yaml(DEFAULT_CONFIG_DIR / "message_templates.yaml", TemplateFile)
    for template_id, spec in found.templates.items():
        assert set(spec.title) == {"zh-Hans", "zh-Hant", "pt", "en"}, template_id
        assert all(text.strip() for text in spec.title.values()), template_id
        assert len(set(spec.title.values())) == 4, (template_id, spec.title)  # translated


def test_a_title_is_english_alone_or_per_language_with_english():
    spec = load(one(FOUR)).get("t")  # title: T
    assert spec.title == {"en": "T"} and spec.title_in("pt") == "T"
    text = one(FOUR).replace("title: T", "title: {zh-Hans: 标题, en: Title}")
    spec = load(text).get("t")
    assert spec.title_in("zh-Hans") == "标题" and spec.title_in("zh-Hant") == "Title"
    with pytest.raises(ConfigFileError, match="no English title"):
        load(one(FOUR).replace("title: T", "title: {pt: Titulo}"))
    with pytest.raises(ConfigFileError, match="unknown language"):
        load(one(FOUR).replace("title: T", "title: {fr: Titre, en: Title}"))


def test_render_with_per_language_values():
    spec = load(one(FOUR)).get("t")
    out = spec.render({"a": {"zh-Hans": "简", "zh-Hant": "繁", "pt": "P", "en": "E"}})
    assert out == {"zh-Hans": "简甲", "zh-Hant": "繁乙", "pt": "P c", "en": "E d"}
    assert spec.render({"a": 8})["en"] == "8 d"


@pytest.mark.parametrize(
    "values,words",
    [
        ({}, "missing variable(s) a"),
        ({"a": "x", "b": "y"}, "unknown variable(s) b"),
        ({"a": {"zh-Hans": "x"}}, "no value for zh-Hant"),
        ({"a": {"fr": "x"}}, "unknown language(s) fr"),
        ({"a": ""}, "is empty"),
        ({"a": "x" * 201}, "longer than 200"),
        ({"a": ["x"]}, "must be a string"),
        ({"a": "bad\x00"}, "control characters"),
    ],
)
def test_render_refuses(values, words):
    spec = load(one(FOUR)).get("t")
    with pytest.raises(TemplateError) as caught:
        spec.render(values)
    assert words in caught.value.message


@pytest.mark.parametrize(
    "messages,variables,words",
    [
        ({**FOUR, "en": "{a.__class__}"}, "a: x", "not a plain variable name"),
        ({**FOUR, "en": "{a[0]}"}, "a: x", "not a plain variable name"),
        ({**FOUR, "en": "{a!r}"}, "a: x", "not a plain variable name"),
        ({**FOUR, "en": "{a:>99}"}, "a: x", "not a plain variable name"),
        ({**FOUR, "en": "{b} d"}, "a: x", "undeclared variable(s) b"),
        ({k: "no vars" for k in FOUR}, "a: x", "used by no message"),
        ({k: v for k, v in FOUR.items() if k != "pt"}, "a: x", "missing text for pt"),
        ({**FOUR, "fr": "x"}, "a: x", "unknown language(s) fr"),
        ({**FOUR, "en": "{a"}, "a: x", "bad braces"),
    ],
)
def test_bad_template_files_name_the_line(messages, variables, words):
    with pytest.raises(ConfigFileError) as caught:
        load(one(messages, variables))
    assert words in str(caught.value)
    assert str(caught.value).startswith("message_templates.yaml:")


def test_unknown_template():
    with pytest.raises(TemplateError, match="unknown template 'x'"):
        load(one(FOUR)).get("x")


def test_exercise_mark_in_every_language_once():
    texts = {"zh-Hans": "甲", "zh-Hant": "乙", "pt": "c", "en": "d"}
    marked = mark_exercise(texts)
    assert marked == {lang: EXERCISE_MARK[lang] + text for lang, text in texts.items()}
    assert mark_exercise(marked) == marked
    assert segments(marked["pt"]) == 1 and segments(marked["en"]) == 1
