"""Customers' media kept end to end: real NATS JetStream, the real sandbox as WhatsApp (its
simulated customer sends real files: a PNG photo, a PDF, an OGG Opus voice note), the
filesystem media store in a temporary directory."""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, NotFoundError
from prometheus_client import REGISTRY

from threadline.contracts.events.v1 import common_pb2, outbound_pb2, session_pb2
from threadline.media import FilesystemMediaStore
from threadline.messaging.topology import (
    DEAD_LETTERS,
    MEDIA_KEEP_FAILED,
    MEDIA_KEPT,
    OUTBOUND_MEDIA,
    SESSION_EVENT,
    SESSION_EVENTS,
    Route,
    Topology,
    ensure_streams,
)
from threadline.outbound.adapters.outbound.sent_ledger import BUCKET
from threadline.outbound.bootstrap import RunningOutbound, bootstrap
from threadline.outbound.config import OutboundConfig
from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.receiver import WebhookReceiver
from threadline.sandbox.sample_media import SAMPLES
from threadline.sandbox.server import Sandbox
from threadline.testing import eventually

TOKEN = "EAAG-media-test"
APP_SECRET = "media-test-app-secret"
PHONE_NUMBER_ID = "106540352242922"
MAX_DELIVER = 3

Sent = tuple[session_pb2.SessionEvent, dict[str, Any]]


@pytest.fixture
async def js(nats_server_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server_url)
    yield nc.jetstream()
    await nc.drain()


@pytest.fixture
def topology(nats_namespace: str) -> Topology:
    return Topology(nats_namespace)


@pytest.fixture
async def services(
    nats_namespace: str, js: JetStreamContext, topology: Topology
) -> AsyncIterator[AsyncExitStack]:
    """Where the sandbox and the service are started; the test's streams and bucket are
    deleted after them."""
    await ensure_streams(js, topology)
    async with AsyncExitStack() as stack:
        yield stack
    for stream in topology.stream_configs():
        await js.delete_stream(stream.name or "")
    with contextlib.suppress(BucketNotFoundError, NotFoundError):
        await js.delete_key_value(f"{nats_namespace}_{BUCKET}")


class Customer:
    """The sandbox's simulated customer, and the webhooks its messages become."""

    def __init__(self, sandbox: Sandbox, receiver: WebhookReceiver) -> None:
        self.sandbox = sandbox
        self._receiver = receiver
        self.wa_id = "1555" + str(uuid.uuid4().int % 10**7).zfill(7)

    async def sends(self, kind: str, **fields: Any) -> Sent:
        """The customer sends a message of `kind` (a sample file unless `file_base64` is
        given); the session event recording it (content as ingest reads the webhook), and the
        sandbox's answer."""
        body: dict[str, Any] = {"phone_number_id": PHONE_NUMBER_ID, "type": kind, **fields}
        url = f"{self.sandbox.url}/sandbox/customers/{self.wa_id}/messages"
        async with aiohttp.ClientSession() as http, http.post(url, json=body) as response:
            assert response.status == 200, await response.text()
            answer: dict[str, Any] = await response.json()
        [webhook] = [w for w in self._receiver.received if answer["wamid"] in w.body.decode()]
        payload: Any = webhook.json()
        message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        return customer_message(kind, message.get(kind), message["id"]), answer


def customer_message(kind: str, content: Any, wamid: str) -> session_pb2.SessionEvent:
    return session_pb2.SessionEvent(
        event_id=str(uuid.uuid4()),
        aggregate_type="Conversation",
        aggregate_id=f"conversation-{uuid.uuid4()}",
        customer_message_received=session_pb2.CustomerMessageReceived(
            message_id=f"message-{uuid.uuid4()}",
            wamid=wamid,
            content=common_pb2.MessageContent(
                type=kind,
                text=content["body"] if kind == "text" else "",
                payload_json=json.dumps(content),
            ),
        ),
    )


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(APP_SECRET) as started:
        yield started


Start = Callable[..., Awaitable[tuple[RunningOutbound, Customer]]]


