"""Showing the customer that the assistant is writing: their message marked read, and "typing…".

One Graph API call per request, and nothing else: no ledger (marking a message read twice is
harmless, so a redelivered request may simply call again) and no announcement (the session
records no fact of it). A request WhatsApp would no longer show (`TypingIndicatorRequest.
is_stale`) is dropped without a call, also when it comes back for a retry; so is one for a
tester's message in the test chat (`threadline.rules.testchat`), which WhatsApp never had.

The call goes through the same `GraphApi` as the sends, and a failure is classified the same
way (`GraphApiError.failure.retryable`); what to do with it is the consumer's: retry a transient
one with its back-off, dead-letter a permanent one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from threadline.outbound.application.ports import GraphApi, GraphApiError
from threadline.outbound.domain.cloud_api_body import typing_indicator_body
from threadline.outbound.domain.failure import WhatsAppFailure
from threadline.outbound.domain.typing_indicator import TypingIndicatorRequest
from threadline.rules.testchat import is_chat_wamid
from threadline.servicekit.clock import Clock, utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Shown:
    """WhatsApp took it: the customer sees the message read and "typing…"."""


@dataclass(frozen=True, slots=True)
class TooLate:
    """Older than WhatsApp would show it (`age`); not sent."""

    age: timedelta


@dataclass(frozen=True, slots=True)
class NotShown:
    """The Graph API did not take it; `failure.retryable` says whether trying again may."""

    failure: WhatsAppFailure


TypingResult = Shown | TooLate | NotShown


class TypingIndicators:
    """The use case: show one typing indicator, unless it is too late for it."""

    def __init__(self, *, graph: GraphApi, clock: Clock = utc_now) -> None:
        self._graph = graph
        self._clock = clock

    async def show(self, request: TypingIndicatorRequest) -> TypingResult:
        if is_chat_wamid(request.wamid):
            return Shown()  # a tester's message (the test chat): WhatsApp never had it
        now = self._clock()
        if request.is_stale(now):
            age = request.age(now)
            log.info(
                "typing indicator %s for %s is %.1fs old; not sent",
                request.request_id,
                request.wamid,
                age.total_seconds(),
            )
            return TooLate(age)
        try:
            await self._graph.mark_read(request.phone_number_id, typing_indicator_body(request))
        except GraphApiError as error:
            log.warning("typing indicator %s failed: %s", request.request_id, error.failure)
            return NotShown(error.failure)
        return Shown()
