"""The signal catalogue: config/signals.yaml, level order, comparisons, names, codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from emergency.catalogue import (
    LANGUAGES,
    Catalogue,
    Change,
    InvalidSignalCode,
    SignalCode,
    UnknownSignal,
    format_signal_code,
    load_catalogue,
    parse_signal_code,
)
from emergency.configfiles import ConfigFileError

SIGNALS_YAML = Path(__file__).resolve().parents[2] / "config" / "signals.yaml"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(SIGNALS_YAML)


def ids(catalogue: Catalogue, source: str, kind: str) -> list[str]:
    return [level.id for level in catalogue.levels(source, kind)]


def test_sources_and_kinds(catalogue: Catalogue) -> None:
    assert catalogue.kinds() == [
        ("SMG", "tropical_cyclone"),
        ("SMG", "rainstorm"),
        ("SMG", "storm_surge"),
        ("ZHUHAI", "typhoon"),
        ("ZHUHAI", "rainstorm"),
        ("HENGQIN", "response_level"),
    ]


def test_levels_in_order_of_severity(catalogue: Catalogue) -> None:
    assert ids(catalogue, "SMG", "tropical_cyclone") == [
        "1",
        "3",
        "8NE",
        "8SE",
        "8SW",
        "8NW",
        "9",
        "10",
    ]
    assert ids(catalogue, "SMG", "rainstorm") == ["yellow", "red", "black"]
    assert ids(catalogue, "SMG", "storm_surge") == ["blue", "yellow", "orange", "red", "black"]
    assert ids(catalogue, "ZHUHAI", "typhoon") == ["white", "blue", "yellow", "orange", "red"]
    assert ids(catalogue, "ZHUHAI", "rainstorm") == ["yellow", "orange", "red"]
    assert ids(catalogue, "HENGQIN", "response_level") == ["IV", "III", "II", "I"]
    for source, kind in catalogue.kinds():
        ranks = [level.rank for level in catalogue.levels(source, kind)]
        assert ranks == sorted(ranks), (source, kind)
        assert catalogue.kind(source, kind).replaces_current


def test_the_four_no8_signals_share_one_rank(catalogue: Catalogue) -> None:
    ranks = {catalogue.rank("SMG", "tropical_cyclone", q) for q in ("8NE", "8SE", "8SW", "8NW")}
    assert len(ranks) == 1
    assert (
        catalogue.rank("SMG", "tropical_cyclone", "3")
        < ranks.pop()
        < catalogue.rank("SMG", "tropical_cyclone", "9")
    )
    assert catalogue.rank("HENGQIN", "response_level", "I") > catalogue.rank(
        "HENGQIN", "response_level", "IV"
    )
    assert catalogue.rank("SMG", "tropical_cyclone", None) == 0


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("1", "3", Change.UPGRADE),
        ("8NE", "8SE", Change.CHANGE),
        ("8NE", "3", Change.DOWNGRADE),
        (None, "1", Change.RAISE),
        ("3", None, Change.LOWER),
        ("8NE", "8NE", Change.SAME),
        (None, None, Change.SAME),
        ("8SW", "10", Change.UPGRADE),
    ],
)
def test_compare(catalogue: Catalogue, old: str | None, new: str | None, expected: Change) -> None:
    assert catalogue.compare("SMG", "tropical_cyclone", old, new) == expected
    assert catalogue.compare("SMG", "tropical_cyclone", old, new) == expected.value  # a str too


def test_compare_other_kinds(catalogue: Catalogue) -> None:
    assert catalogue.compare("ZHUHAI", "typhoon", "yellow", "orange") == "upgrade"
    assert catalogue.compare("HENGQIN", "response_level", "I", "III") == "downgrade"
    assert catalogue.compare("SMG", "storm_surge", "orange", None) == "lower"


def test_unknown_level_names_it_and_lists_valid_levels(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownSignal) as info:
        catalogue.level("SMG", "tropical_cyclone", "purple")
    message = str(info.value)
    assert "'purple' is not a level of SMG tropical_cyclone" in message
    assert "1, 3, 8NE, 8SE, 8SW, 8NW, 9, 10" in message
    assert info.value.code == "unknown_signal"
    assert info.value.valid == ["1", "3", "8NE", "8SE", "8SW", "8NW", "9", "10"]
    assert isinstance(info.value, ValueError)  # usable inside pydantic validators


def test_unknown_source_and_kind(catalogue: Catalogue) -> None:
    with pytest.raises(
        UnknownSignal, match=r"unknown signal source 'HKO'; valid: SMG, ZHUHAI, HENGQIN"
    ):
        catalogue.level("HKO", "tropical_cyclone", "8NE")
    with pytest.raises(
        UnknownSignal, match=r"unknown kind 'typhoon' of source SMG; valid: tropical_cyclone"
    ):
        catalogue.rank("SMG", "typhoon", "red")
    with pytest.raises(UnknownSignal):
        catalogue.compare("SMG", "tropical_cyclone", "8", "9")  # "8" alone is ambiguous


def test_lookups_are_loose_and_answer_canonical_ids(catalogue: Catalogue) -> None:
    assert catalogue.level("smg", "Tropical_Cyclone", "8 ne").id == "8NE"
    assert catalogue.level("SMG", "tropical_cyclone", 10).id == "10"  # type: ignore[arg-type]
    assert catalogue.level("SMG", "tropical_cyclone", "T8NW").id == "8NW"
    assert catalogue.level("ZHUHAI", "typhoon", "橙色").id == "orange"
    assert catalogue.level("SMG", "rainstorm", "紅").id == "red"
    assert catalogue.level("HENGQIN", "response_level", "Ⅲ").id == "III"
    assert catalogue.canonical("smg", "storm_surge", None) == ("SMG", "storm_surge", None)
    source, kind, level = catalogue.normalise("zhuhai", "TYPHOON", "Yellow")
    assert (source, kind, level) == ("ZHUHAI", "typhoon", "yellow")


def test_names_in_every_language(catalogue: Catalogue) -> None:
    for code in catalogue:
        level = catalogue.level(*code)
        for language in LANGUAGES:
            assert level.names[language].strip(), (code, language)
            assert level.short_name(language).strip()
            assert level.meaning_in(language).strip()
        assert level.meaning["en"] and level.meaning["zh-Hans"]
    names = catalogue.names("SMG", "tropical_cyclone", "8NE")
    assert names == {
        "zh-Hans": "八号东北烈风或暴风信号",
        "zh-Hant": "八號東北烈風或暴風信號",
        "pt": "Sinal n.º 8 de Vendaval ou Tempestade de Nordeste",
        "en": "Gale or Storm Signal No. 8 Northeast",
    }
    assert catalogue.name("ZHUHAI", "typhoon", "yellow", language="zh-Hans") == "台风黄色预警信号"
    assert (
        catalogue.name("HENGQIN", "response_level", "III", language="zh-Hans")
        == "防风III级应急响应"
    )
    assert catalogue.name("SMG", "rainstorm", language="en") == "Rainstorm Warning Signal"


def test_signal_codes(catalogue: Catalogue) -> None:
    assert parse_signal_code("SMG:tropical_cyclone:8NE") == SignalCode(
        "SMG", "tropical_cyclone", "8NE"
    )
    assert format_signal_code("SMG", "tropical_cyclone", "8NE") == "SMG:tropical_cyclone:8NE"
    assert str(SignalCode("ZHUHAI", "typhoon", "red")) == "ZHUHAI:typhoon:red"
    assert parse_signal_code("SMG:rainstorm", allow_no_level=True).level is None
    assert catalogue.resolve("smg:tropical_cyclone:8 se") == ("SMG", "tropical_cyclone", "8SE")
    for bad in ("SMG:tropical_cyclone", "SMG::8NE", "8NE", "a:b:c:d", ""):
        with pytest.raises(InvalidSignalCode, match="SOURCE:kind:level"):
            parse_signal_code(bad)
    with pytest.raises(UnknownSignal):
        catalogue.resolve("SMG:tropical_cyclone:11")
    assert len(list(catalogue)) == 28


def test_thresholds_and_cap_severity(catalogue: Catalogue) -> None:
    assert catalogue.at_least("SMG", "tropical_cyclone", "8SW", "8NE")
    assert catalogue.at_least("SMG", "tropical_cyclone", "10", "8NE")
    assert not catalogue.at_least("SMG", "tropical_cyclone", "3", "8NE")
    assert not catalogue.at_least("SMG", "tropical_cyclone", None, "1")
    assert catalogue.cap_severity("SMG", "tropical_cyclone", "10") == "Extreme"
    assert catalogue.cap_severity("SMG", "tropical_cyclone", "8NE") == "Severe"
    assert catalogue.cap_severity("ZHUHAI", "typhoon", "orange") == "Severe"
    assert catalogue.cap_severity("ZHUHAI", "typhoon", "blue") == "Minor"
    assert catalogue.cap_severity("HENGQIN", "response_level", "I") == "Extreme"


def _minimal(levels: str) -> str:
    names = "{zh-Hans: a, zh-Hant: a, pt: a, en: a}"
    return f"""\
