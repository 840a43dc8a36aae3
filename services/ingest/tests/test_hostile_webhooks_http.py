"""Issue 8's reproductions through the running service over real NATS: a signed webhook from a
hostile or broken sender is answered 200 (never 5xx: Meta would retry it for days), kept raw,
bounded or dead-lettered with its reason — and the demo message after it is stored."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg

from threadline.contracts.events.v1 import ingest_pb2
from threadline.ingest.adapters.inbound.signature import SIGNATURE_HEADER, sign
from threadline.ingest.bootstrap import RunningIngest, bootstrap
from threadline.ingest.config import IngestConfig
from threadline.messaging.dead_letters import REASON
from threadline.messaging.topology import DEAD_LETTERS, INGEST_EVENTS, INGEST_RAW, Topology
from threadline.testing import unique_id

SECRET = "app-secret-for-hostile-tests"
TextWebhook = Callable[..., dict[str, Any]]
MAX_FACT_BYTES = 160 * 1024


@pytest.fixture
async def ingest(nats_server_url: str, nats_namespace: str) -> AsyncIterator[RunningIngest]:
    config = IngestConfig(
        app_secret=SECRET,
        verify_token="unused",
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        port=0,
        ops_port=0,
    )
    async with AsyncExitStack() as stack:
        yield await bootstrap(config, stack)


@pytest.fixture
async def js(nats_server_url: str) -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(nats_server_url)
    yield client.jetstream()
    await client.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, service: RunningIngest, body: bytes
) -> tuple[int, dict[str, Any]]:
    headers = {SIGNATURE_HEADER: sign(body, SECRET), "Content-Type": "application/json"}
    url = f"http://127.0.0.1:{service.port}/webhooks/whatsapp"
    async with http.post(url, data=body, headers=headers) as response:
        return response.status, await response.json()


async def stored(js: JetStreamContext, namespace: str, stream: str) -> list[RawStreamMsg]:
    name = Topology(namespace).stream(stream)
    info = await js.stream_info(name)
    first, last = info.state.first_seq, info.state.last_seq
    return [await js.get_msg(name, seq) for seq in range(first, last + 1)] if last else []


def now() -> str:
    return str(int(time.time()))


def webhook(*messages: dict[str, Any], phone_number_id: str = "106540352242922") -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505551234"}],
        "messages": list(messages),
    }
    body = {"entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}
    return json.dumps(body).encode()


def message(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "from": "16505551234",
        "id": unique_id("wamid.hostile", length=20),
        "timestamp": now(),
        "type": "text",
        "text": {"body": "Hello"},
    }
    return {**base, **fields}


def surrogate_bytes() -> bytes:
    return webhook(message(text={"body": "aQb"})).replace(b"aQb", b"a\xed\xa0\x80b")


def nul_and_infinity() -> bytes:
    text = webhook(message(text={"body": "a\u0000b"}, n=1)).decode()
    return text.replace('"n": 1', '"n": 1e999').encode()


HOSTILE: dict[str, Callable[[], bytes]] = {
    "location-of-400-kb": lambda: webhook(
        message(type="location", location={"latitude": "x" * 200_000, "longitude": "x" * 200_000})
    ),
    "text-of-400-000-characters": lambda: webhook(message(text={"body": "y" * 400_000})),
    "lone-surrogate-escape": lambda: webhook(message(text={"body": "\ud800"})),
    "lone-surrogate-bytes": surrogate_bytes,
    "far-future-timestamp": lambda: webhook(message(timestamp="253402300799")),
    "far-future-timestamp-with-referral": lambda: webhook(
        message(timestamp="253402300799", referral={"source_type": "ad", "source_id": "1"})
    ),
    "timestamp-of-70-kb": lambda: webhook(message(timestamp="A" * 70_000)),
    "wamid-of-70-kb": lambda: webhook(message(id="w" * 70_000)),
    "nul-and-infinity": nul_and_infinity,
    "phone-number-id-of-3000": lambda: webhook(message(), phone_number_id="1" * 3000),
    "deep-nesting": lambda: (
        b'{"entry": [{"changes": [{"field": "messages", "value": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}]}]}"
    ),
    "not-json": lambda: b'{"entry": [',
}


@pytest.mark.parametrize("hostile", list(HOSTILE), ids=list(HOSTILE))
async def test_a_hostile_webhook_is_answered_200_and_the_next_demo_message_is_stored(
    ingest: RunningIngest,
    js: JetStreamContext,
    http: aiohttp.ClientSession,
    nats_namespace: str,
    text_webhook: TextWebhook,
    hostile: str,
) -> None:
    body = HOSTILE[hostile]()

    status, reply = await post(http, ingest, body)
    demo = text_webhook(wamid=unique_id("wamid.demo", length=20), timestamp=now())
    demo_status, demo_reply = await post(http, ingest, json.dumps(demo).encode())

    assert status == 200, reply
    assert len(json.dumps(reply)) < 2000
    assert (demo_status, demo_reply["status"], demo_reply["facts"]) == (200, "accepted", 1)
    facts = await stored(js, nats_namespace, INGEST_EVENTS)
    demo_wamid = demo["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert (facts[-1].headers or {})["Nats-Msg-Id"] == demo_wamid
    assert all(len(fact.data or b"") < MAX_FACT_BYTES for fact in facts)
    raws = await stored(js, nats_namespace, INGEST_RAW)
    assert raws[0].data == body  # what was received, kept as received
    for dead in await stored(js, nats_namespace, DEAD_LETTERS):
        assert len((dead.headers or {})[REASON]) <= 1000


async def test_an_oversized_location_is_stored_bounded_with_its_problems(
    ingest: RunningIngest, js: JetStreamContext, http: aiohttp.ClientSession, nats_namespace: str
) -> None:
    body = HOSTILE["location-of-400-kb"]()

    status, reply = await post(http, ingest, body)

    assert (status, reply["status"], reply["facts"]) == (200, "accepted", 1)
    (fact,) = await stored(js, nats_namespace, INGEST_EVENTS)
    message = ingest_pb2.InboundMessageReceived.FromString(fact.data or b"")
    assert len(fact.data or b"") < 40_000
    assert any(
        p.endswith("latitude truncated from 200000 to 4096 characters") for p in message.problems
    )
    assert await stored(js, nats_namespace, DEAD_LETTERS) == []


async def test_a_far_future_timestamp_is_stored_at_the_time_received(
    ingest: RunningIngest, js: JetStreamContext, http: aiohttp.ClientSession, nats_namespace: str
) -> None:
    before = time.time()

    status, _ = await post(http, ingest, HOSTILE["far-future-timestamp-with-referral"]())

    assert status == 200
    (fact,) = await stored(js, nats_namespace, INGEST_EVENTS)
    message = ingest_pb2.InboundMessageReceived.FromString(fact.data or b"")
    assert message.sent_at == message.received_at
    assert before - 1 <= message.sent_at.seconds <= time.time() + 1
    assert "253402300799 is more than 5 minutes after" in message.problems[0]


@pytest.mark.parametrize(
    ("hostile", "slug", "reason"),
    [
        ("wamid-of-70-kb", "bad-id", "id has 70000 characters, more than the 256"),
        ("timestamp-of-70-kb", "unparseable", "timestamp must be Unix seconds, got 'AAAA"),
        ("phone-number-id-of-3000", "bad-id", "phone_number_id has 3000 characters"),
    ],
)
async def test_what_cannot_be_kept_is_dead_lettered_with_a_short_reason(
    ingest: RunningIngest,
    js: JetStreamContext,
    http: aiohttp.ClientSession,
    nats_namespace: str,
    hostile: str,
    slug: str,
    reason: str,
) -> None:
    body = HOSTILE[hostile]()

    status, reply = await post(http, ingest, body)

    assert (status, reply["status"]) == (200, "dead_lettered")
    (dead,) = await stored(js, nats_namespace, DEAD_LETTERS)
    assert dead.subject == f"{nats_namespace}.dlq.ingest.{slug}"
    assert reason in (dead.headers or {})[REASON]
    assert len((dead.headers or {})[REASON]) < 300
    assert dead.data == body
    assert await stored(js, nats_namespace, INGEST_EVENTS) == []


async def test_one_bad_message_in_a_batch_is_dead_lettered_and_the_good_ones_stored(
    ingest: RunningIngest, js: JetStreamContext, http: aiohttp.ClientSession, nats_namespace: str
) -> None:
    good, bad, also_good = message(), message(id="w" * 70_000), message(text={"body": "\ud800"})
    body = webhook(good, bad, also_good)

    status, reply = await post(http, ingest, body)
    again, _ = await post(http, ingest, body)  # Meta retries: nothing twice

    assert (status, reply["facts"], reply["rejected"], again) == (200, 2, 1, 200)
    facts = await stored(js, nats_namespace, INGEST_EVENTS)
    assert [(f.headers or {})["Nats-Msg-Id"] for f in facts] == [good["id"], also_good["id"]]
    (dead,) = await stored(js, nats_namespace, DEAD_LETTERS)
    assert dead.subject == f"{nats_namespace}.dlq.ingest.bad-id"
    assert "messages[1].id has 70000 characters" in (dead.headers or {})[REASON]


async def test_problems_and_rejections_are_counted(
    ingest: RunningIngest, http: aiohttp.ClientSession
) -> None:
    await post(http, ingest, webhook(message(text={"body": "\x00"}), message(id="w" * 300)))
    await post(http, ingest, b'{"entry": [{"changes": [{"field": "' + b"f" * 500 + b'"}]}]}')

    async with http.get(f"http://127.0.0.1:{ingest.ops_port}/metrics") as metrics:
        exposition = await metrics.text()

    assert "threadline_ingest_fact_problems_total 1.0" in exposition
    assert 'threadline_ingest_rejected_parts_total{reason="bad-id"} 1.0' in exposition
    assert 'threadline_ingest_ignored_changes_total{field="other"} 1.0' in exposition
    assert "f" * 100 not in exposition
