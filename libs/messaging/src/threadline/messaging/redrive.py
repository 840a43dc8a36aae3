"""Reading `DEAD_LETTERS` and re-driving a dead letter to where it came from, once.

A dead letter (`dead_letters.dead_letter`) keeps the original payload and headers, with its
origin in `Threadline-Original-*` headers. Re-driving publishes that payload, with the original
headers (not the dead letter's own), to the original subject — after the fix, the consumer that
refused it gets it again (and so does every other consumer of that subject: they are idempotent
by event id). Then the dead letter is deleted from `DEAD_LETTERS`: that deletion is the record
that it was re-driven, so re-driving twice publishes once however long apart.

Between the publish and the deletion a crash (or a second operator) could re-drive it again; the
publish's `Nats-Msg-Id` is `redrive:<dead letter's sequence>:<original message id>`, the same for
every re-drive of one dead letter, so JetStream's duplicate window (10 minutes) drops the copy.
It is not the original id itself: within the window of the original publish (a message that
failed at once, re-driven minutes later) the stream would drop the re-drive as the original.

Refused: a truncated dead letter (only the head of its payload was kept), one without an
original stream (the gateway's failed webhook deliveries: their payload is the webhook's body,
not a message of any stream), and one whose original subject is not in that stream.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from threadline.messaging.bus import JetStreamBus
from threadline.messaging.dead_letters import (
    ORIGINAL_MSG_ID,
    ORIGINAL_SEQUENCE,
    ORIGINAL_STREAM,
    ORIGINAL_SUBJECT,
    REASON,
    TRUNCATED,
    header_value,
)
from threadline.messaging.topology import (
    AI_EVENTS,
    DEAD_LETTERS,
    INGEST_EVENTS,
    INGEST_RAW,
    OUTBOUND_EVENTS,
    SESSION_EVENTS,
    Topology,
)

REDRIVEN_FROM = "Threadline-Redriven-From"  # the dead letter's sequence, on the re-driven copy
MAX_LISTED = 10_000
NO_MESSAGE = 10057  # JetStream's error code for deleting a message that is not there
# The streams a dead letter can be re-driven to.
_STREAMS = (INGEST_RAW, INGEST_EVENTS, SESSION_EVENTS, AI_EVENTS, OUTBOUND_EVENTS)
# The headers the dead letter added: not carried back to the original subject.
_DEAD_LETTER_HEADERS = frozenset(
    h.lower()
    for h in (
        REASON,
        ORIGINAL_SUBJECT,
        ORIGINAL_STREAM,
        ORIGINAL_SEQUENCE,
        ORIGINAL_MSG_ID,
        TRUNCATED,
        "Threadline-Original-Size",
        "Threadline-Original-Sha256",
    )
)


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """One message of `DEAD_LETTERS`."""

    sequence: int
    time: datetime | None
    service: str
    slug: str
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return self.headers.get(REASON, "")

    @property
    def original_subject(self) -> str:
        return self.headers.get(ORIGINAL_SUBJECT, "")

    @property
    def original_stream(self) -> str:
        return self.headers.get(ORIGINAL_STREAM, "")

    @property
    def original_msg_id(self) -> str:
        return self.headers.get(ORIGINAL_MSG_ID, "")

    @property
    def truncated(self) -> bool:
        return self.headers.get(TRUNCATED, "") == "true"

    @property
    def size(self) -> int:
        return len(self.data)

    def original_headers(self) -> dict[str, str]:
        """The headers the original message carried (those the dead letter kept), without the
        dead letter's own (its reason and origin, and `Nats-*`: its own message id)."""
        return {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in _DEAD_LETTER_HEADERS and not k.lower().startswith("nats-")
        }


class Outcome(enum.Enum):
    REDRIVEN = "redriven"
    DUPLICATE = "already redriven"  # the duplicate window dropped the publish; deleted now
    TRUNCATED = "refused: truncated (only the head of the payload was kept)"
    NOT_FROM_A_STREAM = "refused: not from a stream (nothing to re-publish it to)"
    FOREIGN_SUBJECT = "refused: its original subject is not in its original stream"


@dataclass(frozen=True, slots=True)
class Redrive:
    record: DeadLetterRecord
    outcome: Outcome

    @property
    def refused(self) -> bool:
        return self.outcome not in (Outcome.REDRIVEN, Outcome.DUPLICATE)


class DeadLetterNotFound(LookupError):
    def __init__(self, sequence: int) -> None:
        super().__init__(f"no dead letter at sequence {sequence} (re-driven, or expired)")
        self.sequence = sequence