version: 1
sources:
  - id: SMG
    names: {names}
    kinds:
      - id: tropical_cyclone
        names: {names}
        levels:
{levels}"""


def test_a_broken_catalogue_names_file_line_and_field(tmp_path: Path) -> None:
    level = "          - {{id: '{id}', rank: {rank}, names: {{zh-Hans: a, zh-Hant: a, pt: a, en: a}}, meaning: {{en: a, zh-Hans: a}}}}"
    path = tmp_path / "signals.yaml"
    path.write_text(
        _minimal(level.format(id="3", rank=3) + "\n" + level.format(id="1", rank=1) + "\n")
    )
    with pytest.raises(ConfigFileError) as info:
        load_catalogue(path)
    assert f"{path}:6: sources[0].kinds[0]" in str(info.value)
    assert "lowest to highest" in str(info.value)

    path.write_text(_minimal(level.format(id="1", rank=1).replace("pt: a, ", "") + "\n"))
    with pytest.raises(ConfigFileError) as info:
        load_catalogue(path)
    assert f"{path}:9: sources[0].kinds[0].levels[0].names: names missing for pt" in str(info.value)

    path.write_text(
        _minimal(level.format(id="1", rank=1) + "\n" + level.format(id="t1", rank=2) + "\n")
    )
    assert load_catalogue(path).level("SMG", "tropical_cyclone", "T1").id == "t1"
    path.write_text(
        _minimal(level.format(id="1", rank=1) + "\n" + level.format(id="1", rank=2) + "\n")
    )
    with pytest.raises(ConfigFileError, match="already used by level '1'"):
        load_catalogue(path)
