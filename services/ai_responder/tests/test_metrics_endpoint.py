"""The AI responder's /metrics over real NATS: the model's latency, tokens, drafts, hand-offs
by kind of reason, and its consumer's lag."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import aiohttp
import nats

from threadline.ai_responder.adapters.outbound.prometheus import reason_kind
from threadline.ai_responder.application.responder import KEYWORD_MODEL, NO_REASON
from threadline.ai_responder.bootstrap import bootstrap
from threadline.ai_responder.config import AiResponderConfig
from threadline.ai_responder.domain.answers import HAND_OFF_REASON
from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.events.v1 import session_pb2 as events
from threadline.messaging.topology import AI_RESPONDER_REPLIES, SESSION_EVENT, Topology
from threadline.testing import eventually, unique_id

MODEL = "offline:threadline-offline-1"


def value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        if dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or "")) == labels:
            return float(match.group(3))
    return 0.0


async def test_drafts_hand_offs_and_the_model_are_counted(
    nats_server_url: str, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    config = AiResponderConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        ops_port=0,
        reply_delay_seconds=0.1,
        model=MODEL,
    )
    nc = await nats.connect(nats_server_url)
    async with AsyncExitStack() as stack, aiohttp.ClientSession() as http:
        stack.push_async_callback(nc.close)
        running = await bootstrap(config, stack)

        async def scrape() -> str:
            url = f"http://127.0.0.1:{running.ops.port}/metrics"
            async with http.get(url) as response:
                return await response.text()

        before = await scrape()
        js = nc.jetstream()
        for text in ("hello there", "I want to speak to an agent"):
            event = events.SessionEvent(event_id=unique_id("e-"), aggregate_id=unique_id("c-"))
            message = event.customer_message_received
            message.message_id = unique_id("m-")
            message.content.CopyFrom(common_pb2.MessageContent(type="text", text=text))
            message.sent_at.FromDatetime(datetime.now(UTC))
            await js.publish(
                topology.publish_subject(
                    SESSION_EVENT, aggregate="Conversation", event="CustomerMessageReceived"
                ),
                event.SerializeToString(),
                headers={"Nats-Msg-Id": event.event_id},
            )

        after = ""
        stream = topology.stream(AI_RESPONDER_REPLIES.stream)
        # The consumer's lag is read from JetStream before a scrape, at most once a second
        # (a scrape in between is answered with the last read): wait for a read that has it.
        lag = f'consumer="{AI_RESPONDER_REPLIES.name}",stream="{stream}"'

        async def counted() -> bool:
            nonlocal after
            after = await scrape()
            hand_offs = ("threadline_ai_hand_offs_total", {"reason": "customer_asked"})
            drafts = ("threadline_ai_drafts_total", {"model": MODEL})
            return lag in after and all(
                value(after, name, **labels) >= value(before, name, **labels) + wanted
                for (name, labels), wanted in ((hand_offs, 1), (drafts, 1))
            )

        await eventually(counted, timeout=20)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # "hello there" by the model; the ask for a person by the platform's keyword path.
    assert grew("threadline_ai_drafts_total", model=MODEL) == 1
    assert grew("threadline_ai_drafts_total", model=KEYWORD_MODEL) == 1
    assert grew("threadline_ai_model_seconds_count", model=MODEL, outcome="drafted") == 1
    assert grew("threadline_ai_model_seconds_count", model=KEYWORD_MODEL, outcome="drafted") == 0
    assert grew("threadline_ai_tokens_total", model=MODEL, kind="input") > 0
    assert lag in after


def test_a_hand_off_reason_is_counted_by_its_kind_never_its_text() -> None:
    assert reason_kind(HAND_OFF_REASON) == "customer_asked"
    assert reason_kind("flow salon: the customer wants a refund") == "flow"
    assert reason_kind("the assistant (openai:gpt) gave an empty answer") == "empty_answer"
    assert reason_kind(NO_REASON) == "unexplained"
    assert reason_kind("the customer is angry about order 4411") == "model"
