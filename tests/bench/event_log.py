"""A session event log of a chosen size, recorded by the session's own application.

Every event is a real stored session event: customers write (`InboundMessage`), the assistant
answers (`DraftedReply`), outbound reports the send (`DispatchReport`) and WhatsApp the
statuses `sent`, `delivered`, `read` (`StatusReport`, some of them billable); now and then the
assistant hands a conversation off (`HandOffRequest`) and an operator completes it
(`change_status`), so the next message opens a new conversation. Facts go through
`Conversations.record_facts` in large batches (one transaction each), as the session's
consumers hand them over; about six events per customer message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import (
    DispatchReport,
    DraftedReply,
    Fact,
    HandOffRequest,
    InboundMessage,
    StatusReport,
)
from threadline.session.config import SessionConfig
from threadline.session.domain.contact import Contact
from threadline.session.domain.identity import contact_id, drafted_message_id, inbound_message_id

log = logging.getLogger(__name__)
Progress = Callable[[int], None]
NO_CHARGE = {"billable": False, "category": "service", "pricing_model": "PMP", "type": "free"}
UTILITY = {"billable": True, "category": "utility", "pricing_model": "PMP", "type": "regular"}
HANDED_OFF_EVERY = 97  # one exchange in this many ends in a hand-off (a status change)
COMPLETED_EVERY = 3  # every this many rounds, a slice of the conversations is completed


@dataclass(frozen=True, slots=True)
class LogShape:
    """How many events, from how many customers on how many business numbers."""

    events: int
    customers: int
    numbers: int = 4
    batch: int = 2000  # facts per `record_facts` call (one transaction)


def session_app(database_url: str) -> Conversations:
    config = SessionConfig(
        nats_url="nats://unused", nats_namespace="", database_url=database_url, api_tokens=""
    )
    return Conversations(config.event_store_env())


def stored_events(app: Conversations) -> int:
    return app.recorder.max_notification_id() or 0


def build_event_log(database_url: str, shape: LogShape, progress: Progress | None = None) -> int:
    """Record conversations until the store holds at least `shape.events`; the count."""
    app = session_app(database_url)
    try:
        writer = _Writer(app, shape)
        exchange = 0
        round_number = 0
        total = 0
        while total < shape.events:
            for start in range(0, shape.customers, shape.batch):
                customers = range(start, min(start + shape.batch, shape.customers))
                writer.exchange(customers, exchange)
                exchange += len(customers)
                total = stored_events(app)
                if progress is not None:
                    progress(total)
                if total >= shape.events:
                    break
            round_number += 1
            if total < shape.events and round_number % COMPLETED_EVERY == 0:
                writer.complete_some(round_number)
        return stored_events(app)
    finally:
        app.close()


class _Writer:
    def __init__(self, app: Conversations, shape: LogShape) -> None:
        self.app, self.shape = app, shape

    def number(self, customer: int) -> str:
        return f"10910000000{customer % self.shape.numbers:04d}"

    def wa_id(self, customer: int) -> str:
        return f"1888{customer:08d}"

    def conversation_of(self, customer: int) -> UUID:
        contact: object = self.app.repository.get(
            contact_id(self.number(customer), self.wa_id(customer), "")
        )
        assert isinstance(contact, Contact) and contact.open_conversation_id is not None
        return contact.open_conversation_id

    def exchange(self, customers: Sequence[int], first: int) -> None:
        """Each customer writes once and gets an answer, dispatched and read."""
        now = datetime.now(UTC)
        inbound = [self._inbound(c, first + i, now) for i, c in enumerate(customers)]
        self._record(inbound)
        talks = {c: self.conversation_of(c) for c in customers}
        drafts = [f"bench-draft-{first + i}" for i in range(len(customers))]
        self._record(
            [
                DraftedReply(
                    draft_id=drafts[i],
                    conversation_id=talks[c],
                    in_reply_to_message_id=str(inbound_message_id(inbound[i].wamid)),
                    content={"type": "text", "text": f"Happy to help with order {first + i}."},
                    model="gpt-4o-mini",
                    prompt_tokens=420 + i % 50,
                    completion_tokens=35 + i % 20,
                )
                for i, c in enumerate(customers)
            ]
        )
        wamids = [f"wamid.out.bench.{first + i:012d}" for i in range(len(customers))]
        self._record(
            [
                DispatchReport(drafted_message_id(drafts[i]), talks[c], wamid=wamids[i])
                for i, c in enumerate(customers)
            ]
        )
        for status in ("sent", "delivered", "read"):
            self._record(
                [self._status(c, wamids[i], status, first + i) for i, c in enumerate(customers)]
            )
        hand_offs = [
            HandOffRequest(f"bench-hand-off-{first + i}", talks[c], "asked for a person")
            for i, c in enumerate(customers)
            if (first + i) % HANDED_OFF_EVERY == 0
        ]
        self._record(hand_offs)

    def complete_some(self, round_number: int) -> None:
        """An operator completes a tenth of the conversations (one transaction each, as
        `UpdateConversationStatus` does): their customers' next messages open new ones."""
        for customer in range(round_number % 10, self.shape.customers, 10):
            self.app.change_status(
                self.conversation_of(customer), "completed", reason="resolved", by="agent"
            )

    def _inbound(self, customer: int, n: int, now: datetime) -> InboundMessage:
        wa_id, wamid = self.wa_id(customer), f"wamid.in.bench.{n:012d}"
        text = f"Where is my order {n}? It should have arrived yesterday."
        raw = {"from": wa_id, "id": wamid, "timestamp": str(int(now.timestamp())), "type": "text"}
        return InboundMessage(
            wamid=wamid,
            phone_number_id=self.number(customer),
            wa_id=wa_id,
            user_id="",
            profile_name=f"Customer {customer}",
            content={"type": "text", "text": text, "payload_json": ""},
            sent_at=now,
            metadata={
                "raw": {**raw, "text": {"body": text}},
                "display_phone_number": "15550000000",
            },
        )

    def _status(self, customer: int, wamid: str, status: str, n: int) -> StatusReport:
        pricing = UTILITY if n % 10 == 0 else NO_CHARGE
        return StatusReport(
            wamid=wamid,
            phone_number_id=self.number(customer),
            status=status,
            recipient_wa_id=self.wa_id(customer),
            recipient_user_id="",
            reported_at=datetime.now(UTC),
            pricing=pricing if status == "sent" else {},
        )

    def _record(self, facts: Sequence[Fact]) -> None:
        if facts:
            self.app.record_facts(facts)
