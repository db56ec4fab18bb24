"""Times: stored in UTC, shown in Asia/Macau (UTC+8, the same as Asia/Shanghai)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Macau")


def local_iso(dt: datetime | None) -> str | None:
    """ISO-8601 in Macau time without fractions, e.g. 2024-09-05T22:00:00+08:00."""
    if dt is None:
        return None
    return dt.astimezone(LOCAL_TZ).replace(microsecond=0).isoformat()