@pytest.fixture
def start(
    nats_server_url: str,
    nats_namespace: str,
    services: AsyncExitStack,
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> Start:
    """Start the sandbox (`url_ttl_s`: its download URLs' life) and outbound (`config`
    changes, `media_backoff`)."""

    async def started(
        *, url_ttl_s: float = 300.0, media_backoff: tuple[float, ...] = (0.05,), **config: Any
    ) -> tuple[RunningOutbound, Customer]:
        sandbox = await services.enter_async_context(
            Sandbox(
                SandboxConfig(
                    app_secret=APP_SECRET,
                    access_token=TOKEN,
                    port=0,
                    webhook_url=receiver.url,
                    send_statuses=False,
                    media_url_ttl_s=url_ttl_s,
                )
            )
        )
        settings = OutboundConfig(
            nats_url=nats_server_url,
            nats_namespace=nats_namespace,
            graph_api_base_url=sandbox.url,
            graph_api_version="v23.0",
            access_token=TOKEN,
            ops_port=0,
            concurrency=4,
            media_root=tmp_path / "media",
        )
        running = await bootstrap(
            replace(settings, **config),
            services,
            max_deliver=MAX_DELIVER,
            backoff=(0.05,),
            typing_backoff=(0.05,),
            media_backoff=media_backoff,
        )
        return running, Customer(sandbox, receiver)

    return started


async def record(js: JetStreamContext, topology: Topology, event: session_pb2.SessionEvent) -> None:
    """Publish as the session's relay does (a redelivery: the same event again, another id)."""
    subject = topology.publish_subject(
        SESSION_EVENT, aggregate="Conversation", event="CustomerMessageReceived"
    )
    await js.publish(subject, event.SerializeToString(), headers={"Nats-Msg-Id": str(uuid.uuid4())})


async def all_handled(js: JetStreamContext, topology: Topology, published: int) -> None:
    """Wait until the media consumer has settled every one of the `published` messages."""

    async def settled() -> bool:
        try:
            info = await js.consumer_info(topology.stream(SESSION_EVENTS), OUTBOUND_MEDIA.name)
        except NotFoundError:
            return False
        return info.ack_floor.stream_seq >= published and info.num_ack_pending == 0

    await eventually(settled, timeout=20)


async def published(js: JetStreamContext, topology: Topology, route: Route) -> list[bytes]:
    """The payloads of `route` on its stream, in order."""
    subject = topology.publish_subject(route)
    return [
        data for found, data in await _stream(js, topology.stream(route.stream)) if found == subject
    ]


async def dead_letters(js: JetStreamContext, topology: Topology) -> list[str]:
    """The subjects of outbound's dead letters."""
    prefix = topology.dead_letter_subject("outbound", "")
    return [
        found
        for found, _ in await _stream(js, topology.stream(DEAD_LETTERS))
        if found.startswith(prefix)
    ]


async def _stream(js: JetStreamContext, stream: str) -> list[tuple[str, bytes]]:
    info = await js.stream_info(stream)
    if not info.state.messages:
        return []
    found = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        with contextlib.suppress(NotFoundError):
            message = await js.get_msg(stream, seq=sequence)
            found.append((message.subject, message.data or b""))
    return found


async def kept(js: JetStreamContext, topology: Topology) -> list[outbound_pb2.MediaKept]:
    return [
        outbound_pb2.MediaKept.FromString(data)
        for data in await published(js, topology, MEDIA_KEPT)
    ]


async def failed(js: JetStreamContext, topology: Topology) -> list[outbound_pb2.MediaKeepFailed]:
    return [
        outbound_pb2.MediaKeepFailed.FromString(data)
        for data in await published(js, topology, MEDIA_KEEP_FAILED)
    ]


def counted(result: str) -> float:
    value = REGISTRY.get_sample_value("threadline_outbound_media_total", {"result": result})
    return value or 0.0


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def message_id(event: session_pb2.SessionEvent) -> str:
    return event.customer_message_received.message_id


async def test_a_photo_a_pdf_and_a_voice_note_are_kept_with_their_bytes_and_hash(
    start: Start, js: JetStreamContext, topology: Topology, tmp_path: Path
) -> None:
    _, customer = await start()
    photo, _ = await customer.sends("image", caption="The broken hinge")
    invoice, _ = await customer.sends("document", filename="invoice-1042.pdf")
    voice_note, _ = await customer.sends("audio")
    bytes_before = counter("threadline_outbound_media_bytes_total")

    for event in (photo, invoice, voice_note):
        await record(js, topology, event)

    await eventually(lambda: _count(kept(js, topology), 3), timeout=20)
    by_message = {event.message_id: event for event in await kept(js, topology)}
    store = FilesystemMediaStore(tmp_path / "media")
    for event, kind, sample_kind in (
        (photo, "image", "image"),
        (invoice, "document", "document"),
        (voice_note, "audio", "audio"),
    ):
        sample = SAMPLES[sample_kind]  # type: ignore[index]
        media = by_message[message_id(event)]
        assert media.conversation_id == event.aggregate_id
        assert media.media_type == kind
        assert (
            media.media_id == json.loads(event.customer_message_received.content.payload_json)["id"]
        )
        assert media.content_type == sample.mime_type
        assert media.size == len(sample.data)
        assert media.sha256 == hashlib.sha256(sample.data).hexdigest()
        assert await store.get(media.location) == sample.data
        assert media.HasField("kept_at")
    assert by_message[message_id(photo)].caption == "The broken hinge"
    assert by_message[message_id(invoice)].file_name == "invoice-1042.pdf"
    assert by_message[message_id(voice_note)].voice is True
    assert not by_message[message_id(photo)].voice
    total = sum(len(SAMPLES[k].data) for k in ("image", "document", "audio"))  # type: ignore[index]
    assert counter("threadline_outbound_media_bytes_total") == bytes_before + total
    assert await failed(js, topology) == []


async def test_a_download_url_expired_before_the_retry_is_asked_for_again(
    start: Start, js: JetStreamContext, topology: Topology, tmp_path: Path
) -> None:
    # The store is unavailable at first (its directory cannot be made: a file is in the way),
    # so the first attempt fails after its download; the retry comes after the URL expired.
    blocker = tmp_path / "media"
    blocker.write_bytes(b"not a directory")
    _, customer = await start(url_ttl_s=0.5, media_backoff=(1.5,))
    photo, _ = await customer.sends("image")
    retries_before, refreshes_before = (
        counted("will_retry"),
        counter("threadline_outbound_media_url_refreshes_total"),
    )

    await record(js, topology, photo)
    await eventually(lambda: counted("will_retry") == retries_before + 1, timeout=10)
    blocker.unlink()

    await eventually(lambda: _count(kept(js, topology), 1), timeout=20)
    [media] = await kept(js, topology)
    assert media.sha256 == hashlib.sha256(SAMPLES["image"].data).hexdigest()
    assert counter("threadline_outbound_media_url_refreshes_total") == refreshes_before + 1
    assert await failed(js, topology) == []


async def test_media_larger_than_the_limit_is_refused_with_the_reason(
    start: Start, js: JetStreamContext, topology: Topology, tmp_path: Path
) -> None:
    _, customer = await start(media_max_bytes=400)
    photo, _ = await customer.sends("image")  # 463 bytes
    refused_before = counted("refused")

    await record(js, topology, photo)

    await eventually(lambda: _count(failed(js, topology), 1), timeout=20)
    [refusal] = await failed(js, topology)
    assert refusal.message_id == message_id(photo)
    assert refusal.refused is True
    assert "463 bytes" in refusal.reason and "400 bytes" in refusal.reason
    assert counted("refused") == refused_before + 1
    assert await kept(js, topology) == []
    assert not (tmp_path / "media").exists()


async def test_an_unknown_media_id_is_failed_and_the_next_file_is_still_kept(
    start: Start, js: JetStreamContext, topology: Topology
) -> None:
    _, customer = await start()
    unknown = customer_message(
        "image", {"id": "1234567890123456", "mime_type": "image/jpeg"}, "wamid.unknown"
    )
    photo, _ = await customer.sends("image")
    failed_before = counted("failed")

    await record(js, topology, unknown)
    await record(js, topology, photo)

    await eventually(lambda: _count(kept(js, topology), 1), timeout=20)
    [failure] = await failed(js, topology)
    assert failure.message_id == message_id(unknown)
    assert failure.media_id == "1234567890123456"
    assert failure.refused is False
    assert "does not exist" in failure.reason
    assert failure.attempts == 1  # not retried: WhatsApp will never have it
    assert counted("failed") == failed_before + 1
    assert [media.message_id for media in await kept(js, topology)] == [message_id(photo)]


async def test_a_file_that_cannot_be_fetched_in_any_attempt_is_failed_with_the_reason(
    start: Start, js: JetStreamContext, topology: Topology, tmp_path: Path
) -> None:
    (tmp_path / "media").write_bytes(b"not a directory")  # the store never becomes available
    _, customer = await start()
    photo, _ = await customer.sends("image")

    await record(js, topology, photo)

    await eventually(lambda: _count(failed(js, topology), 1), timeout=20)
    [failure] = await failed(js, topology)
    assert failure.refused is False
    assert failure.attempts == MAX_DELIVER
    assert "Media directory failed" in failure.reason
    await all_handled(js, topology, 1)
    assert await dead_letters(js, topology) == []


async def test_a_duplicate_delivery_downloads_the_file_once(
    start: Start, js: JetStreamContext, topology: Topology
) -> None:
    _, customer = await start()
    photo, answer = await customer.sends("image")
    bytes_before, already_before = (
        counter("threadline_outbound_media_bytes_total"),
        counted("already_kept"),
    )
    await record(js, topology, photo)
    await eventually(lambda: _count(kept(js, topology), 1), timeout=20)
    # Meta no longer has the file: a second download would fail.
    assert customer.sandbox.media.delete(answer["media_id"])

    await record(js, topology, photo)

    await all_handled(js, topology, 2)
    assert counted("already_kept") == already_before + 1
    size = len(SAMPLES["image"].data)
    assert counter("threadline_outbound_media_bytes_total") == bytes_before + size
    assert await failed(js, topology) == []
    [media] = await kept(js, topology)  # announced again with the same id: one event
    assert media.size == size


async def test_a_text_message_is_acknowledged_and_nothing_is_announced(
    start: Start, js: JetStreamContext, topology: Topology
) -> None:
    await start()
    text = customer_message("text", {"body": "Do you open on Sundays?"}, "wamid.text")
    results_before = sum(
        counted(r) for r in ("kept", "already_kept", "refused", "failed", "will_retry")
    )

    await record(js, topology, text)

    await all_handled(js, topology, 1)
    assert await published(js, topology, MEDIA_KEPT) == []
    assert await published(js, topology, MEDIA_KEEP_FAILED) == []
    assert await dead_letters(js, topology) == []
    assert results_before == sum(
        counted(r) for r in ("kept", "already_kept", "refused", "failed", "will_retry")
    )


async def _count(found: Awaitable[list[Any]], expected: int) -> bool:
    return len(await found) >= expected
