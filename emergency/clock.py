"""Times: stored in UTC, shown in Asia/Macau (UTC+8, the same as Asia/Shanghai).

`Clock` is the time scheduled work is judged by (which timed jobs are due, which notices
are late, which signals expired): UTC now plus an offset. Each Runtime has one; production
never moves it, and a test moves it forward (`advance`) instead of waiting, then runs what
is due with `emergency.drain.drain`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, overload
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, PlainSerializer

from alerts.sqltypes import utcnow

LOCAL_TZ = ZoneInfo("Asia/Macau")


@overload
def local_iso(dt: datetime) -> str: ...
@overload
def local_iso(dt: datetime | None) -> str | None: ...
def local_iso(dt: datetime | None) -> str | None:
    """ISO-8601 in Macau time without fractions, e.g. 2024-09-05T22:00:00+08:00."""
    if dt is None:
        return None
    return dt.astimezone(LOCAL_TZ).replace(microsecond=0).isoformat()


class Clock:
    """UTC now, plus an offset that only tests move (forward or back)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move forward by `delta` or by timedelta(**parts) (e.g. minutes=16); the new now."""
        self.offset += delta if delta is not None else timedelta(**parts)
        return self.now()

    def reset(self) -> None:
        self.offset = timedelta(0)


# Times people send the API: within these years. Outside, a time is a typo or an attack (year
# 1 at +14:00 cannot even be turned into UTC, year 9999 plus a deadline overflows), not a
# storm: 422, never a 500.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def check_api_time(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"a time between {EARLIEST.year} and {LATEST.year - 1}")
    return value


# A time in a request body or query: checked to be within EARLIEST and LATEST.
ApiTime = Annotated[datetime, AfterValidator(check_api_time)]


# A time in an answer written as `datetime.isoformat()` gives it (`…+00:00`, not pydantic's
# `…Z`): the form of the answers that were plain dicts before they had response models.
IsoTime = Annotated[
    datetime, PlainSerializer(datetime.isoformat, return_type=str, when_used="json")
]
