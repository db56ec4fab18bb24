"""CAP samples of tests/data/cap, made current: the samples are the real Typhoon Yagi
timeline (September 2024), and an alert whose <expires> has passed is (rightly) not applied.

`fresh(name)` moves every time in the document by the same amount, so that its <sent> is now
(or `at`), and can give it another identifier; the identifiers its <references> name stay as
they are, so a chain of samples still refers to itself.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from emergency.cap.build import cap_time

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "cap"
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
CAP_HEADERS = {"Content-Type": "application/cap+xml"}


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def fresh(
    name: str | bytes,
    *,
    at: datetime | None = None,
    identifier: str | None = None,
    status: str | None = None,
) -> bytes:
    text = sample(name).decode() if isinstance(name, str) else name.decode()
    sent = datetime.fromisoformat(re.search(r"<sent>([^<]+)</sent>", text)[1])
    target = (at or datetime.now(UTC)).replace(microsecond=0)
    delta = target - sent

    def shift(match: re.Match) -> str:
        return cap_time(datetime.fromisoformat(match[0]) + delta)

    head, sep, rest = text.partition("<references>")
    if sep:  # keep the referenced identifiers, move their times too
        refs, end, tail = rest.partition("</references>")
        text = _TIME.sub(shift, head) + sep + _TIME.sub(shift, refs) + end + _TIME.sub(shift, tail)
    else:
        text = _TIME.sub(shift, text)
    if identifier:
        text = re.sub(
            r"<identifier>[^<]+</identifier>",
            f"<identifier>{identifier}</identifier>",
            text,
            count=1,
        )
    if status:
        text = re.sub(r"<status>[^<]+</status>", f"<status>{status}</status>", text, count=1)
    return text.encode()


def minutes_ago(n: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=n)


def post_cap(app, data: bytes, role: str = "operator", headers: dict | None = None):
    return app.client.post(
        "/api/v1/cap", content=data, headers={**app.auth(role), **CAP_HEADERS, **(headers or {})}
    )
