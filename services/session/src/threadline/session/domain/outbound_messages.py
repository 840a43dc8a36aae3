"""What the business sends: a message is accepted (queued for outbound) only when it may be
sent — by a known author, into an open conversation, well formed, and inside the customer
service window unless it is an approved template. Well formed includes WhatsApp's limits
(`threadline.rules.whatsapp_limits`): content that Meta would refuse is refused here, naming the
limit, rather than accepted and failed later at Meta."""

from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from threadline.rules.whatsapp_limits import TEXT_BODY, interactive_problem
from threadline.servicekit.errors import quoted
from threadline.session.domain.business_number import Template
from threadline.session.domain.citations import StoredCitation
from threadline.session.domain.conversation_state import ConversationState
from threadline.session.domain.errors import (
    InvalidMessage,
    InvalidTransition,
    QuoteUnavailable,
    WindowClosed,
)
from threadline.session.domain.message_state import MessageState
from threadline.session.domain.operator_files import OutgoingMedia, ReplyPlace
from threadline.session.domain.readable_content import with_readable_text
from threadline.session.domain.templates import check_template_parameters

AUTHORS = frozenset({"ai", "agent", "flow"})


class OutboundMessages(ConversationState):
    """Messages the assistant, an agent or a flow sends, queued for outbound."""

    class OutboundMessageQueued(Aggregate.Event):
        # The sender and recipient travel with the event so outbound needs nothing else.
        message_id: UUID
        author: str
        content: dict[str, str]
        in_reply_to: str
        phone_number_id: str
        recipient_wa_id: str
        recipient_user_id: str
        queued_at: datetime
        model: str
        prompt_tokens: int
        completion_tokens: int
        trace: str
        # Added with issue 10 item 8, after `trace` so stored fields keep their order; the
        # defaults are what an event stored before them reads back with.
        cached_tokens: int = 0
        latency_ms: int = 0
        assistant: str = ""
        assistant_version: int = 0
        cost: str = ""  # USD, a plain decimal; "" when not priced
        covered_message_ids: tuple[str, ...] = ()
        # Issue 11 item 8: the earlier message this one answers, shown quoted (its wamid is
        # sent as `context.message_id`); "" for none.
        quoted_message_id: str = ""
        quoted_wamid: str = ""
        # Issue 11 items 5 and 6: an operator's file from the media store (its location, MIME
        # type, size, sha256, file name and WhatsApp type; "" / 0 when the message carries
        # none), and the reply it is a part of (attachments, then the text).
        media_location: str = ""
        media_content_type: str = ""
        media_size: int = 0
        media_sha256: str = ""
        media_file_name: str = ""
        media_type: str = ""
        reply_id: str = ""
        reply_part: int = 0
        reply_parts: int = 0
        # Issue 11 item 3: for an AI reply, what the model saw in the customer's images.
        interpretation: str = ""
        # Issue 12 item 1: for an AI reply, the knowledge-base passages it used
        # (domain/citations.py's stored shape).
        citations: tuple[StoredCitation, ...] = ()

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.messages[str(self.message_id)] = MessageState.queued()
            aggregate.touch(self.queued_at)

    def queue_outbound(
        self,
        *,
        message_id: UUID,
        author: str,
        content: dict[str, str],
        now: datetime,
        in_reply_to: str = "",
        trace: str = "",
        template: Template | None = None,
        usable_templates: list[str] | None = None,
        model: str = "",
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cached_tokens: int = 0,
        latency_ms: int = 0,
        assistant: str = "",
        assistant_version: int = 0,
        cost: str = "",
        covered_message_ids: tuple[str, ...] = (),
        quoted_message_id: str = "",
        media: OutgoingMedia | None = None,
        reply: ReplyPlace | None = None,
        interpretation: str = "",
        citations: tuple[StoredCitation, ...] = (),
    ) -> bool:
        """Accept a message for sending; False when this message id was already queued. An AI
        reply carries what producing it cost (`model` … `cost`) and the customer messages it
        answers. A message may quote an earlier one of the conversation (`quoted_message_id`,
        see `quoted_wamid`). A template or media message without a text of its own is given a
        readable one (`readable_content`). An AI reply records what its model saw in the
        customer's images (`interpretation`) and the knowledge-base passages it used
        (`citations`)."""
        if str(message_id) in self.messages:
            return False
        self.check_outbound(
            author, content, now, template=template, usable_templates=usable_templates
        )
        quoted_wamid = self.quoted_wamid(quoted_message_id)
        self.trigger_event(
            self.OutboundMessageQueued,
            message_id=message_id,
            author=author,
            content=with_readable_text(content, template),
            in_reply_to=in_reply_to,
            phone_number_id=self.phone_number_id,
            recipient_wa_id=self.customer_wa_id,
            recipient_user_id=self.customer_user_id,
            queued_at=now,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            trace=trace,
            cached_tokens=cached_tokens,
            latency_ms=latency_ms,
            assistant=assistant,
            assistant_version=assistant_version,
            cost=cost,
            covered_message_ids=tuple(covered_message_ids),
            quoted_message_id=quoted_message_id,
            quoted_wamid=quoted_wamid,
            **(media.event_fields() if media is not None else {}),
            **(reply.event_fields() if reply is not None else {}),
            interpretation=interpretation,
            citations=tuple(citations),
        )
        return True

    def quoted_wamid(self, quoted_message_id: str) -> str:
        """The WhatsApp id of the message a new one quotes ("" when it quotes none): a message
        of this conversation, the customer's or the business's, that WhatsApp has named. Any
        other id is InvalidMessage in the same words, so nothing is said of other
        conversations; a business message not sent yet (or never sent) has no wamid to quote:
        QuoteUnavailable."""
        if not quoted_message_id:
            return ""
        quoted_message = self.messages.get(quoted_message_id)
        if quoted_message is None:
            raise InvalidMessage(
                f"quoted_message_id {quoted(quoted_message_id)} is not a message of this "
                "conversation"
            )
        if not quoted_message.wamid:
            raise QuoteUnavailable(quoted_message_id, quoted_message.status)
        return quoted_message.wamid

    def can_quote(self, quoted_message_id: str) -> bool:
        """Whether a new message may quote `quoted_message_id` (see `quoted_wamid`)."""
        found = self.messages.get(quoted_message_id)
        return found is not None and bool(found.wamid)

    def check_outbound(
        self,
        author: str,
        content: dict[str, str],
        now: datetime,
        *,
        template: Template | None = None,
        usable_templates: list[str] | None = None,
    ) -> None:
        if author not in AUTHORS:
            raise InvalidMessage(f"author must be one of {sorted(AUTHORS)}, got {quoted(author)}")
        if not self.is_open:
            raise InvalidTransition(f"the conversation is {self.status}; nothing more is sent")
        kind = content.get("type", "")
        if not kind:
            raise InvalidMessage("an outbound message needs a type")
        if kind == "text" and not content.get("text", "").strip():
            raise InvalidMessage("a text message needs a non-empty text")
        if kind == "text" and len(text := content.get("text", "")) > TEXT_BODY:
            raise InvalidMessage(f"text.body: at most {TEXT_BODY} characters, got {len(text)}")
        if kind == "interactive":
            check_interactive(content.get("payload_json", ""))
        if kind == "template":
            if template is None:
                raise InvalidMessage("a template message needs a registered template")
            check_template_parameters(template, content.get("payload_json", ""))
        elif not (window := self.window).is_open(now):
            raise WindowClosed(window.closes_at, usable_templates or [])


def check_interactive(payload_json: str) -> None:
    """An interactive message's object (the Cloud API's `interactive`) keeps WhatsApp's limits;
    InvalidMessage names the first it breaks."""
    try:
        value = json.loads(payload_json) if payload_json else None
    except ValueError:
        raise InvalidMessage("content.payload_json is not valid JSON") from None
    if value is None:
        raise InvalidMessage("an interactive message needs its object in content.payload_json")
    if (problem := interactive_problem(value)) is not None:
        raise InvalidMessage(problem)
