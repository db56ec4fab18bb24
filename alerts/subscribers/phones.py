"""Phone numbers to E.164, for residents of Hengqin and Macau.

Lists come with numbers written every way: ``+853 6612 3456``, ``00853-66123456``,
``66123456`` (a Macau mobile, 8 digits starting with 6), ``138 1234 5678`` (a mainland
mobile, 11 digits starting with 1), ``+8613812345678``. The rules:

- a number in international form (``+…`` or ``00…``) is taken as written, from any country;
- a local number is read in the default regions, in order: Macau (``MO``) then the mainland
  (``CN``); an 8-digit number starting with 6 is Macau, an 11-digit one starting with 1 is
  the mainland; ``853…``/``86…`` without the ``+`` are accepted too;
- only numbers that can receive an SMS pass: mobile (or "fixed line or mobile", as some
  countries cannot tell). A landline, a toll-free or premium number, or a number that is
  not valid in its country is refused with the reason.

The library is libphonenumber's metadata (``phonenumbers``), so new mobile ranges come with
its updates rather than with edits here.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

DEFAULT_REGIONS: tuple[str, ...] = ("MO", "CN")

_SEPARATORS = re.compile(r"[\s\-.()/\u00a0\u3000]+")
_DIGITS = re.compile(r"^\+?\d+$")
_SMS_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "a landline (fixed-line) number",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.VOIP: "a VoIP number",
    PhoneNumberType.PERSONAL_NUMBER: "a personal (forwarding) number",
    PhoneNumberType.PAGER: "a pager number",
    PhoneNumberType.UAN: "a universal access number",
    PhoneNumberType.VOICEMAIL: "a voicemail number",
}
_HOW = (
    "use a Macau mobile (8 digits starting with 6, or +853…), a mainland mobile "
    "(11 digits starting with 1, or +86…), or any mobile in international form (+…)"
)


class PhoneError(ValueError):
    """A number that cannot receive our SMS; the message says why."""


def normalise_phone(raw: str, *, regions: tuple[str, ...] = DEFAULT_REGIONS) -> str:
    """The E.164 form (``+85366123456``) of a mobile number, or :class:`PhoneError`."""
    text = _SEPARATORS.sub("", raw or "")
    if not text:
        raise PhoneError("phone is empty")
    if text.startswith("00"):
        text = "+" + text[2:]
    if not _DIGITS.match(text):
        raise PhoneError(
            f"{raw.strip()!r} is not a phone number: only digits, spaces, "
            "'-', '.', '(', ')' and a leading '+' are allowed"
        )
    if len(text.lstrip("+")) > 15:
        raise PhoneError(
            f"{raw.strip()!r} is too long for a phone number (E.164 has at most 15 digits)"
        )

    fast = _fast_mobile(text, regions)
    if fast is not None:
        return fast
    candidates: list[tuple[str, str | None]]
    if text.startswith("+"):
        candidates = [(text, None)]
    else:
        candidates = [(text, region) for region in _regions_for(text, regions)]
        if text.startswith(("853", "86")):
            candidates.append(("+" + text, None))

    refused: str | None = None
    for number, region in candidates:
        try:
            parsed = phonenumbers.parse(number, region)
        except NumberParseException:
            continue
        kind = phonenumbers.number_type(parsed)  # UNKNOWN unless the number is valid
        if kind == PhoneNumberType.UNKNOWN:
            continue
        if kind in _SMS_TYPES:
            return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
        refused = refused or _TYPE_NAMES.get(kind, "not a mobile number")
    if refused:
        raise PhoneError(f"{raw.strip()!r} is {refused}: SMS cannot reach it; {_HOW}")
    raise PhoneError(f"{raw.strip()!r} is not a valid mobile number: {_HOW}")


def _regions_for(digits: str, regions: tuple[str, ...]) -> list[str]:
    """The default regions, the likeliest first for the number's shape."""
    if len(digits) == 8 and digits.startswith("6") and "MO" in regions:
        return ["MO", *[r for r in regions if r != "MO"]]
    if len(digits) == 11 and digits.startswith("1") and "CN" in regions:
        return ["CN", *[r for r in regions if r != "CN"]]
    return list(regions)


# --- the fast path ------------------------------------------------------------------------
# A million-row import spends most of its time in phonenumbers.parse. For the shapes that
# make up nearly every Hengqin list (Macau 8 digits, mainland 11 digits starting with 1, with
# or without their country code) the national number is tested directly against the same
# metadata, in the order ``number_type`` uses: the general pattern, then every type that
# takes precedence over mobile, then mobile. Anything else takes the full path above.

_ORDER_BEFORE_MOBILE = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


class _Region:
    def __init__(self, region: str) -> None:
        from phonenumbers import PhoneMetadata, PhoneNumberDesc

        meta = PhoneMetadata.metadata_for_region(region)
        if meta is None:
            raise ValueError(f"no phone number metadata for region {region!r}")
        self.prefix = f"+{meta.country_code}"

        def pattern(desc: PhoneNumberDesc | None) -> re.Pattern[str] | None:
            if desc is None or desc.national_number_pattern is None:
                return None
            return re.compile(f"(?:{desc.national_number_pattern})")

        self.general = pattern(meta.general_desc)
        self.before = [p for p in (pattern(getattr(meta, n)) for n in _ORDER_BEFORE_MOBILE) if p]
        self.mobile = pattern(meta.mobile)
        self.lengths = tuple(meta.mobile.possible_length or ()) if meta.mobile else ()

    def mobile_e164(self, national: str) -> str | None:
        if len(national) not in self.lengths or self.mobile is None or self.general is None:
            return None
        if not self.general.fullmatch(national) or not self.mobile.fullmatch(national):
            return None
        if any(p.fullmatch(national) for p in self.before):
            return None
        return self.prefix + national


_FAST: dict[str, _Region] = {}


def _region(code: str) -> _Region:
    found = _FAST.get(code)
    if found is None:
        found = _FAST[code] = _Region(code)
    return found


def _fast_mobile(text: str, regions: tuple[str, ...]) -> str | None:
    digits = text.lstrip("+")
    international = text.startswith("+")
    if len(digits) == 11 and digits.startswith("853"):
        return _region("MO").mobile_e164(digits[3:])
    if len(digits) == 13 and digits.startswith("86"):
        return _region("CN").mobile_e164(digits[2:])
    if international:
        return None
    if len(digits) == 8 and "MO" in regions:
        return _region("MO").mobile_e164(digits)
    if len(digits) == 11 and digits.startswith("1") and "CN" in regions:
        return _region("CN").mobile_e164(digits)
    return None
