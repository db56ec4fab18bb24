"""Subscribers and broadcasts for the tests, written straight through the services."""

from __future__ import annotations

import itertools

import numpy as np

from alerts.languages import LANGUAGES
from alerts.subscribers import service as subscriber_service

# Points well inside zones (GEOGRAPHY.md; the demo zone files).
XIAOHENGQIN = (22.105, 113.53)
LIANHUA = (22.145, 113.545)
FUXIANGWAN = (22.095, 113.49)
TAIPA = (22.155, 113.56)  # Macau side, outside every zone

_numbers = itertools.count(10_000_000)

TEXTS = {
    "zh-Hans": "【横琴三防】8号风球生效，请留在室内。",
    "zh-Hant": "【橫琴三防】8號風球生效，請留在室內。",
    "pt": "[Hengqin] Sinal 8 em vigor. Fique em casa.",
    "en": "[Hengqin] Signal No. 8 in force. Stay indoors.",
}


def new_phone() -> str:
    """A valid mainland mobile number, new on each call."""
    return f"+86138{next(_numbers) % 10**8:08d}"


def seed(
    db,
    zones,
    count: int,
    *,
    at=XIAOHENGQIN,
    spread: float = 0.002,
    languages=LANGUAGES,
    exercise: bool = False,
    channels: str = "sms",
    seed: int = 1,
) -> list[str]:
    """`count` subscribers around `at`, languages round-robin; returns their phones."""
    rng = np.random.default_rng(seed)
    phones = []
    rows = []
    for i in range(count):
        phone = new_phone()
        phones.append(phone)
        rows.append(
            {
                "phone": phone,
                "language": languages[i % len(languages)],
                "lat": float(at[0] + rng.uniform(-spread, spread)),
                "lon": float(at[1] + rng.uniform(-spread, spread)),
                "zone_id": None,
                "channels": channels,
                "name": None,
                "tags": "exercise" if exercise else "",
                "exercise_list": exercise,
            }
        )
    for start in range(0, len(rows), 5000):
        chunk = rows[start : start + 5000]
        subscriber_service.assign_zones(chunk, zones=zones)
        with db.unit_of_work() as session:
            subscriber_service.upsert(session, chunk)
    return phones
