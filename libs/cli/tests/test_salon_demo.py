"""`threadline demo --salon`: the customer's script goes through the real sandbox as a phone's
messages (texts and taps on buttons), never on a Sunday, and what is printed is what the phone
shows and the REST API's flow fields. (The whole scenario against the platform is
tests/test_salon_example.py.)"""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Any

import aiohttp
import pytest

from threadline.cli.demo import send_as_customer
from threadline.cli.main import parser
from threadline.cli.salon_demo import booking_day, flow_summary, salon_steps, shown
from threadline.sandbox.receiver import WebhookReceiver
from threadline.sandbox.server import Sandbox

PHONE_NUMBER_ID = "106540352242922"


async def test_the_customers_script_reaches_the_webhook_as_texts_and_taps(
    sandbox: Sandbox, receiver: WebhookReceiver
) -> None:
    steps = salon_steps(date(2026, 12, 4))  # a Friday: two days on is a Sunday, so Monday
    async with aiohttp.ClientSession() as http:
        for step in steps:
            assert await send_as_customer(
                http, sandbox.url, "15550001111", step.request(PHONE_NUMBER_ID)
            )
    async with asyncio.timeout(5):
        webhooks = await receiver.wait_for(len(steps))

    messages: list[Any] = [
        w.json()["entry"][0]["changes"][0]["value"]["messages"][0]  # type: ignore[index]
        for w in webhooks
    ]
    said = [
        m["text"]["body"] if m["type"] == "text" else m["interactive"]["button_reply"]
        for m in messages
    ]
    assert said == [
        "Olá! A que horas vocês abrem ao sábado?",
        "Quero marcar um corte",
        "Ana",
        {"id": "cut", "title": "Corte"},
        "07/12",
        "10h30",
        {"id": "yes", "title": "Sim, marcar"},
    ]


def test_the_booking_day_is_two_days_on_and_never_a_sunday() -> None:
    friday = date(2026, 12, 4)
    assert booking_day(friday) == friday + timedelta(days=3)  # Sunday → Monday
    assert booking_day(date(2026, 12, 1)) == date(2026, 12, 3)


def test_a_message_is_printed_as_the_phone_shows_it() -> None:
    buttons = {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Posso marcar?"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Sim"}}]},
        },
    }
    rows = {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Que serviço?"},
            "action": {"button": "Ver", "sections": [{"rows": [{"id": "cut", "title": "Corte"}]}]},
        },
    }

    assert shown({"type": "text", "text": {"body": "Olá"}}) == "Olá"
    assert shown(buttons) == "Posso marcar?\n[Sim]"
    assert shown(rows) == "Que serviço?\n[Corte]"
    assert shown({"type": "image"}) == "[image]"


def test_the_summary_is_the_flows_fields_and_the_lead() -> None:
    conversation = {
        "conversation_flow_id": "salon-booking-pt",
        "current_step_id": "booked",
        "flow_status": "completed",
        "is_completed": True,
        "expires_at": None,
        "session_data": {"name": "Ana"},
        "lead": {"name": "Ana", "email": "", "id": "l-1"},
        "status": "active",
    }

    assert json.loads(flow_summary(conversation)) == {
        **{k: v for k, v in conversation.items() if k not in ("lead", "status")},
        "lead": {"name": "Ana", "email": ""},
    }


def test_salon_is_a_kind_of_demo_of_its_own() -> None:
    assert parser().parse_args(["demo", "--salon"]).salon
    with pytest.raises(SystemExit):
        parser().parse_args(["demo", "--salon", "--photo"])
