"""Outbox rows in bulk for tests and benchmarks: what `start_sending` leaves behind.

``seed_broadcast`` stores a broadcast in ``sending``, one subscriber per recipient and one
``queued`` message per recipient, in one transaction with Core inserts (200,000 rows in a
few seconds), and returns the ids to enqueue. Numbers are Macau mobiles from
``+8536…``; texts are per language, as the broadcasts service stores them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from alerts.dispatch.store import B, M, P, S
from alerts.models import LANGUAGES
from alerts.sqltypes import utcnow
from alerts.text import segments

TEXTS = {
    "zh-Hans": "八号风球现正生效。请留在室内，远离窗户。横琴三防指挥部",
    "zh-Hant": "八號風球現正生效。請留在室內，遠離窗戶。橫琴三防指揮部",
    "pt": "Sinal 8 de tufao em vigor. Fique em casa, longe das janelas. Hengqin",
    "en": "Typhoon signal 8 is in force. Stay indoors, away from windows. Hengqin command post",
}


def phone(i: int, prefix: str = "+8536") -> str:
    return f"{prefix}{i:07d}"


@dataclass
class Seeded:
    broadcast_id: int
    message_ids: list[int]
    expected: dict[str, str]  # address → the text it should receive
    subscriber_ids: dict[str, int]  # address → subscriber id


def _insert_broadcast(
    session: Session,
    *,
    texts: dict[str, str],
    status: str,
    channel: str,
    recipients: int,
    now: datetime,
) -> int:
    """A started test broadcast's row; its id."""
    broadcast_id: int = session.execute(
        insert(B)
        .values(
            status=status,
            title="Signal 8",
            messages=texts,
            zones=[],
            channels=[channel],
            exercise=False,
            recipients=recipients,
            by_language={},
            origin="test",
            created_by="test",
            created_at=now,
            started_at=now,
        )
        .returning(B.c.id)
    ).scalar_one()
    return broadcast_id


def seed_broadcast(
    session: Session,
    *,
    count: int,
    texts: dict[str, str] | None = None,
    languages: Sequence[str] = LANGUAGES,
    start: int = 0,
    channel: str = "sms",
    addresses: Iterable[str] | None = None,
    status: str = "sending",
    chunk: int = 5000,
    expect: bool = True,
) -> Seeded:
    """A broadcast to ``count`` new subscribers (languages round-robin), its messages queued."""
    texts = dict(texts or TEXTS)
    now = utcnow()
    broadcast_id = _insert_broadcast(
        session, texts=texts, status=status, channel=channel, recipients=count, now=now
    )
    numbers = list(addresses) if addresses is not None else None
    if numbers is not None and len(numbers) != count:
        raise ValueError("addresses must have `count` items")
    sizes = {lang: segments(text) for lang, text in texts.items()}
    expected: dict[str, str] = {}
    subscriber_ids: dict[str, int] = {}
    message_ids: list[int] = []
    for first in range(0, count, chunk):
        span = range(first, min(count, first + chunk))
        chunk_numbers = [numbers[i] if numbers else phone(start + i) for i in span]
        chunk_langs = [languages[i % len(languages)] for i in span]
        people = [
            dict(
                phone=number,
                language=lang,
                channels=channel,
                tags="",
                exercise_list=False,
                opted_out=False,
                created_at=now,
                updated_at=now,
            )
            for number, lang in zip(chunk_numbers, chunk_langs, strict=True)
        ]
        ids = (
            session.execute(insert(S).returning(S.c.id, sort_by_parameter_order=True), people)
            .scalars()
            .all()
        )
        outbox = [
            dict(
                broadcast_id=broadcast_id,
                channel=channel,
                subscriber_id=subscriber_id,
                dedupe_key=f"{channel}:{number}",
                address=number,
                language=lang,
                segments=sizes.get(lang, 1),
                status="queued",
                attempts=0,
                queued_at=now,
                updated_at=now,
            )
            for number, lang, subscriber_id in zip(chunk_numbers, chunk_langs, ids, strict=True)
        ]
        message_ids.extend(
            session.execute(insert(M).returning(M.c.id, sort_by_parameter_order=True), outbox)
            .scalars()
            .all()
        )
        if expect:
            for number, lang, subscriber_id in zip(chunk_numbers, chunk_langs, ids, strict=True):
                expected[number] = texts.get(lang) or ""
                subscriber_ids[number] = subscriber_id
    return Seeded(broadcast_id, message_ids, expected, subscriber_ids)


def seed_push_broadcast(
    session: Session,
    *,
    subscriptions: Sequence[dict[str, Any]],
    texts: dict[str, str] | None = None,
    language: str = "zh-Hant",
) -> Seeded:
    """A push broadcast to browser subscriptions (PushSubscription JSON, as stored)."""
    texts = dict(texts or TEXTS)
    now = utcnow()
    broadcast_id = _insert_broadcast(
        session,
        texts=texts,
        status="sending",
        channel="push",
        recipients=len(subscriptions),
        now=now,
    )
    message_ids, expected, ids = [], {}, {}
    for index, sub in enumerate(subscriptions):
        subscription_id = session.execute(
            insert(P)
            .values(
                endpoint=sub["endpoint"],
                p256dh=sub["keys"]["p256dh"],
                auth=sub["keys"]["auth"],
                language=language,
                created_at=now,
            )
            .returning(P.c.id)
        ).scalar_one()
        message_ids.append(
            session.execute(
                insert(M)
                .values(
                    broadcast_id=broadcast_id,
                    channel="push",
                    push_subscription_id=subscription_id,
                    dedupe_key=f"push:{index}",
                    address=sub["endpoint"],
                    language=language,
                    segments=1,
                    status="queued",
                    attempts=0,
                    queued_at=now,
                    updated_at=now,
                )
                .returning(M.c.id)
            ).scalar_one()
        )
        expected[sub["endpoint"]] = texts[language]
        ids[sub["endpoint"]] = subscription_id
    return Seeded(broadcast_id, message_ids, expected, ids)


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most events in any half-open window ``[t, t + window)`` (sliding)."""
    ordered = sorted(times)
    best, end = 0, 0
    for start, moment in enumerate(ordered):
        while end < len(ordered) and ordered[end] < moment + window:
            end += 1
        best = max(best, end - start)
    return best
