"""The running service over real NATS JetStream and a real HTTP server."""

from __future__ import annotations

import json
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
from threadline.messaging.topology import (
    AI_EVENTS,
    DEAD_LETTERS,
    INGEST_EVENTS,
    INGEST_RAW,
    OUTBOUND_EVENTS,
    SESSION_EVENTS,
    Topology,
)

SECRET = "app-secret-for-tests"
VERIFY_TOKEN = "verify-token-for-tests"
MAX_BODY = 64 * 1024
TextWebhook = Callable[..., dict[str, Any]]


@pytest.fixture
async def ingest(nats_server_url: str, nats_namespace: str) -> AsyncIterator[RunningIngest]:
    config = IngestConfig(
        app_secret=SECRET,
        verify_token=VERIFY_TOKEN,
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        port=0,
        ops_port=0,
        max_body_bytes=MAX_BODY,
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


def _url(service: RunningIngest, path: str = "/webhooks/whatsapp") -> str:
    return f"http://127.0.0.1:{service.port}{path}"


async def _post_signed(
    http: aiohttp.ClientSession, service: RunningIngest, body: bytes
) -> tuple[int, str]:
    headers = {SIGNATURE_HEADER: sign(body, SECRET), "Content-Type": "application/json"}
    async with http.post(_url(service), data=body, headers=headers) as response:
        return response.status, await response.text()


async def _stored(js: JetStreamContext, namespace: str, stream: str) -> list[RawStreamMsg]:
    name = Topology(namespace).stream(stream)
    info = await js.stream_info(name)
    first, last = info.state.first_seq, info.state.last_seq
    return [await js.get_msg(name, seq) for seq in range(first, last + 1)] if last else []


async def test_signed_text_webhook_is_answered_200_and_its_fact_and_raw_are_kept(
    ingest: RunningIngest,
    js: JetStreamContext,
    http: aiohttp.ClientSession,
    nats_namespace: str,
    text_webhook: TextWebhook,
) -> None:
    body = json.dumps(
        text_webhook(text="Hi there", wamid="wamid.IT1", phone_number_id="777")
    ).encode()

    status, _ = await _post_signed(http, ingest, body)

    assert status == 200
    (fact,) = await _stored(js, nats_namespace, INGEST_EVENTS)
    assert fact.subject == f"{nats_namespace}.ingest.events.0.777.InboundMessageReceived"
    message = ingest_pb2.InboundMessageReceived.FromString(fact.data or b"")
    assert (message.wamid, message.content.text) == ("wamid.IT1", "Hi there")
    (raw,) = await _stored(js, nats_namespace, INGEST_RAW)
    assert (raw.subject, raw.data) == (f"{nats_namespace}.ingest.raw.777", body)


async def test_same_webhook_twice_keeps_one_fact(
    ingest: RunningIngest,
    js: JetStreamContext,
    http: aiohttp.ClientSession,
    nats_namespace: str,
    text_webhook: TextWebhook,
) -> None:
    body = json.dumps(text_webhook()).encode()

    statuses = [(await _post_signed(http, ingest, body))[0] for _ in range(2)]

    assert statuses == [200, 200]
    assert len(await _stored(js, nats_namespace, INGEST_EVENTS)) == 1
    assert len(await _stored(js, nats_namespace, INGEST_RAW)) == 1


@pytest.mark.parametrize(
    "signature",
    [None, "sha256=" + "0" * 64, "not-a-signature"],
    ids=["missing", "wrong", "garbled"],
)
async def test_badly_signed_webhook_is_refused_and_nothing_is_published(
    ingest: RunningIngest,
    js: JetStreamContext,
    http: aiohttp.ClientSession,
    nats_namespace: str,
    text_webhook: TextWebhook,
    signature: str | None,
) -> None:
    headers = {SIGNATURE_HEADER: signature} if signature else {}

    async with http.post(_url(ingest), json=text_webhook(), headers=headers) as response:
        status, reply = response.status, await response.json()

    assert status == 401
    assert SIGNATURE_HEADER in reply["error"]
    streams = (INGEST_RAW, INGEST_EVENTS, SESSION_EVENTS, AI_EVENTS, OUTBOUND_EVENTS, DEAD_LETTERS)
    assert [len(await _stored(js, nats_namespace, s)) for s in streams] == [0] * len(streams)


async def test_signed_body_that_cannot_be_read_is_kept_and_dead_lettered(
    ingest: RunningIngest,
    js: JetStreamContext,
    http: aiohttp.ClientSession,
    nats_namespace: str,
) -> None:
    body = b'{"entry": "this is not a list"}'

    status, _ = await _post_signed(http, ingest, body)

    assert status == 200
    (raw,) = await _stored(js, nats_namespace, INGEST_RAW)
    assert (raw.subject, raw.data) == (f"{nats_namespace}.ingest.raw.unknown", body)
    (dead,) = await _stored(js, nats_namespace, DEAD_LETTERS)
    assert dead.subject == f"{nats_namespace}.dlq.ingest.unparseable"
    assert "entry must be a list" in (dead.headers or {})[REASON]
    assert await _stored(js, nats_namespace, INGEST_EVENTS) == []


async def test_body_declared_larger_than_allowed_is_refused(
    ingest: RunningIngest, js: JetStreamContext, http: aiohttp.ClientSession, nats_namespace: str
) -> None:
    body = b" " * (MAX_BODY + 1)

    status, _ = await _post_signed(http, ingest, body)

    assert status == 413
    assert await _stored(js, nats_namespace, INGEST_RAW) == []


async def test_body_streamed_larger_than_allowed_is_refused(
    ingest: RunningIngest, http: aiohttp.ClientSession
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b" " * (MAX_BODY // 2)

    async with http.post(_url(ingest), data=chunks()) as response:
        assert response.status == 413


async def test_a_compressed_or_falsely_compressed_body_is_refused_with_415(
    ingest: RunningIngest, js: JetStreamContext, http: aiohttp.ClientSession, nats_namespace: str
) -> None:
    # Found by make fuzz: aiohttp inflated while reading; a body that was not what its
    # Content-Encoding said made a 500, and 96 KB of it left the client without an answer.
    small = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    large = b'{"a":' * 19_200
    for body, encoding in [(small, "deflate"), (large, "deflate"), (small, "gzip"), (small, "br")]:
        headers = {
            SIGNATURE_HEADER: sign(body, SECRET),
            "Content-Type": "application/json",
            "Content-Encoding": encoding,
        }

        async with http.post(
            _url(ingest), data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
        ) as response:
            status, text = response.status, await response.text()

        assert status == 415, (encoding, len(body), text)
        assert "Content-Encoding" in text
    assert await _stored(js, nats_namespace, INGEST_RAW) == []


async def test_webhook_not_acknowledged_by_jetstream_is_answered_503(
    ingest: RunningIngest,
    js: JetStreamContext,
    http: aiohttp.ClientSession,
    nats_namespace: str,
    text_webhook: TextWebhook,
) -> None:
    await js.delete_stream(Topology(nats_namespace).stream(INGEST_EVENTS))

    status, _ = await _post_signed(http, ingest, json.dumps(text_webhook()).encode())

    assert status == 503


async def test_verification_handshake_echoes_the_challenge(
    ingest: RunningIngest, http: aiohttp.ClientSession
) -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }

    async with http.get(_url(ingest), params=query) as response:
        status, content_type, text = response.status, response.content_type, await response.text()

    assert (status, content_type, text) == (200, "text/plain", "1158201444")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
    ids=["wrong-token", "wrong-mode", "nothing"],
)
async def test_verification_handshake_with_wrong_token_or_mode_is_forbidden(
    ingest: RunningIngest, http: aiohttp.ClientSession, query: dict[str, str]
) -> None:
    async with http.get(_url(ingest), params=query) as response:
        status, reply = response.status, await response.json()

    assert status == 403
    assert reply["error"].startswith("hub.")


async def test_ops_server_is_ready_and_counts_webhooks(
    ingest: RunningIngest, http: aiohttp.ClientSession, text_webhook: TextWebhook
) -> None:
    await _post_signed(http, ingest, json.dumps(text_webhook()).encode())
    ops = f"http://127.0.0.1:{ingest.ops_port}"

    async with http.get(f"{ops}/readyz") as ready:
        assert (ready.status, await ready.json()) == (200, {"ready": True, "problems": {}})
    async with http.get(f"{ops}/metrics") as metrics:
        exposition = await metrics.text()

    assert 'threadline_ingest_webhooks_total{outcome="accepted"} 1.0' in exposition
    assert 'threadline_ingest_facts_total{kind="InboundMessageReceived"} 1.0' in exposition
