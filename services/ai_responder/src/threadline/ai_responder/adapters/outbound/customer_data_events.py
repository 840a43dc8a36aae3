"""Customer data the assistant collected on AI_EVENTS as `CustomerDataCollected` (Nats-Msg-Id:
its event id), which the session keeps on the conversation and its contact."""

from __future__ import annotations

import json

from google.protobuf.timestamp_pb2 import Timestamp

from threadline.ai_responder.domain.customer_data import CustomerDataCollected
from threadline.contracts.events.v1 import ai_pb2
from threadline.messaging.bus import EventBus
from threadline.messaging.topology import CUSTOMER_DATA_COLLECTED, Topology


class JetStreamCustomerData:
    """`CustomerDataEvents` over an `EventBus`."""

    def __init__(self, bus: EventBus, topology: Topology) -> None:
        self._bus = bus
        self._topology = topology

    async def customer_data_collected(self, collected: CustomerDataCollected) -> None:
        subject = self._topology.conversation_subject(
            CUSTOMER_DATA_COLLECTED, collected.conversation_id
        )
        await self._bus.publish(
            subject, customer_data_collected(collected), msg_id=collected.event_id
        )


def customer_data_collected(collected: CustomerDataCollected) -> ai_pb2.CustomerDataCollected:
    at = Timestamp()
    at.FromDatetime(collected.at)
    return ai_pb2.CustomerDataCollected(
        event_id=collected.event_id,
        conversation_id=collected.conversation_id,
        fields_json=json.dumps(dict(collected.fields), sort_keys=True, ensure_ascii=False),
        collected_at=at,
        generation_id=collected.generation_id,
    )
