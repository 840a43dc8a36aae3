"""Issue 12 item 1 through all services, with no model key: the offline assistant applied from
YAML with a knowledge base (added through the AI responder's `Knowledge`, embedded by the
offline embedder); a customer asks the opening hours in Portuguese and is answered with the
opening-hours passage and its source, the session keeping the citation on the queued reply; a
question the knowledge base cannot answer is not answered from it: the assistant says it does
not know and hands off."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_assistant_bursts import stream_of
from tests.test_end_to_end import conversation_of, customer_number, customer_writes
from threadline.ai_responder.adapters.outbound.models.offline_language import PHRASES
from threadline.cli.assistants import apply_assistant
from threadline.cli.endpoints import SessionEndpoint
from threadline.testing import eventually

SALON = """\
name: salon
model: offline:faq
system_prompt: You are the assistant of Lina's Hair Salon.
reply_delay_seconds: 0.3
business_numbers: ["{number}"]
knowledge_bases: [salon-faq]
"""
DOCUMENTS = {
    "opening-hours.md": (
        "# Opening hours\n\nLina's Hair Salon is open Tuesday to Friday from 9:00 to 19:00 and "
        "on Saturday from 9:00 to 17:00. We are closed on Sundays, Mondays and public holidays."
    ),
    "prices.md": (
        "# Prices\n\nA women's haircut costs 45 EUR and a men's haircut 25 EUR. Colouring "
        "starts at 60 EUR, highlights at 80 EUR."
    ),
    "parking.md": (
        "# Getting here\n\nThe salon is at Rua Augusta 120. There is a public car park two "
        "minutes away; the metro stop is Baixa-Chiado."
    ),
}


async def apply_salon(platform: Platform, tmp_path: Path) -> None:
    knowledge = platform.ai_responder.knowledge
    assert knowledge is not None, "the AI responder has no knowledge bases (no database?)"
    for document, text in DOCUMENTS.items():
        assert await knowledge.add_document("salon-faq", document, text) >= 1
    path = tmp_path / "salon.yaml"
    path.write_text(SALON.format(number=PHONE_NUMBER_ID), encoding="utf-8")
    endpoint = SessionEndpoint(f"127.0.0.1:{platform.session_grpc_port}", platform.api_token)
    assert await asyncio.to_thread(apply_assistant, endpoint, path) == 0
    directory = platform.ai_responder.directory
    await eventually(lambda: bool(directory.assistant_for(PHONE_NUMBER_ID).knowledge_bases))


def text_body(sent: Any) -> str:
    """The text of a message the sandbox received."""
    return str(sent.request["text"]["body"])


async def queued_replies(platform: Platform, wa_id: str) -> list[Any]:
    conversation = await conversation_of(platform, wa_id)
    events = await stream_of(platform, conversation.conversation.id)
    return [
        e.outbound_message_queued
        for e in events
        if e.HasField("outbound_message_queued") and e.outbound_message_queued.author == "ai"
    ]


async def test_the_offline_assistant_answers_the_hours_in_portuguese_from_the_knowledge_base(
    platform: Platform, tmp_path: Path
) -> None:
    await apply_salon(platform, tmp_path)
    wa_id = customer_number()

    await customer_writes(platform, wa_id, "Qual é o horário de funcionamento do salão?")

    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=30)
    (sent,) = platform.sandbox.outbox.messages(to=wa_id)
    body = text_body(sent)
    assert "Tuesday to Friday from 9:00 to 19:00" in body
    assert body.endswith("Source: opening-hours.md")
    (queued,) = await queued_replies(platform, wa_id)
    (citation,) = queued.citations
    assert (citation.document, citation.knowledge_base) == ("opening-hours.md", "salon-faq")
    assert citation.passage_id and "9:00 to 19:00" in citation.snippet


async def test_a_question_the_knowledge_base_cannot_answer_is_handed_off(
    platform: Platform, tmp_path: Path
) -> None:
    await apply_salon(platform, tmp_path)
    wa_id = customer_number()

    # Far from every passage (a question only near one gets the closest as a list).
    await customer_writes(platform, wa_id, "Quem ganhou o campeonato de futebol em 1998?")

    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=30)
    (sent,) = platform.sandbox.outbox.messages(to=wa_id)
    assert text_body(sent) == PHRASES["pt"].do_not_know  # in the customer's language
    (queued,) = await queued_replies(platform, wa_id)
    assert list(queued.citations) == []

    async def handed_off() -> bool:
        events = await stream_of(platform, (await conversation_of(platform, wa_id)).conversation.id)
        return any(e.event_type == "Conversation.HandedOff" for e in events)

    for _ in range(100):
        if await handed_off():
            break
        await asyncio.sleep(0.1)
    assert await handed_off()
