"""The QR code a team's phone scans to open the field form with its token (segno: pure
Python, no system libraries). Medium error correction survives a creased printout."""

from __future__ import annotations

import io

import segno


def png(url: str, *, scale: int = 6) -> bytes:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def png_data_uri(url: str) -> str:
    return segno.make(url, error="m").png_data_uri(scale=6, border=4)


def terminal(url: str) -> str:
    """The code drawn with block characters, for `typhoon field link` in a terminal."""
    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()
