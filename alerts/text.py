"""SMS text facts: which encoding a text needs, how many segments it costs, and a preview.

Carriers bill and Twilio rate-limits by *segment*, not by message, so the dispatcher uses
these numbers to size a broadcast's ETA and cost before anything is sent.

- GSM-7 (GSM 03.38): 160 septets in one segment, 153 per part when concatenated (the
  user-data header takes 7). Characters from the extension table (``€ { } [ ] ~ ^ | \\``
  and form feed) take two septets (escape + code) and are never split across parts.
- Anything outside GSM-7 (any Chinese character, most accented Portuguese letters such as
  ``ã``/``ç``, emoji) turns the *whole* message into UCS-2: 70 UTF-16 code units in one
  segment, 67 per part; characters outside the BMP (emoji) are surrogate pairs, 2 units,
  kept whole within a part.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, TypedDict

Encoding = Literal["GSM-7", "UCS-2"]

#: Twilio rejects longer bodies (error 21617); it recommends staying at or below 320.
MAX_BODY_CHARS = 1600
RECOMMENDED_MAX_CHARS = 320
#: Twilio's limit on the parts of one concatenated message (longer ones fail or arrive in
#: pieces); a text for people is kept within it when it is written.
MAX_SEGMENTS = 10

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67

# GSM 03.38 default alphabet (0x1B, the escape, is left out: it is not a character).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs an escape septet plus its own.
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


class Preview(TypedDict):
    encoding: Encoding
    characters: int
    units: int
    segments: int
    cost: float | Decimal
    too_long: bool


def sms_encoding(text: str) -> Encoding:
    """The encoding a handset will use: GSM-7 if every character is in GSM 03.38."""
    for ch in text:
        if ch not in GSM7_BASIC and ch not in GSM7_EXTENDED:
            return "UCS-2"
    return "GSM-7"


def _unit_widths(text: str, encoding: Encoding) -> list[int]:
    if encoding == "GSM-7":
        return [2 if ch in GSM7_EXTENDED else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def units(text: str) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) the text occupies."""
    return sum(_unit_widths(text, sms_encoding(text)))


def _count_segments(widths: list[int], single: int, part: int) -> int:
    total = sum(widths)
    if total <= single:
        return 1
    # Fill parts greedily without splitting an escape sequence or a surrogate pair, as
    # handsets and Twilio do; this can need one more part than a plain ceil(total/part).
    parts, used = 1, 0
    for width in widths:
        if used + width > part:
            parts += 1
            used = 0
        used += width
    return parts


def segments(text: str) -> int:
    """Number of SMS segments the text is billed as (an empty text still costs 1)."""
    encoding = sms_encoding(text)
    widths = _unit_widths(text, encoding)
    if encoding == "GSM-7":
        return _count_segments(widths, GSM7_SINGLE, GSM7_PART)
    return _count_segments(widths, UCS2_SINGLE, UCS2_PART)


def preview(text: str, price_per_segment: float | Decimal = 0.0) -> Preview:
    """What an operator sees before sending: encoding, length, segments, cost per recipient.

    ``cost`` keeps the type of ``price_per_segment`` (pass a Decimal for money).
    """
    encoding = sms_encoding(text)
    widths = _unit_widths(text, encoding)
    if encoding == "GSM-7":
        count = _count_segments(widths, GSM7_SINGLE, GSM7_PART)
    else:
        count = _count_segments(widths, UCS2_SINGLE, UCS2_PART)
    cost = price_per_segment * count
    if isinstance(cost, float):
        cost = round(cost, 6)  # 0.05 * 3 should read 0.15, not 0.15000000000000002
    return Preview(
        encoding=encoding,
        characters=len(text),
        units=sum(widths),
        segments=count,
        cost=cost,
        too_long=len(text) > MAX_BODY_CHARS,
    )


def body_problem(text: str, *, reserve: int = 0) -> str | None:
    """Why Twilio would refuse ``text`` as one message body (None: it would not), keeping
    ``reserve`` characters for what is appended to it (a personal link, a drill mark). A
    longer body is refused by Twilio as a whole (error 21617) or, split by hand, arrives in
    pieces: a text for people is refused when it is written, with this reason (its length
    in characters and segments)."""
    room = MAX_BODY_CHARS - reserve
    if len(text) > room:
        return (
            f"{len(text)} characters; at most {room} (an SMS body is at most {MAX_BODY_CHARS}"
            + (f", {reserve} kept for the link and marks added to it)" if reserve else ")")
        )
    # The segments of the text itself: a caller that appends something checks the whole
    # message again once it is composed (the liaison desk does, with each contact's link).
    parts = segments(text)
    if parts > MAX_SEGMENTS:
        return (
            f"{len(text)} characters ({sms_encoding(text)}) make {parts} SMS segments; at most "
            f"{MAX_SEGMENTS} (Twilio refuses longer)"
        )
    return None
