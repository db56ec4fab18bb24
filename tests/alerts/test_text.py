"""SMS encoding and segment counting (GSM 03.38 / UCS-2), as carriers and Twilio bill them."""

from decimal import Decimal

import pytest

from alerts.text import MAX_BODY_CHARS, preview, segments, sms_encoding, units


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 153 * 2, 2),
        ("a" * 307, 3),
        ("中" * 70, 1),
        ("中" * 71, 2),
        ("中" * 134, 2),
        ("中" * 135, 3),
        ("", 1),
    ],
)
def test_known_segment_counts(text: str, expected: int) -> None:
    assert segments(text) == expected


def test_gsm7_basic_text_and_chinese_text() -> None:
    assert sms_encoding("Typhoon signal No. 8: stay indoors @ home, £5 ¥5 $5 É") == "GSM-7"
    assert sms_encoding("八號烈風或暴風信號") == "UCS-2"
    # One Chinese character turns the whole (otherwise GSM) message into UCS-2.
    assert sms_encoding("Signal 8 八") == "UCS-2"


@pytest.mark.parametrize("char", ["€", "{", "}", "[", "]", "~", "^", "|", "\\"])
def test_extension_table_characters_count_two_septets(char: str) -> None:
    assert sms_encoding(char) == "GSM-7"
    assert units(char) == 2
    assert segments(char * 80) == 1  # 160 septets
    assert segments(char * 81) == 2


def test_escape_sequence_is_not_split_across_parts() -> None:
    # 152 septets then a 2-septet '€' cannot share the first 153-septet part.
    text = "a" * 152 + "€" + "a" * 10
    assert units(text) == 164
    assert segments(text) == 2
    text = "a" * 152 + "€" + "a" * 152  # 306 septets, but the € forces a third part
    assert segments(text) == 3


def test_emoji_forces_ucs2_and_counts_two_units() -> None:
    assert sms_encoding("Stay safe 🙏") == "UCS-2"
    assert units("🙏") == 2
    assert segments("🙏" * 35) == 1  # 70 UTF-16 units
    assert segments("🙏" * 36) == 2


def test_portuguese_accents_mostly_need_ucs2() -> None:
    assert sms_encoding("Sinal 8 em vigor: não saia de casa") == "UCS-2"  # ã
    assert sms_encoding("Atenção") == "UCS-2"  # ç (only Ç is in GSM 03.38)
    assert sms_encoding("É perigoso: fique em casa, à espera") == "GSM-7"


def test_preview() -> None:
    text = "八號風球現正生效，請留在室內。" * 5  # 75 characters
    p = preview(text, Decimal("0.05"))
    assert p == {
        "encoding": "UCS-2",
        "characters": 75,
        "units": 75,
        "segments": 2,
        "cost": Decimal("0.10"),
        "too_long": False,
    }
    assert preview("a" * 307, 0.05)["cost"] == 0.15
    assert preview("a" * (MAX_BODY_CHARS + 1))["too_long"] is True
    assert MAX_BODY_CHARS == 1600
