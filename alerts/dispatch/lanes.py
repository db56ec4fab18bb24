"""Priority lanes: what goes first when the SMS rate ceiling cannot send everything at once.

Every broadcast has a ``priority``; its outbox ids travel in the queue lane of that name, and
a worker always serves the highest non-empty lane first, under the same rate ceiling (see
``alerts.dispatch.queue`` and ``alerts.dispatch.worker``). An evacuation order drafted while a
200,000-recipient broadcast is being sent goes out within a second, not after it.
"""

from __future__ import annotations

from typing import Literal, get_args

Priority = Literal["emergency", "high", "normal"]

EMERGENCY: Priority = "emergency"
HIGH: Priority = "high"
NORMAL: Priority = "normal"
#: Highest first: the order a worker serves them in.
LANES: tuple[Priority, ...] = get_args(Priority)


def lane(priority: str | None) -> Priority:
    """The lane of a stored priority (an unknown or missing one is ``normal``)."""
    for known in LANES:
        if priority == known:
            return known
    return NORMAL


def at_or_above(priority: str | None) -> tuple[Priority, ...]:
    """The lanes served before or with ``priority``: what is ahead of its messages."""
    return LANES[: LANES.index(lane(priority)) + 1]
