"""What the assistant's model saw in the customer's images (issue 11 item 3): kept with the AI
reply the session queued (schema version 7), and shown by ListMessages, as a field of the
message and in its metadata."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from uuid import uuid4

from threadline.analytics.domain.write.projection import project
from threadline.contracts.analytics.v1 import analytics_pb2 as pb

if TYPE_CHECKING:
    from conftest import EventLog, RunningAnalytics

SEEN = "A phone whose screen is cracked across the top corner."


def test_a_replys_interpretation_is_kept_on_its_row(log: EventLog) -> None:
    conversation = uuid4()
    changes = project(
        [
            log.queued(conversation, "r-1", model="openai:gpt-4.1-mini", interpretation=SEEN),
            log.queued(conversation, "r-2", model="openai:gpt-4.1-mini"),
        ]
    )

    assert changes.messages["r-1"].interpretation == SEEN
    assert changes.messages["r-2"].interpretation == ""


async def test_list_messages_shows_the_interpretation(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    contact, conversation = uuid4(), uuid4()
    await analytics.publish(
        log.contact(contact),
        log.conversation(conversation, contact),
        log.inbound(conversation, f"{conversation}-in"),
        log.queued(
            conversation, f"{conversation}-seen", model="openai:gpt-4.1-mini", interpretation=SEEN
        ),
        log.queued(conversation, f"{conversation}-plain", model="openai:gpt-4.1-mini"),
    )
    await analytics.projected(log.position)

    listed = await analytics.queries.ListMessages(
        pb.ListMessagesRequest(conversation_id=str(conversation)), metadata=analytics.reader
    )

    by_id = {m.id: m for m in listed.messages}
    seen, plain = by_id[f"{conversation}-seen"], by_id[f"{conversation}-plain"]
    assert seen.interpretation == SEEN
    assert json.loads(seen.metadata_json)["interpretation"] == SEEN
    assert plain.interpretation == ""
    assert "interpretation" not in json.loads(plain.metadata_json)
