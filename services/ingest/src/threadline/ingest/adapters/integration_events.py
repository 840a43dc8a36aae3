"""The one place mapping ingest's facts to integration events (protobuf): each `ParsedFact`
becomes the message of the same name (`InboundMessageReceived`, `MessageStatusReported`,
`WebhookErrorReported`)."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from threadline.contracts.events.v1 import common_pb2, ingest_pb2
from threadline.ingest.domain.facts import (
    CustomerIdentity,
    InboundMessageReceived,
    MessageContent,
    MessageStatusReported,
    ParsedFact,
    Pricing,
    WebhookErrorReported,
    WhatsAppError,
)

IngestEvent = (
    ingest_pb2.InboundMessageReceived
    | ingest_pb2.MessageStatusReported
    | ingest_pb2.WebhookErrorReported
)


def integration_event(fact: ParsedFact) -> IngestEvent:
    """The protobuf message `fact` is published as."""
    if isinstance(fact, InboundMessageReceived):
        return ingest_pb2.InboundMessageReceived(
            wamid=fact.wamid,
            phone_number_id=fact.phone_number_id,
            display_phone_number=fact.display_phone_number,
            customer=_customer(fact.customer),
            content=_content(fact.content),
            sent_at=_timestamp(fact.sent_at),
            received_at=_timestamp(fact.received_at),
            context_wamid=fact.context_wamid,
            raw_json=fact.raw_json,
            problems=fact.problems,
        )
    if isinstance(fact, MessageStatusReported):
        return ingest_pb2.MessageStatusReported(
            wamid=fact.wamid,
            phone_number_id=fact.phone_number_id,
            status=fact.status,
            recipient=_customer(fact.recipient),
            reported_at=_timestamp(fact.reported_at),
            errors=[_error(error) for error in fact.errors],
            pricing=_pricing(fact.pricing) if fact.pricing is not None else None,
            raw_json=fact.raw_json,
            problems=fact.problems,
        )
    if isinstance(fact, WebhookErrorReported):
        return ingest_pb2.WebhookErrorReported(
            phone_number_id=fact.phone_number_id,
            error=_error(fact.error),
            received_at=_timestamp(fact.received_at),
            raw_json=fact.raw_json,
            problems=fact.problems,
        )
    raise TypeError(f"no integration event for {type(fact).__name__}")


def _customer(customer: CustomerIdentity) -> common_pb2.CustomerIdentity:
    return common_pb2.CustomerIdentity(
        wa_id=customer.wa_id, user_id=customer.user_id, profile_name=customer.profile_name
    )


def _content(content: MessageContent) -> common_pb2.MessageContent:
    return common_pb2.MessageContent(
        type=content.type, text=content.text, payload_json=content.payload_json
    )


def _error(error: WhatsAppError) -> common_pb2.WhatsAppError:
    return common_pb2.WhatsAppError(
        code=error.code, title=error.title, message=error.message, details=error.details
    )


def _pricing(pricing: Pricing) -> common_pb2.Pricing:
    return common_pb2.Pricing(
        billable=pricing.billable,
        category=pricing.category,
        pricing_model=pricing.pricing_model,
        type=pricing.type,
    )


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
