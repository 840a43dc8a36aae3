"""Issue 12 item 4, "Done when", through all services with no model key: the example salon that
`make run` loads (examples/salon, through the operator's own commands) — assistant, knowledge
base, booking flow, and the sandbox's example booking system as its `book_appointment` tool.

Loading it twice changes nothing (the assistant and the flow keep their versions, the passages
their rows); then a customer asks the opening hours in Portuguese and gets the Portuguese
passage with its source, and books an appointment through the flow, the booking made in the
sandbox's booking system."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import psycopg

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_flows_end_to_end import Customer, body_of
from threadline.cli.endpoints import KnowledgeEndpoint, SessionEndpoint
from threadline.cli.example import Loaded, load_example
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.testing import eventually

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "salon"
DOCUMENTS = len(list((EXAMPLE / "knowledge").glob("*.md")))


async def load(platform: Platform) -> Loaded:
    assert platform.ai_responder.grpc_port, "the AI responder serves no knowledge bases"
    token = platform.api_token
    return await asyncio.to_thread(
        partial(
            load_example,
            EXAMPLE,
            session=SessionEndpoint(f"127.0.0.1:{platform.session_grpc_port}", token),
            knowledge=KnowledgeEndpoint(f"127.0.0.1:{platform.ai_responder.grpc_port}", token),
            business_number=PHONE_NUMBER_ID,
            sandbox_url=platform.sandbox.url,
        )
    )


async def what_is_configured(platform: Platform, database_url: str) -> tuple[Any, ...]:
    """The assistants and flows (name, version) and the salon's passages (id, document)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}") as channel:
        commands = pb_grpc.SessionCommandsStub(channel)
        assistants = await commands.ListAssistants(
            pb.ListAssistantsRequest(), metadata=platform.auth
        )
        flows = await commands.ListFlows(pb.ListFlowsRequest(), metadata=platform.auth)
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        cursor = await connection.execute(
            "SELECT id, document FROM ai_responder.passages WHERE knowledge_base = 'salon' "
            "ORDER BY id"
        )
        passages = await cursor.fetchall()
    return (
        [(a.name, a.version, tuple(a.business_numbers)) for a in assistants.assistants],
        [(f.id, f.version) for f in flows.flows],
        passages,
    )


async def test_the_salon_loads_once_and_loading_it_again_changes_nothing(
    platform: Platform, database_url: str
) -> None:
    first = await load(platform)

    assert first.problems == ()
    assert first.describe() == (
        f"assistant salon (offline) answering from knowledge base salon ({DOCUMENTS} passages); "
        "flow salon-booking-pt; flow salon-booking"
    )
    loaded = await what_is_configured(platform, database_url)
    assert loaded[:2] == (
        [("salon", 1, (PHONE_NUMBER_ID,))],
        [("salon-booking", 1), ("salon-booking-pt", 1)],
    )
    assert len(loaded[2]) == DOCUMENTS

    again = await load(platform)

    assert again == first
    assert await what_is_configured(platform, database_url) == loaded


async def test_the_customer_asks_the_hours_in_portuguese_then_books_through_the_flow(
    platform: Platform,
) -> None:
    assert (await load(platform)).problems == ()
    directory = platform.ai_responder.directory
    await eventually(lambda: bool(directory.assistant_for(PHONE_NUMBER_ID).http_tools))
    await eventually(lambda: directory.flows.flow("salon-booking-pt") is not None)
    ana = Customer(platform)

    await ana.writes("Olá! Qual é o horário de funcionamento do salão?")

    hours = body_of(await ana.receives())
    assert hours.startswith("*Horário de funcionamento*\n\nO Salão da Lina abre de segunda")
    assert hours.endswith("\n\nFonte: horario.md")

    day = datetime.now(UTC).date() + timedelta(days=1)
    while day.weekday() == 6:  # the salon is closed on Sundays
        day += timedelta(days=1)
    await ana.writes("Quero marcar um corte")
    assert body_of(await ana.receives()) == "Vamos marcar o seu horário. Como se chama?"
    await ana.writes("Ana")
    assert body_of(await ana.receives()) == "Obrigada, Ana! Que serviço deseja?"
    await ana.taps("cut", "Corte")
    assert body_of(await ana.receives()).startswith("Para que dia?")
    await ana.writes(day.strftime("%d/%m"))
    assert body_of(await ana.receives()).startswith("A que horas?")
    await ana.writes("10h30")
    assert body_of(await ana.receives()) == (
        f"Ana, Corte no dia {day.strftime('%d/%m/%Y')} às 10:30. Posso marcar?"
    )
    await ana.taps("yes", "Sim, marcar")

    booked = body_of(await ana.receives())

    assert booked.startswith("Marcado! A sua referência é SAL-0001.")
    [booking] = platform.sandbox.salon_bookings.bookings
    assert (booking.reference, booking.name, booking.service, booking.date, booking.time) == (
        *("SAL-0001", "Ana", "cut", day.isoformat(), "10:30"),
    )
