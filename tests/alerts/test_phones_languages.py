"""Phone numbers to E.164 (Macau first, then the mainland) and language spellings."""

from __future__ import annotations

import random

import pytest

from alerts.languages import LanguageError, normalise_language
from alerts.subscribers import phones
from alerts.subscribers.phones import PhoneError, normalise_phone

GOOD = [
    ("66123456", "+85366123456"),  # Macau mobile, 8 digits starting with 6
    ("6612 3456", "+85366123456"),
    ("+853 6612 3456", "+85366123456"),
    ("00853-66123456", "+85366123456"),
    ("85366123456", "+85366123456"),  # country code without the +
    ("13812345678", "+8613812345678"),  # mainland mobile, 11 digits starting with 1
    ("138-1234-5678", "+8613812345678"),
    ("(138) 1234 5678", "+8613812345678"),
    ("+86 138 1234 5678", "+8613812345678"),
    ("008613812345678", "+8613812345678"),
    ("8613812345678", "+8613812345678"),
    ("+8619912345678", "+8619912345678"),
    ("+852 9123 4567", "+85291234567"),  # a Hong Kong mobile in international form
    ("+44 7400 123456", "+447400123456"),
]

BAD = [
    ("28211234", "landline"),  # Macau fixed line
    ("+853 2821 1234", "landline"),
    ("+86 20 8765 4321", "landline"),  # Guangzhou fixed line
    ("020-87654321", "landline"),
    ("12345", "not a valid mobile number"),
    ("64000007", "not a valid mobile number"),  # 64… is not an allocated Macau mobile range
    ("14812345678", "not a valid mobile number"),
    ("+8514812345", "not a valid mobile number"),
    ("", "empty"),
    ("   ", "empty"),
    ("66l23456", "not a phone number"),
    ("+853 6612 3456 ext 12", "not a phone number"),
    ("1" * 20, "too long"),
]


@pytest.mark.parametrize("raw,e164", GOOD)
def test_valid_mobile_numbers(raw, e164):
    assert normalise_phone(raw) == e164


@pytest.mark.parametrize("raw,reason", BAD)
def test_refused_numbers_say_why(raw, reason):
    with pytest.raises(PhoneError) as caught:
        normalise_phone(raw)
    assert reason in str(caught.value)
    if reason == "landline":
        assert "SMS cannot reach it" in str(caught.value)


def test_fast_path_agrees_with_phonenumbers():
    """The metadata fast path gives exactly what the full phonenumbers path gives."""
    rng = random.Random(7)
    for i in range(20_000):
        kind = i % 4
        if kind == 0:
            raw = str(rng.randrange(10**7, 10**8))
        elif kind == 1:
            raw = "1" + str(rng.randrange(10**9, 10**10))
        elif kind == 2:
            raw = "+853" + str(rng.randrange(10**7, 10**8))
        else:
            raw = "+861" + str(rng.randrange(10**9, 10**10))
        fast = phones._fast_mobile(raw, phones.DEFAULT_REGIONS)
        if fast is None:
            continue
        original = phones._fast_mobile
        phones._fast_mobile = lambda *_a: None
        try:
            assert normalise_phone(raw) == fast, raw
        finally:
            phones._fast_mobile = original


@pytest.mark.parametrize(
    "raw,tag",
    [
        ("zh-Hans", "zh-Hans"),
        ("zh-CN", "zh-Hans"),
        ("ZH_cn", "zh-Hans"),
        ("zh", "zh-Hans"),
        ("简体中文", "zh-Hans"),
        ("zh-Hant", "zh-Hant"),
        ("zh-TW", "zh-Hant"),
        ("zh-hk", "zh-Hant"),
        ("ZH-MO", "zh-Hant"),
        ("yue", "zh-Hant"),
        ("繁體", "zh-Hant"),
        ("pt", "pt"),
        ("pt-PT", "pt"),
        ("PT-br", "pt"),
        ("Português", "pt"),
        ("en", "en"),
        ("en-GB", "en"),
        ("English", "en"),
        (" en ", "en"),
    ],
)
def test_language_spellings(raw, tag):
    assert normalise_language(raw) == tag


@pytest.mark.parametrize("raw", ["fr", "", "zh-XX", "klingon", "e"])
def test_unknown_languages(raw):
    with pytest.raises(LanguageError, match="zh-Hans, zh-Hant, pt or en"):
        normalise_language(raw)
