"""`threadline demo --salon`: a customer of the example hair salon (examples/salon, which `make
run` loads) asks the opening hours in Portuguese, then books an appointment through the salon's
flow, tapping its buttons; each exchange is printed as it happens, then the conversation as the
REST API shows it: the flow's fields (`conversation_flow_id`, `current_step_id`, `session_data`,
`expires_at`, `is_completed`) and the lead's collected data.

Every step goes through the sandbox as a phone would (`POST /sandbox/customers/{wa_id}/
messages`, text or a tap) and waits, on analytics' `GetConversation`, until the business's
answers to it are delivered.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

import aiohttp
import grpc

from threadline.cli.demo import _wait_for_reply, send_as_customer
from threadline.cli.devstate import DevState
from threadline.contracts.analytics.v1 import analytics_pb2_grpc as pb_grpc

FLOW_FIELDS: Final = (
    "conversation_flow_id",
    "current_step_id",
    "flow_status",
    "is_completed",
    "expires_at",
    "session_data",
)


@dataclass(frozen=True, slots=True)
class Step:
    """What the customer does: write `text`, or tap the option `reply_id` titled `text`."""

    text: str
    reply_id: str = ""

    def request(self, phone_number_id: str) -> dict[str, Any]:
        if self.reply_id:
            return {
                "phone_number_id": phone_number_id,
                "type": "button_reply",
                "reply_id": self.reply_id,
                "title": self.text,
                "profile_name": "Ana",
            }
        return {"phone_number_id": phone_number_id, "text": self.text, "profile_name": "Ana"}

    def describe(self) -> str:
        return f"[taps {self.text!r}]" if self.reply_id else self.text


def booking_day(today: date) -> date:
    """A day the salon is open, two days from `today` (never a Sunday)."""
    day = today + timedelta(days=2)
    return day + timedelta(days=1) if day.weekday() == 6 else day


def salon_steps(today: date) -> list[Step]:
    """The customer's side of the demo."""
    return [
        Step("Olá! A que horas vocês abrem ao sábado?"),
        Step("Quero marcar um corte"),
        Step("Ana"),
        Step("Corte", reply_id="cut"),
        Step(booking_day(today).strftime("%d/%m")),
        Step("10h30"),
        Step("Sim, marcar", reply_id="yes"),
    ]


async def run_salon_demo(*, timeout: float = 30.0, today: date | None = None) -> int:
    state = DevState.load()
    wa_id = f"1555{random.randrange(10**7):07d}"
    metadata = (("authorization", f"Bearer {state.secrets.api_token}"),)
    print(f"Customer +{wa_id} writes to the salon ({state.phone_number_id}):")
    conversation = None
    async with (
        aiohttp.ClientSession() as http,
        grpc.aio.insecure_channel(f"127.0.0.1:{state.ports.analytics_grpc}") as channel,
    ):
        queries = pb_grpc.ConversationQueriesStub(channel)
        seen = 0
        for step in salon_steps(today or date.today()):
            answer = await send_as_customer(
                http, state.sandbox_url, wa_id, step.request(state.phone_number_id)
            )
            if answer is None:
                return 1
            print(f"\n  customer: {step.describe()}")
            conversation = await _wait_for_reply(queries, wa_id, answer["wamid"], metadata, timeout)
            if conversation is None:
                print("no delivered reply within the time allowed; see the platform's logs")
                return 1
            authors = [m.author or "ai" for m in conversation.messages if m.role == "assistant"]
            url = f"{state.sandbox_url}/sandbox/messages"
            async with http.get(url, params={"to": wa_id}) as response:
                received: list[dict[str, Any]] = await response.json()
            for author, message in zip(authors[seen:], received[seen:], strict=False):
                print(indented(f"{author}: ", shown(message["request"])))
            seen = len(authors)
        assert conversation is not None
        url = f"http://127.0.0.1:{state.ports.gateway}/api/v1/conversations/"
        url += conversation.conversation.id
        headers = {"Authorization": f"Bearer {state.secrets.api_token}"}
        async with http.get(url, headers=headers) as response:
            if response.status != 200:
                print(f"\nthe REST API answered {response.status}: {await response.text()}")
                return 1
            found: dict[str, Any] = await response.json()
    print(f"\nGET {url}\n{flow_summary(found)}")
    return 0


def shown(request: dict[str, Any]) -> str:
    """A message as the customer's phone shows it (its Cloud API request, as the sandbox took
    it): the text, and a list's rows or the buttons, each in brackets."""
    kind = request.get("type")
    if kind == "text":
        return str(request.get("text", {}).get("body", ""))
    if kind != "interactive":
        return f"[{kind}]"
    interactive = request.get("interactive", {})
    body = str(interactive.get("body", {}).get("text", ""))
    action = interactive.get("action", {})
    buttons = [b.get("reply", {}).get("title", "") for b in action.get("buttons", [])]
    rows = [r.get("title", "") for s in action.get("sections", []) for r in s.get("rows", [])]
    return body + "".join(f"\n[{title}]" for title in (*buttons, *rows) if title)


def indented(who: str, text: str) -> str:
    pad = " " * (2 + len(who))
    first, *rest = text.splitlines() or [""]
    return "\n".join([f"  {who}{first}", *(f"{pad}{line}" for line in rest)])


def flow_summary(conversation: dict[str, Any]) -> str:
    """The flow's fields and the lead, as the REST API gave them."""
    shown_fields = {key: conversation.get(key) for key in FLOW_FIELDS}
    lead = conversation.get("lead") or {}
    shown_fields["lead"] = {k: lead.get(k) for k in ("name", "email", "phone") if k in lead}
    return json.dumps(shown_fields, indent=2, ensure_ascii=False)
