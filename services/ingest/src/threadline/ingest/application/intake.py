"""The use case: accept a signed webhook body, keep it, and publish its facts.

Nothing is acknowledged to WhatsApp before the raw body and every fact are kept
(`NotAcknowledged` otherwise, and WhatsApp retries); a retry publishes the same ids, so each
fact is kept once. The raw body goes first and alone; the facts then go out together, in the
webhook's order.

A signed body is never refused for what it holds (Meta would retry it for days): the parts the
parser rejected (`RejectedPart`) are dead-lettered with their reasons — one dead letter per kind
of mistake (its `slug`), carrying the raw body, so a webhook of a thousand bad messages costs at
most three dead letters — and the facts beside them are published. Even a bug of the parser
stops only the webhook it met (`parser-error`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from threadline.ingest.application.ports import UnencodableFact, WebhookPublisher
from threadline.ingest.domain.facts import (
    IgnoredPart,
    ParsedFact,
    ParsedWebhook,
    RejectedPart,
)
from threadline.ingest.domain.webhook_parser import (
    MalformedWebhook,
    decode,
    first_phone_number_id,
    parse_document,
)
from threadline.servicekit.clock import Clock, utc_now

log = logging.getLogger(__name__)

PARSER_ERROR = "parser-error"
_REASONS_NAMED = 10
_MAX_REASON = 1000


@dataclass(frozen=True, slots=True)
class Accepted:
    """The body and its facts are kept; `duplicates` of them JetStream already had; the
    `rejected` parts beside them were dead-lettered."""

    facts: tuple[ParsedFact, ...]
    ignored: tuple[IgnoredPart, ...]
    duplicates: int
    rejected: tuple[RejectedPart, ...] = ()


@dataclass(frozen=True, slots=True)
class DeadLettered:
    """The body is kept, but could not be read: it went to DEAD_LETTERS with `reason`."""

    reason: str


class WebhookIntake:
    """Accepts signed webhook bodies: the raw body kept first, then its facts published."""

    def __init__(self, publisher: WebhookPublisher, *, clock: Clock = utc_now) -> None:
        self._publisher = publisher
        self._clock = clock

    async def accept(self, body: bytes) -> Accepted | DeadLettered:
        """Keep `body`, then publish its facts; raises `NotAcknowledged` if they were not kept.

        `DeadLettered` when no fact could be made and something was rejected."""
        received_at = self._clock()
        try:
            document = decode(body)
        except MalformedWebhook as problem:
            await self._publisher.keep_raw(body, None, received_at)
            return await self._dead_letter(body, None, [_whole(problem.reason, problem.slug)])
        phone_number_id = first_phone_number_id(document)
        await self._publisher.keep_raw(body, phone_number_id, received_at)
        try:
            parsed = parse_document(document, received_at=received_at)
        except MalformedWebhook as problem:
            return await self._dead_letter(
                body, phone_number_id, [_whole(problem.reason, problem.slug)]
            )
        except Exception as error:
            return await self._parser_failed(body, phone_number_id, error)
        _log(parsed)
        try:
            duplicates = await self._publisher.publish_facts(parsed.facts)
        except UnencodableFact as error:
            return await self._parser_failed(body, phone_number_id, error.__cause__ or error)
        if parsed.rejected:
            dead = await self._dead_letter(body, phone_number_id, list(parsed.rejected))
            if not parsed.facts:
                return dead
        return Accepted(parsed.facts, parsed.ignored, duplicates, parsed.rejected)

    async def _parser_failed(
        self, body: bytes, phone_number_id: str | None, error: BaseException
    ) -> DeadLettered:
        """A bug, met by this webhook: it must stop nothing but itself (Meta would retry it for
        days, and every other webhook behind it)."""
        log.error("the webhook parser failed; the webhook is dead-lettered", exc_info=error)
        reason = f"the parser failed: {type(error).__name__}"
        return await self._dead_letter(body, phone_number_id, [_whole(reason, PARSER_ERROR)])

    async def _dead_letter(
        self, body: bytes, phone_number_id: str | None, rejected: list[RejectedPart]
    ) -> DeadLettered:
        """One dead letter per kind of mistake, each carrying the raw body and its reasons."""
        by_slug: dict[str, list[RejectedPart]] = {}
        for part in rejected:
            by_slug.setdefault(part.slug, []).append(part)
        for slug, parts in by_slug.items():
            await self._publisher.dead_letter(
                body, phone_number_id, slug=slug, reason=_summary(parts)
            )
        return DeadLettered(_summary(rejected))


def _whole(reason: str, slug: str) -> RejectedPart:
    return RejectedPart("", reason, slug)


def _summary(parts: list[RejectedPart]) -> str:
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