@dataclass(frozen=True, slots=True)
class DeadLetterStore:
    """`DEAD_LETTERS` of one topology, read and re-driven through JetStream directly."""

    js: JetStreamContext
    topology: Topology

    @property
    def stream(self) -> str:
        return self.topology.stream(DEAD_LETTERS)

    async def depth(self) -> int:
        """How many dead letters the stream holds."""
        info = await self.js.stream_info(self.stream)
        return int(info.state.messages or 0)

    async def read(
        self,
        *,
        service: str = "",
        slug: str = "",
        limit: int = 100,
        after: int = 0,
        through: int | None = None,
    ) -> list[DeadLetterRecord]:
        """Up to `limit` dead letters (of `service`, with reason `slug`, when given), oldest
        first, from sequence `after + 1` (up to `through`, when given)."""
        limit = max(1, min(limit, MAX_LISTED))
        pattern = self.topology.dead_letter_subject(service or "*", slug or "*")
        found: list[DeadLetterRecord] = []
        sequence = after + 1
        while len(found) < limit:
            try:
                raw = await self.js.get_msg(self.stream, seq=sequence, subject=pattern, next=True)
            except NotFoundError:
                break
            if through is not None and (raw.seq or sequence) > through:
                break
            found.append(self._record(raw.seq or sequence, raw.subject, raw))
            sequence = (raw.seq or sequence) + 1
        return found

    async def last_sequence(self) -> int:
        """The sequence of the newest dead letter (0: none ever)."""
        info = await self.js.stream_info(self.stream)
        return int(info.state.last_seq or 0)

    async def redrive_matching(
        self, *, service: str = "", slug: str = "", page: int = 100
    ) -> AsyncIterator[Redrive]:
        """Re-drive every dead letter (of `service`, with reason `slug`) there is now, a page
        at a time (a page's payloads in memory, never the whole stream's). Those dead-lettered
        meanwhile are left alone: a re-drive that fails again comes back as a new dead letter,
        which must not be re-driven in the same run, round and round."""
        through = await self.last_sequence()
        after = 0
        while True:
            records = await self.read(
                service=service, slug=slug, limit=page, after=after, through=through
            )
            for record in records:
                yield await self.redrive(record)
            if len(records) < page:
                return
            after = records[-1].sequence

    async def get(self, sequence: int) -> DeadLetterRecord:
        try:
            raw = await self.js.get_msg(self.stream, seq=sequence)
        except NotFoundError:
            raise DeadLetterNotFound(sequence) from None
        return self._record(sequence, raw.subject, raw)

    async def redrive(self, record: DeadLetterRecord) -> Redrive:
        """Publish `record`'s payload to its original subject, then delete it."""
        refusal = self._refusal(record)
        if refusal is not None:
            return Redrive(record, refusal)
        identity = header_value(
            f"redrive:{record.sequence}:{record.original_msg_id or record.original_subject}",
            limit=512,
        )
        headers = {**record.original_headers(), REDRIVEN_FROM: str(record.sequence)}
        ack = await JetStreamBus(self.js).publish(
            record.original_subject, record.data, msg_id=identity, headers=headers
        )
        try:
            await self.js.delete_msg(self.stream, record.sequence)
        except APIError as error:
            # Deleted meanwhile: re-driven by someone else (this publish was their duplicate).
            if error.err_code != NO_MESSAGE and not isinstance(error, NotFoundError):
                raise
        return Redrive(record, Outcome.DUPLICATE if ack.duplicate else Outcome.REDRIVEN)

    async def redrive_all(self, records: Sequence[DeadLetterRecord]) -> list[Redrive]:
        return [await self.redrive(record) for record in records]

    def _refusal(self, record: DeadLetterRecord) -> Outcome | None:
        if record.truncated:
            return Outcome.TRUNCATED
        if not record.original_stream or not record.original_subject:
            return Outcome.NOT_FROM_A_STREAM
        for name in _STREAMS:
            if self.topology.stream(name) != record.original_stream:
                continue
            if record.original_subject.startswith(self.topology.root(name) + "."):
                return None
        return Outcome.FOREIGN_SUBJECT

    def _record(self, sequence: int, subject: str | None, raw: object) -> DeadLetterRecord:
        prefix = self.topology.root(DEAD_LETTERS) + "."
        tokens = (subject or "").removeprefix(prefix).split(".")
        headers = getattr(raw, "headers", None) or {}
        return DeadLetterRecord(
            sequence=sequence,
            time=getattr(raw, "time", None),
            service=tokens[0] if tokens else "",
            slug=tokens[1] if len(tokens) > 1 else "",
            data=getattr(raw, "data", None) or b"",
            headers={str(k): str(v) for k, v in headers.items()},
        )
