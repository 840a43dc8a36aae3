"""Unit-test helpers: the application on eventsourcing's in-memory persistence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import uuid4

import pytest

from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import InboundMessage
from threadline.testing.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> Conversations:
    return Conversations({"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)


InboundFactory = Callable[..., InboundMessage]


@pytest.fixture
def inbound(clock: FakeClock) -> InboundFactory:
    def make(
        *,
        wa_id: str = "",
        user_id: str = "",
        text: str = "hello",
        phone_number_id: str = "pn-1",
        wamid: str = "",
        sent_at: datetime | None = None,
        profile_name: str = "Ana",
        content: dict[str, str] | None = None,
        free_entry: bool = False,
        target_wamid: str = "",
    ) -> InboundMessage:
        if not wa_id and not user_id:
            wa_id = f"1555{uuid4().int % 10**7:07d}"
        return InboundMessage(
            wamid=wamid or f"wamid.{uuid4().hex}",
            phone_number_id=phone_number_id,
            wa_id=wa_id,
            user_id=user_id,
            profile_name=profile_name,
            content=content or {"type": "text", "text": text, "payload_json": ""},
            sent_at=sent_at or clock.now,
            free_entry=free_entry,
            target_wamid=target_wamid,
        )

    return make
