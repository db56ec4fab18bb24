"""An in-memory provider for unit tests of the dispatcher: records sends, answers as told.

By default every send is ``sent`` with a fake SID. Tests program other answers:

    fake = FakeProvider()
    fake.script(rate_limited(2.0), server_error())      # the next two calls, in order
    fake.set_outcome("+85366000000", invalid_number())  # always, for one recipient
    fake.timeout_next(1, accepted=True)                 # ambiguous, but lookup finds it

It also implements ``lookup`` so reconciliation after an ambiguous answer can be tested.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, deque
from dataclasses import dataclass

from alerts.providers.base import Channel, Outcome, OutgoingMessage, SendResult
from alerts.text import segments


@dataclass(frozen=True, slots=True)
class _Scripted:
    answer: SendResult | BaseException
    accepted: bool  # whether the "provider" kept the message despite the answer


def rate_limited(retry_after: float | None = 1.0) -> SendResult:
    return SendResult(
        outcome=Outcome.RETRY, provider_status="429", error_code="20429", retry_after=retry_after
    )


def server_error() -> SendResult:
    return SendResult(outcome=Outcome.RETRY, provider_status="500", error_code="500")


def timed_out() -> SendResult:
    return SendResult(outcome=Outcome.RETRY, error_code="timeout", ambiguous=True)


def invalid_number() -> SendResult:
    return SendResult(outcome=Outcome.PERMANENT_FAILURE, provider_status="400", error_code="21211")


def unsubscribed() -> SendResult:
    return SendResult(
        outcome=Outcome.PERMANENT_FAILURE, provider_status="400", error_code="21610", opted_out=True
    )


def subscription_gone() -> SendResult:
    return SendResult(
        outcome=Outcome.PERMANENT_FAILURE, provider_status="410", error_code="410", gone=True
    )


class FakeProvider:
    name = "fake"

    def __init__(self, channel: Channel | str = Channel.sms, *, delay: float = 0.0) -> None:
        self.channel = Channel(channel)
        self.delay = delay
        self.calls: list[OutgoingMessage] = []  # every send, in call order
        self.accepted: dict[str | int, SendResult] = {}  # message_id -> what lookup finds
        self.per_recipient: Counter[str] = Counter()  # accepted messages per recipient
        self.closed = False
        self._script: deque[_Scripted] = deque()
        self._by_recipient: dict[str, SendResult] = {}
        self._ids = itertools.count(1)

    # programming the answers
    def script(self, *answers: SendResult | BaseException, accepted: bool = False) -> None:
        """The next calls answer these, in order (an exception is raised, to test bugs)."""
        self._script.extend(_Scripted(answer, accepted) for answer in answers)

    def timeout_next(self, n: int = 1, *, accepted: bool = True) -> None:
        """Ambiguous timeouts; with ``accepted`` the message was kept and lookup finds it."""
        self.script(*(timed_out() for _ in range(n)), accepted=accepted)

    def set_outcome(self, to: str, answer: SendResult) -> None:
        """Every send to this recipient answers ``answer`` (after any scripted answers)."""
        self._by_recipient[to] = answer

    # the provider interface
    async def send(self, message: OutgoingMessage) -> SendResult:
        self.calls.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self._script:
            scripted = self._script.popleft()
            if isinstance(scripted.answer, BaseException):
                raise scripted.answer
            if scripted.accepted:
                self._accept(message)
            return scripted.answer
        answer = self._by_recipient.get(str(message.to))
        if answer is not None:
            return answer
        return self._accept(message)

    async def lookup(self, message: OutgoingMessage) -> SendResult | None:
        return self.accepted.get(message.message_id)

    async def close(self) -> None:
        self.closed = True

    # helpers for assertions
    def calls_for(self, message_id: str | int) -> int:
        return sum(1 for m in self.calls if m.message_id == message_id)

    def _accept(self, message: OutgoingMessage) -> SendResult:
        result = SendResult(
            outcome=Outcome.SENT,
            provider_id=f"SM{next(self._ids):032x}",
            provider_status="queued",
            segments=segments(message.body) if self.channel is Channel.sms else None,
        )
        self.accepted[message.message_id] = result
        self.per_recipient[str(message.to)] += 1
        return result
