"""The stall check: a normal customer writes to the demo tenant's number; the assistant's reply
must reach the sandbox, and the conversation the read models, each within a bound."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import grpc

from tests.fuzz.platform import Target
from tests.fuzz.readmodels import wait_for_wamids
from tests.fuzz.seeds import DISPLAY_NUMBER
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc
from threadline.sandbox.customer import send_inbound

DEMO_TEXT = "Hello! Do you deliver on Saturdays?"


@dataclass
class StallCheck:
    target: Target
    bound_seconds: float
    reply_seconds: list[float] = field(default_factory=list)
    read_model_seconds: list[float] = field(default_factory=list)
    under_load_seconds: list[float] = field(default_factory=list)
    follow_up_seconds: list[float] = field(default_factory=list)
    wamids: set[str] = field(default_factory=set)

    async def run(self, http: aiohttp.ClientSession, *, under_load: bool = False) -> str | None:
        """None when the demo customer was answered in time, else what did not happen.
        Under load (while a round is sent) only the reply counts, within twice the bound."""
        wa_id = "1555" + str(secrets.randbelow(10**8)).zfill(8)
        try:
            status, wamid = await send_inbound(
                http,
                self.target.webhook_url,
                self.target.app_secret,
                phone_number_id=self.target.numbers.demo,
                display_phone_number=DISPLAY_NUMBER,
                wa_id=wa_id,
                profile_name="Demo Customer",
                text=DEMO_TEXT,
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            return f"the demo customer's webhook got no answer: {error!r}"
        if status != 200:
            return f"the demo customer's webhook was answered {status}"
        self.wamids.add(wamid)
        started = time.monotonic()
        bound = self.bound_seconds * (2 if under_load else 1)
        if not await self._until(
            lambda: bool(self.target.sandbox.outbox.messages(to=wa_id)), started + bound
        ):
            load = " under load" if under_load else ""
            return f"no reply to the demo customer {wa_id} ({wamid}){load} within {bound:.0f} s"
        if under_load:
            self.under_load_seconds.append(time.monotonic() - started)
            return None
        self.reply_seconds.append(time.monotonic() - started)
        if not await self._in_read_models(wa_id):
            return (
                f"the demo customer's conversation ({wa_id}) was not in the read models "
                f"within {self.bound_seconds:.0f} s"
            )
        self.read_model_seconds.append(time.monotonic() - started)
        return None

    async def follow_up(
        self, http: aiohttp.ClientSession, wa_id: str
    ) -> tuple[str | None, list[str]]:
        """A customer who sent hostile input to the follow-up number writes normally: it must be
        answered, and the message be in the read models, within the bound. What did not happen
        (None: all did), and the customer's conversations there."""
        before = len(self.target.sandbox.outbox.messages(to=wa_id))
        try:
            status, wamid = await send_inbound(
                http,
                self.target.webhook_url,
                self.target.app_secret,
                phone_number_id=self.target.numbers.follow_up,
                display_phone_number=DISPLAY_NUMBER,
                wa_id=wa_id,
                profile_name="Returning Customer",
                text=DEMO_TEXT,
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            return f"customer {wa_id}'s normal message got no answer: {error!r}", []
        if status != 200:
            return f"customer {wa_id}'s normal message was answered {status}", []
        self.wamids.add(wamid)
        started = time.monotonic()
        if not await self._until(
            lambda: len(self.target.sandbox.outbox.messages(to=wa_id)) > before,
            started + self.bound_seconds,
        ):
            problem = (
                f"customer {wa_id}, who sent the hostile input, got no reply to a normal "
                f"message ({wamid}) within {self.bound_seconds:.0f} s"
            )
            return problem, []
        self.follow_up_seconds.append(time.monotonic() - started)
        number = self.target.numbers.follow_up
        view = await wait_for_wamids(
            self.target, wa_id, {wamid}, business_number=number, seconds=self.bound_seconds
        )
        if wamid not in view.wamids:
            problem = (
                f"customer {wa_id}'s normal message {wamid}, answered, is not in the read "
                f"models within {self.bound_seconds:.0f} s (they hold {len(view.wamids)} of "
                f"the customer's messages)"
            )
            return problem, view.conversations
        return None, view.conversations

    async def _until(self, done: Callable[[], bool], deadline: float) -> bool:
        while time.monotonic() < deadline:
            if done():
                return True
            await asyncio.sleep(0.05)
        return bool(done())

    async def _in_read_models(self, wa_id: str) -> bool:
        auth = (("authorization", f"Bearer {self.target.tokens.admin}"),)
        deadline = time.monotonic() + self.bound_seconds
        async with grpc.aio.insecure_channel(self.target.analytics_address) as channel:
            queries = analytics_pb2_grpc.ConversationQueriesStub(channel)
            while time.monotonic() < deadline:
                try:
                    found = await queries.ListConversations(
                        pb.ListConversationsRequest(customer_phone=wa_id), metadata=auth, timeout=10
                    )
                except grpc.aio.AioRpcError:
                    found = None
                if found is not None and any(c.message_count >= 2 for c in found.conversations):
                    return True
                await asyncio.sleep(0.1)
        return False
