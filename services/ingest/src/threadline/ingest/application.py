"""The use case: accept a signed webhook body, keep it, and publish its facts.

Nothing is acknowledged to WhatsApp before JetStream has acknowledged the raw body and every
fact (`NotAcknowledged` otherwise, and WhatsApp retries); a retry publishes the same
`Nats-Msg-Id`s, so JetStream keeps each fact once. The raw body goes first and alone; the
facts then go out together, written in the webhook's order on the one connection.

A signed body is never refused for what it holds (Meta would retry it for days): the parts the
parser rejected (`webhook_parser.Rejected`) are dead-lettered with their reasons — one dead
letter per kind of mistake (`dlq.ingest.<slug>`), carrying the raw body, so a webhook of a
thousand bad messages costs at most three dead letters — and the facts beside them are
published. Even a bug of the parser stops only the webhook it met (`parser-error`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from threadline.ingest.subjects import fact_subject, raw_msg_id, raw_subject
from threadline.ingest.webhook_parser import (
    UNPARSEABLE,
    Fact,
    Ignored,
    MalformedWebhook,
    ParsedWebhook,
    Rejected,
    decode,
    first_phone_number_id,
    parse_document,
)
from threadline.messaging.bus import EventBus, PublishAck
from threadline.messaging.dead_letters import dead_letter
from threadline.messaging.topology import INGEST_RAW, Topology
from threadline.servicekit.clock import Clock, utc_now

log = logging.getLogger(__name__)

RECEIVED_AT = "Threadline-Received-At"
DEAD_LETTER_SLUG = UNPARSEABLE
PARSER_ERROR = "parser-error"
_REASONS_NAMED = 10
_MAX_REASON = 1000


@dataclass(frozen=True, slots=True)
class Accepted:
    """The body and its facts are kept; `duplicates` of them JetStream already had; the
    `rejected` parts beside them were dead-lettered."""

    facts: tuple[Fact, ...]
    ignored: tuple[Ignored, ...]
    duplicates: int
    rejected: tuple[Rejected, ...] = ()


@dataclass(frozen=True, slots=True)
class DeadLettered:
    """The body is kept, but could not be read: it went to DEAD_LETTERS with `reason`."""

    reason: str


class NotAcknowledged(Exception):
    """JetStream did not acknowledge a publish; the webhook must be retried."""


class WebhookIntake:
    """Accepts signed webhook bodies: raw to INGEST_RAW, facts to INGEST_EVENTS."""

    def __init__(self, bus: EventBus, topology: Topology, *, clock: Clock = utc_now) -> None:
        self._bus = bus
        self._topology = topology
        self._clock = clock

    async def accept(self, body: bytes) -> Accepted | DeadLettered:
        """Keep `body`, then publish its facts; raises `NotAcknowledged` if JetStream did not.

        `DeadLettered` when no fact could be made and something was rejected."""
        received_at = self._clock()
        try:
            document = decode(body)
        except MalformedWebhook as problem:
            await self._keep_raw(body, None, received_at)
            return await self._dead_letter(body, None, [_whole(problem.reason, problem.slug)])
        phone_number_id = first_phone_number_id(document)
        await self._keep_raw(body, phone_number_id, received_at)
        try:
            parsed = parse_document(document, received_at=received_at)
        except MalformedWebhook as problem:
            return await self._dead_letter(
                body, phone_number_id, [_whole(problem.reason, problem.slug)]
            )
        except Exception as error:
            # A bug, met by this webhook: it must stop nothing but itself (Meta would retry it
            # for days, and every other webhook behind it).
            log.exception("the webhook parser failed; the webhook is dead-lettered")
            reason = f"the parser failed: {type(error).__name__}"
            return await self._dead_letter(body, phone_number_id, [_whole(reason, PARSER_ERROR)])
        _log(parsed)
        acks = await self._publish_facts(parsed.facts)
        if parsed.rejected:
            dead = await self._dead_letter(body, phone_number_id, list(parsed.rejected))
            if not parsed.facts:
                return dead
        duplicates = sum(ack.duplicate for ack in acks)
        return Accepted(parsed.facts, parsed.ignored, duplicates, parsed.rejected)

    async def _keep_raw(self, body: bytes, phone_number_id: str | None, at: datetime) -> None:
        subject = raw_subject(self._topology, phone_number_id)
        headers = {RECEIVED_AT: at.isoformat()}
        await self._publish(subject, body, msg_id=raw_msg_id(body), headers=headers)

    async def _dead_letter(
        self, body: bytes, phone_number_id: str | None, rejected: list[Rejected]
    ) -> DeadLettered:
        """One dead letter per kind of mistake, each carrying the raw body and its reasons."""
        by_slug: dict[str, list[Rejected]] = {}
        for part in rejected:
            by_slug.setdefault(part.slug, []).append(part)
        for slug, parts in by_slug.items():
            try:
                await dead_letter(
                    self._bus,
                    self._topology,
                    service="ingest",
                    slug=slug,
                    reason=_summary(parts),
                    subject=raw_subject(self._topology, phone_number_id),
                    data=body,
                    stream=self._topology.stream(INGEST_RAW),
                    msg_id=f"dlq:{slug}:{raw_msg_id(body)}",
                )
            except Exception as error:
                raise NotAcknowledged(f"dead letter not acknowledged: {error!r}") from error
        return DeadLettered(_summary(rejected))

    async def _publish_facts(self, facts: tuple[Fact, ...]) -> list[PublishAck]:
        results = await asyncio.gather(
            *(
                self._publish(
                    fact_subject(self._topology, fact.phone_number_id, fact.name),
                    fact.message.SerializeToString(),
                    msg_id=fact.msg_id,
                )
                for fact in facts
            ),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise NotAcknowledged(f"{len(failures)} of {len(facts)} facts") from failures[0]
        return [r for r in results if isinstance(r, PublishAck)]

    async def _publish(
        self, subject: str, payload: bytes, *, msg_id: str, headers: dict[str, str] | None = None
    ) -> PublishAck:
        try:
            return await self._bus.publish(subject, payload, msg_id=msg_id, headers=headers)
        except Exception as error:
            # Whatever the bus failed with (timeout, no stream, connection lost), the effect
            # is the same: not kept, so WhatsApp must send it again.
            raise NotAcknowledged(f"{subject} not acknowledged: {error!r}") from error


def _whole(reason: str, slug: str) -> Rejected:
    return Rejected("", reason, slug)


def _summary(parts: list[Rejected]) -> str:
    """The reasons of the first parts, cut short (each names its path and quotes little)."""
    text = "; ".join(part.reason for part in parts[:_REASONS_NAMED])
    if len(parts) > _REASONS_NAMED:
        text += f"; and {len(parts) - _REASONS_NAMED} more"
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def _log(parsed: ParsedWebhook) -> None:
    for ignored in parsed.ignored:
        log.info("ignored a '%s' change: %s", ignored.field, ignored.reason)
    for fact in parsed.facts:
        if problems := fact.problems:
            log.info(
                "%s %s kept with %d problems: %s",
                fact.name,
                fact.msg_id,
                len(problems),
                "; ".join(problems[:3]) + ("; …" if len(problems) > 3 else ""),
            )
