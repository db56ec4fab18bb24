"""GET /api/v1/feeds (the feeds and their health) and POST /api/v1/feeds/poll (poll the due
feeds now, for an operator who does not want to wait)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from emergency.auth.dependencies import Operator, Reader, SessionDep
from emergency.dependencies import RuntimeDep
from emergency.feeds import service as feed_service
from emergency.feeds.schemas import FeedPolled, FeedPublic, PollAnswer

router = APIRouter(prefix="/api/v1/feeds", tags=["feeds"])


@router.get("")
def get_feeds(user: Reader, session: SessionDep, runtime: RuntimeDep) -> list[FeedPublic]:
    return [FeedPublic.model_validate(f) for f in feed_service.summary(session, runtime=runtime)]


@router.post("/poll", response_model=PollAnswer)
async def post_poll(user: Operator, runtime: RuntimeDep) -> PollAnswer:
    results = await asyncio.to_thread(feed_service.poll_due, runtime)
    return PollAnswer(
        polled=[
            FeedPolled(
                feed_id=r.feed_id,
                ok=r.ok,
                status=r.status,
                new_alerts=r.new_alerts,
                errors=r.errors,
            )
            for r in results
        ]
    )
