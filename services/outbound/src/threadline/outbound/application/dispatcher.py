"""Dispatching queued messages to WhatsApp: each one sent once, and what happened announced.

Before sending, the `SentLedger` is asked whether the message id was already sent; if so the
recorded wamid is announced again (same `Nats-Msg-Id`, so within the stream's duplicate window
the re-publish is a no-op) and nothing goes to Meta. After a send is accepted, the wamid is
recorded first and announced second, so a failed announcement retries without re-sending.

A ledger write that fails for a reason that may pass (NATS restarting, a timeout) is tried
again, with back-off, for up to `remember_for` seconds: the process knows the wamid, and losing
NATS for a moment must not make the redelivered message go out twice (found by make chaos).

What this does not close, honestly (the Cloud API takes no idempotency key, so nothing can):
- a crash between Meta's HTTP 200 and the ledger write, or NATS unreachable for longer than
  `remember_for`: the redelivered message is sent a second time;
- a request that times out or loses its connection after Meta accepted it: it looks like a
  network failure, is retried, and is sent a second time;
- two stream messages queueing the same message id handled by two instances at once (the
  session relay's `Nats-Msg-Id` makes the stream drop such a copy within its duplicate window).
Within one process, dispatches of one message id are serialised, so a copy in the same batch
finds the ledger already written.

Every send waits for its turn first (`domain.pacing`: the business number's throughput budget
and the recipient's pace), without taking one of the `concurrency` send slots while it waits, so
a number at its budget never holds up another's sends. A throughput (130429) or pair rate limit
(131056) answer is not a failure: the pacer slows the number or the recipient down and the same
message waits for its next turn and goes again, in this call, for as long as WhatsApp keeps
saying "too fast". Its recipient's later messages wait behind it (the consumer sends them
one after another), so a throttle never reorders them, which a redelivery with back-off would.

**Files and replies of several messages** (issue 11 items 5 and 6). A message carrying a file
from the media store (`media`) has it read from the store and uploaded first (`POST
/{phone-number-id}/media`), then is sent by the media id the Graph API answers; the id is
recorded with the wamid and announced in `MessageDispatched.media_id`. A failed upload is a
failed send (retried or refused by the same rules); an upload repeated after a crash or a retry
leaves an unused media id at Meta, never a second message (the ledger is asked first). The
messages of one reply (`reply`: the attachments, then the text) go in order: part n > 0 is sent
only once part n - 1 was accepted or failed for good (recorded in the ledger under the reply's
key), and not before `reply_pause` seconds after that; until then it is `Waiting` and delivered
again later, so a part that is retried holds the ones after it back. On its last delivery a
part waits no longer and is sent (logged): late rather than never.

**The test chat** (issue 13 item 4, `threadline.rules.testchat`). A message to a tester is not
sent: it is recorded in the ledger under a wamid of the test chat's own and announced as
dispatched, and its statuses sent, delivered and read are reported at once where ingest reports
WhatsApp's (`Announcements.chat_status`), so the session records them as it records theirs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from threadline.media import MediaStore, MediaStoreError, MediaStoreUnavailable, StoredMedia
from threadline.messaging.failures import Backoff, Failure, classify, describe
from threadline.outbound.application.ports import (
    Announcements,
    GraphApi,
    GraphApiError,
    GraphApiThrottled,
    NoPacingMetrics,
    PacingMetrics,
    SentLedger,
    SentRecord,
)
from threadline.outbound.domain.cloud_api_body import UnsendableMessage, request_body
from threadline.outbound.domain.failure import NO_CODE, WhatsAppFailure
from threadline.outbound.domain.outbound_message import OutboundMessage
from threadline.outbound.domain.pacing import Pacer, PacingSettings
from threadline.rules.testchat import TEST_STATUSES, chat_wamid, is_tester
from threadline.servicekit.clock import utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sent:
    """WhatsApp has the message as `wamid` (`already_sent`: by an earlier delivery)."""

    wamid: str
    already_sent: bool = False


@dataclass(frozen=True, slots=True)
class Refused:
    """WhatsApp will never take this message; `MessageDispatchFailed` was announced."""

    failure: WhatsAppFailure


@dataclass(frozen=True, slots=True)
class WillRetry:
    """A transient failure; try again later. Nothing was published."""

    failure: WhatsAppFailure


@dataclass(frozen=True, slots=True)
class GaveUp:
    """A transient failure on the last attempt; `MessageDispatchFailed` (retryable) was
    announced."""

    failure: WhatsAppFailure


@dataclass(frozen=True, slots=True)
class Waiting:
    """An earlier part of the message's reply is not sent yet; try again later. Nothing was
    sent or published."""

    reason: str


DispatchResult = Sent | Refused | WillRetry | GaveUp | Waiting


class MessageDispatcher:
    """The use case: send one queued message to the Graph API and announce the result."""

    def __init__(
        self,
        *,
        graph: GraphApi,
        ledger: SentLedger,
        announcements: Announcements,
        clock: Callable[[], datetime] = utc_now,
        remember_for: float = 120.0,
        remember_backoff: Backoff | None = None,
        pacer: Pacer | None = None,
        concurrency: int = 32,
        metrics: PacingMetrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        media_store: MediaStore | None = None,
        reply_pause: float = 1.0,
    ) -> None:
        self._graph, self._ledger, self._announcements = graph, ledger, announcements
        self._clock = clock
        self._pacer = pacer or Pacer(PacingSettings())
        self._slots = asyncio.Semaphore(concurrency)
        self._metrics = metrics or NoPacingMetrics()
        self._monotonic = monotonic
        self._remember_for = remember_for
        self._remember_backoff = remember_backoff or Backoff(first=0.2, limit=5.0)
        self._in_flight = _KeyedLocks()
        self._media_store = media_store
        self._reply_pause = reply_pause

    async def dispatch(self, message: OutboundMessage, *, last_attempt: bool) -> DispatchResult:
        async with self._in_flight.hold(message.message_id):
            return await self._dispatch(message, last_attempt=last_attempt)

    async def _dispatch(self, message: OutboundMessage, *, last_attempt: bool) -> DispatchResult:
        earlier = await self._ledger.find(message.message_id)
        if earlier is not None:
            await self._announce_sent(message, earlier)
            await self._part_done(message, earlier.sent_at)
            return Sent(earlier.wamid, already_sent=True)
        waiting = await self._wait_for_previous_part(message, last_attempt=last_attempt)
        if waiting is not None:
            return waiting
        if is_tester(message.recipient.user_id):
            return await self._keep_for_tester(message)
        media_id = ""
        try:
            if message.media is not None:
                media_id = await self._upload(message, message.media)
            body = request_body(message, media_id=media_id)
        except UnsendableMessage as error:
            return await self._refuse(
                message, WhatsAppFailure(NO_CODE, "Invalid message", str(error))
            )
        except GraphApiError as error:
            return await self._failed(message, error.failure, last_attempt=last_attempt)
        try:
            wamid = await self._send_paced(message, body)
        except GraphApiError as error:
            return await self._failed(message, error.failure, last_attempt=last_attempt)
        sent = SentRecord(wamid=wamid, sent_at=self._clock(), media_id=media_id)
        await self._remember(message, sent)
        await self._announce_sent(message, sent)
        await self._part_done(message, sent.sent_at)
        return Sent(wamid)

    async def _keep_for_tester(self, message: OutboundMessage) -> Sent:
        """A message to a tester (the test chat) goes nowhere: it is recorded as sent under a
        wamid of the test chat's own, like one WhatsApp took, and announced so."""
        sent = SentRecord(wamid=chat_wamid(message.message_id), sent_at=self._clock())
        await self._remember(message, sent)
        await self._announce_sent(message, sent)
        await self._part_done(message, sent.sent_at)
        return Sent(sent.wamid)

    async def _wait_for_previous_part(
        self, message: OutboundMessage, *, last_attempt: bool
    ) -> Waiting | None:
        """None once the part before `message` in its reply is done and the pause after it
        has passed (waited here); `Waiting` while that part is not done."""
        previous = message.reply.previous if message.reply is not None else None
        if previous is None:
            return None
        done = await self._ledger.find(previous.key)
        if done is None:
            if not last_attempt:
                return Waiting(f"part {previous.part} of reply {previous.reply_id} is not sent yet")
            log.warning(
                "sending %s although part %d of its reply is not sent: its last attempt",
                message.message_id,
                previous.part,
            )
            return None
        elapsed = (self._clock() - done.sent_at).total_seconds()
        if (pause := self._reply_pause - elapsed) > 0:
            await asyncio.sleep(pause)
        return None

    async def _part_done(self, message: OutboundMessage, at: datetime) -> None:
        """Record that `message`'s place in its reply is done (sent or failed for good), so the
        next part may go."""
        if message.reply is None or message.reply.part + 1 >= message.reply.parts:
            return
        await self._remember_as(message, message.reply.key, SentRecord(wamid="", sent_at=at))

    async def _upload(self, message: OutboundMessage, media: StoredMedia) -> str:
        """The file read from the media store and uploaded; its media id. A file the store no
        longer has cannot be sent (UnsendableMessage); a store that does not answer, or a
        transient upload failure, is retried like a failed send."""
        if self._media_store is None:
            raise UnsendableMessage(f"message {message.message_id}: no media store to read from")
        try:
            data = await self._media_store.get(media.location)
        except MediaStoreUnavailable as error:
            raise GraphApiError(
                WhatsAppFailure(NO_CODE, "Media store unavailable", str(error), retryable=True)
            ) from error
        except MediaStoreError as error:
            raise UnsendableMessage(
                f"message {message.message_id}: its file is not in the media store ({error})"
            ) from error
        content_type = media.content_type
        async with self._slots:
            return await self._graph.upload_media(
                message.phone_number_id,
                data,
                content_type=content_type,
                file_name=media.file_name,
            )

    async def _send_paced(self, message: OutboundMessage, body: Mapping[str, Any]) -> str:
        """Send at `message`'s turn; after a throttle, slower, until WhatsApp takes it."""
        number = message.phone_number_id
        recipient = message.recipient.wa_id or message.recipient.user_id
        while True:
            started = self._monotonic()
            while (wait := self._pacer.recipient_wait(number, recipient, self._monotonic())) > 0:
                await asyncio.sleep(wait)
            delay = self._pacer.reserve(number, recipient, self._monotonic())
            if delay > 0:
                await asyncio.sleep(delay)
            self._metrics.waited(self._monotonic() - started)
            try:
                async with self._slots:
                    wamid = await self._graph.send(number, body)
                self._pacer.accepted(number, self._monotonic())
                return wamid
            except GraphApiThrottled as throttle:
                self._pacer.throttled(number, recipient, throttle.scope, self._monotonic())
                self._metrics.throttled(throttle.scope)
                log.info(
                    "sending %s: %s, slowing %s down and sending it again",
                    message.message_id,
                    throttle.failure,
                    throttle.scope.value,
                )

    async def _failed(
        self, message: OutboundMessage, failure: WhatsAppFailure, *, last_attempt: bool
    ) -> DispatchResult:
        if not failure.retryable:
            return await self._refuse(message, failure)
        if not last_attempt:
            log.info("sending %s failed, will retry: %s", message.message_id, failure)
            return WillRetry(failure)
        await self._announce_failure(message, failure)
        await self._part_done(message, self._clock())
        return GaveUp(failure)

    async def _refuse(self, message: OutboundMessage, failure: WhatsAppFailure) -> Refused:
        await self._announce_failure(message, failure)
        await self._part_done(message, self._clock())
        return Refused(failure)

    async def _remember(self, message: OutboundMessage, sent: SentRecord) -> None:
        await self._remember_as(message, message.message_id, sent)

    async def _remember_as(self, message: OutboundMessage, key: str, sent: SentRecord) -> None:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._remember_for
        attempt = 0
        while True:
            try:
                await self._ledger.record(key, sent)
                return
            except Exception as error:
                delay = self._remember_backoff.delay(attempt)
                if classify(error) is Failure.PERMANENT or loop.time() + delay > give_up_at:
                    # Still announce: once the result is acked nothing redelivers the message.
                    log.exception(
                        "sent %s as %s but could not record it", message.message_id, sent.wamid
                    )
                    return
                log.warning(
                    "sent %s as %s; recording it failed (%s), trying again in %.1fs",
                    message.message_id,
                    sent.wamid,
                    describe(error),
                    delay,
                )
                await asyncio.sleep(delay)
                attempt += 1

    async def _announce_sent(self, message: OutboundMessage, sent: SentRecord) -> None:
        await self._announcements.message_dispatched(message, sent)
        if is_tester(message.recipient.user_id):
            # No webhook will say what the tester's phone did: outbound says it, at once.
            for status in TEST_STATUSES:
                await self._announcements.chat_status(message, sent, status, at=sent.sent_at)

    async def _announce_failure(self, message: OutboundMessage, failure: WhatsAppFailure) -> None:
        log.warning("message %s failed: %s", message.message_id, failure)
        await self._announcements.message_dispatch_failed(message, failure, at=self._clock())


class _KeyedLocks:
    """One lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: Counter[str] = Counter()

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]
