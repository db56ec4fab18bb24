"""The fault run's count of SMS per path and its account of each duplicate (issue 19): a copy
too many is counted on its path and named with its outbox row and the times of its copies."""

from __future__ import annotations

import time

from alerts.dispatch.testing import seed_broadcast
from alerts.testing.twilio_server import Received
from tests.support.storm import count_paths, duplicate_details


def _received(to: str, body: str, at: float, n: int) -> Received:
    return Received(f"SM{n:012x}", to, "+15005550006", None, body, None, None, at)


def test_a_copy_too_many_is_counted_on_its_path_and_named_with_its_row(db) -> None:
    with db.unit_of_work() as session:
        seeded = seed_broadcast(session, count=3)
    started = time.time()
    received = [
        _received(to, text, started + n, n) for n, (to, text) in enumerate(seeded.expected.items())
    ]
    counts, unmatched = count_paths(db, received)
    assert (counts["broadcast"].messages, counts["broadcast"].duplicates, unmatched) == (3, 0, 0)
    assert duplicate_details(db, received, started) == []

    to, text = next(iter(seeded.expected.items()))
    twice = [*received, _received(to, text, started + 20.5, 9)]
    counts, unmatched = count_paths(db, twice)
    assert (counts["broadcast"].lost, counts["broadcast"].duplicates, unmatched) == (0, 1, 0)
    [line] = duplicate_details(db, twice, started)
    first_id = seeded.message_ids[0]  # the rows are written in the order of `expected`
    assert line.startswith(f"broadcast: 2 copies of row {first_id} of broadcast ")
    assert "(queued, 0 attempts" in line and line.endswith("at 0.0 s, SM000000000009… at 20.5 s")
