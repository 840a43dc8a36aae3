"""Benchmark 5: customers' photos kept end to end (issue 11).

C customers each send K photos (valid JPEGs of `size` bytes, random inside so no two are one
file in the content-addressed store) through the sandbox's customer API, one after another per
customer, all customers at once: the sandbox keeps the file and posts the signed image webhook
to ingest; the session records the message; outbound's media consumer looks the media id up at
the sandbox's Graph API, downloads it, checks its hash, stores it and announces `MediaKept`;
the session records `AttachmentStored`.

Measured: photos per second from the first customer request to the last `AttachmentStored`
(followed on NATS with a plain subscription on its subject; its time is the event's own, as the
session recorded it), and each photo's latency from its customer request to `MediaKept.kept_at`
and to `AttachmentStored` (one machine, one clock). Checked afterwards, from the stores:
the session's event log (`EventLog.ReadAll`) holds exactly one `AttachmentStored` per photo, and
the file at its location hashes to the sha256 of the bytes the customer sent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC

import aiohttp
import grpc
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from tests.bench.images import jpeg_of_size
from tests.bench.percentiles import percentile
from tests.bench.platform import RunningPlatform
from threadline.contracts.events.v1.outbound_pb2 import MediaKept
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.contracts.session.v1 import session_pb2 as session_pb
from threadline.contracts.session.v1 import session_pb2_grpc as session_grpc
from threadline.media import FilesystemMediaStore
from threadline.messaging.topology import MEDIA_KEPT, SESSION_EVENT, Topology

PHONE_NUMBER_ID = "109000000000005"
MEGABYTE = 1024 * 1024


@dataclass
class MediaFigures:
    photos: int
    customers: int
    size: int
    accepted_per_s: float  # photos whose webhook ingest answered 200, per second
    kept_per_s: float  # first request → last AttachmentStored
    mib_per_s: float
    kept_p50_ms: float  # request → MediaKept
    kept_p99_ms: float
    stored_p50_ms: float  # request → AttachmentStored
    stored_p99_ms: float
    failed: int  # AttachmentFailed seen (must be 0)
    alone: int  # photos sent one at a time, each after the last was recorded
    alone_p50_ms: float  # request → AttachmentStored, one photo in the platform at a time
    alone_p99_ms: float
    alone_per_s: float


@dataclass
class Sent:
    sha256: str
    at: float  # time.time() as the customer's request went


@dataclass
class Arrivals:
    """When each photo was kept (`MediaKept.kept_at`, outbound's clock) and recorded
    (`AttachmentStored`'s `occurred_at`, the session's clock), by media id: the events' own
    times, not when this process, busy sending photos, got round to reading them."""

    kept: dict[str, float] = field(default_factory=dict)
    stored: dict[str, float] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def follow(self, nc: NatsClient, nats_namespace: str) -> None:
        topology = Topology(nats_namespace)

        async def kept(message: Msg) -> None:
            event = MediaKept.FromString(message.data)
            self.kept.setdefault(event.media_id, event.kept_at.ToDatetime(UTC).timestamp())

        async def stored(message: Msg) -> None:
            event = SessionEvent.FromString(message.data)
            self.stored.setdefault(
                event.attachment_stored.media_id, event.occurred_at.ToDatetime(UTC).timestamp()
            )
            self.changed.set()

        async def failed(message: Msg) -> None:
            failure = SessionEvent.FromString(message.data).attachment_failed
            self.failed.append(f"{failure.media_id}: {failure.reason}")
            self.changed.set()

        subject = topology.publish_subject
        await nc.subscribe(subject(MEDIA_KEPT), cb=kept)
        await nc.subscribe(
            subject(SESSION_EVENT, aggregate="Conversation", event="AttachmentStored"), cb=stored
        )
        await nc.subscribe(
            subject(SESSION_EVENT, aggregate="Conversation", event="AttachmentFailed"), cb=failed
        )

    async def wait_for(self, media_ids: set[str], *, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not media_ids <= self.stored.keys() and not self.failed:
                self.changed.clear()
                await self.changed.wait()
        if self.failed:
            raise AssertionError(f"photos not kept: {self.failed[:5]}")


@dataclass(frozen=True)
class Photo:
    body: bytes  # the customer API's JSON request, file included (base64)
    sha256: str


def photos_of(customers: int, photos: int, *, size: int, run: str) -> dict[str, list[Photo]]:
    """Each customer's photos, made before the clock starts (JPEG, base64, JSON: not measured)."""
    made: dict[str, list[Photo]] = {}
    for c in range(customers):
        wa_id = f"1888{run}{c:06d}"
        made[wa_id] = []
        for k in range(photos):
            image = jpeg_of_size(size)
            body = {
                "phone_number_id": PHONE_NUMBER_ID,
                "type": "image",
                "mime_type": "image/jpeg",
                "file_base64": base64.b64encode(image).decode(),
                "caption": f"photo {k} of {wa_id}",
            }
            made[wa_id].append(Photo(json.dumps(body).encode(), hashlib.sha256(image).hexdigest()))
    return made


async def send_photos(
    platform: RunningPlatform, photos: dict[str, list[Photo]]
) -> tuple[dict[str, Sent], float]:
    """Each customer sends their photos one after another, all customers at once; what was
    sent by media id, and when the last webhook was answered."""
    sent: dict[str, Sent] = {}
    url = f"{platform.sandbox.url}/sandbox/customers/{{}}/messages"
    headers = {"Content-Type": "application/json"}

    async def customer(http: aiohttp.ClientSession, wa_id: str) -> None:
        for photo in photos[wa_id]:
            at = time.time()
            async with http.post(url.format(wa_id), data=photo.body, headers=headers) as response:
                answer = await response.json()
                if response.status != 200 or answer.get("webhook_status") != 200:
                    raise RuntimeError(f"the customer's photo was not taken: {answer}")
            sent[str(answer["media_id"])] = Sent(photo.sha256, at)

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(customer(http, wa_id) for wa_id in photos))
    return sent, time.time()


async def stored_attachments(platform: RunningPlatform) -> list[SessionEvent]:
    """Every `AttachmentStored` in the session's event log, read back over gRPC."""
    state = platform.state
    auth = (("authorization", f"Bearer {state.secrets.api_token}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{state.ports.session_grpc}") as channel:
        call = session_grpc.EventLogStub(channel).ReadAll(
            session_pb.ReadAllRequest(from_position=1), metadata=auth
        )
        return [event async for event in call if event.HasField("attachment_stored")]


async def check_kept(platform: RunningPlatform, sent: dict[str, Sent]) -> None:
    """Each photo recorded once, and the stored file's bytes are the ones the customer sent."""
    events = [e.attachment_stored for e in await stored_attachments(platform)]
    counts = Counter(a.media_id for a in events if a.media_id in sent)
    wrong = {media_id: n for media_id, n in counts.items() if n != 1}
    missing = sent.keys() - counts.keys()
    if wrong or missing:
        raise AssertionError(f"recorded more than once: {wrong}; never recorded: {missing}")
    async with FilesystemMediaStore(platform.media_root) as store:
        for attachment in events:
            if attachment.media_id not in sent:
                continue
            expected = sent[attachment.media_id].sha256
            data = await store.get(attachment.location)
            if hashlib.sha256(data).hexdigest() != expected or attachment.sha256 != expected:
                raise AssertionError(f"photo {attachment.media_id} was not kept as sent")


def _latencies(sent: dict[str, Sent], seen: dict[str, float]) -> tuple[float, float]:
    samples = [(seen[m] - s.at) * 1000 for m, s in sent.items()]
    if not samples:
        return 0.0, 0.0
    return percentile(samples, 0.50), percentile(samples, 0.99)


async def run_media_benchmark(
    platform: RunningPlatform, *, customers: int, photos: int, alone: int, size: int = MEGABYTE
) -> MediaFigures:
    """`customers` each send `photos` photos at once (throughput, latency under that load);
    then one customer sends `alone` photos, each once the one before it was recorded (latency
    on an otherwise idle platform, and the rate of keeping one photo at a time)."""
    run = f"{int(time.time()) % 100:02d}"
    nats_namespace = platform.env.get("THREADLINE_NATS_NAMESPACE", "")
    arrivals = Arrivals()
    nc = await nats.connect(platform.state.nats_url)
    async with contextlib.AsyncExitStack() as closing:
        closing.push_async_callback(nc.close)
        await arrivals.follow(nc, nats_namespace)
        # Warm-up: one photo through every hop (connections, consumers, the store's folders).
        warm, _ = await send_photos(platform, photos_of(1, 1, size=size, run="9" + run[0]))
        await arrivals.wait_for(set(warm), timeout=120)
        made = photos_of(customers, photos, size=size, run=run)
        started = time.time()
        sent, accepted_at = await send_photos(platform, made)
        del made
        await arrivals.wait_for(set(sent), timeout=600)
        finished = max(arrivals.stored[m] for m in sent)
        one_by_one: dict[str, Sent] = {}
        for wa_id, photos_one in photos_of(1, alone, size=size, run="8" + run[0]).items():
            alone_started = time.time()
            for photo in photos_one:
                just_sent, _ = await send_photos(platform, {wa_id: [photo]})
                await arrivals.wait_for(set(just_sent), timeout=120)
                one_by_one.update(just_sent)
            alone_elapsed = time.time() - alone_started
    await check_kept(platform, {**warm, **sent, **one_by_one})
    count = len(sent)
    alone_p50, alone_p99 = _latencies(one_by_one, arrivals.stored)
    kept_p50, kept_p99 = _latencies(sent, arrivals.kept)
    stored_p50, stored_p99 = _latencies(sent, arrivals.stored)
    return MediaFigures(
        photos=count,
        customers=customers,
        size=size,
        accepted_per_s=count / (accepted_at - started),
        kept_per_s=count / (finished - started),
        mib_per_s=count * size / MEGABYTE / (finished - started),
        kept_p50_ms=kept_p50,
        kept_p99_ms=kept_p99,
        stored_p50_ms=stored_p50,
        stored_p99_ms=stored_p99,
        failed=len(arrivals.failed),
        alone=alone,
        alone_p50_ms=alone_p50,
        alone_p99_ms=alone_p99,
        alone_per_s=alone / alone_elapsed,
    )


def print_media(f: MediaFigures) -> None:
    print("\nBenchmark 5 — customers' photos kept end to end (issue 11)")
    print(
        f"  {f.photos} photos of {f.size / MEGABYTE:.1f} MiB (JPEG) from {f.customers} customers, "
        "each customer one after another"
    )
    print(f"  webhooks accepted by ingest: {f.accepted_per_s:7.1f} photos/s")
    print(
        f"  kept end to end (request → AttachmentStored): {f.kept_per_s:7.1f} photos/s "
        f"({f.mib_per_s:.1f} MiB/s)"
    )
    print(
        f"  latency request → MediaKept:        p50 {f.kept_p50_ms:7.1f} ms   "
        f"p99 {f.kept_p99_ms:7.1f} ms"
    )
    print(
        f"  latency request → AttachmentStored: p50 {f.stored_p50_ms:7.1f} ms   "
        f"p99 {f.stored_p99_ms:7.1f} ms"
    )
    print(
        f"  one photo at a time ({f.alone}, each sent once the last was recorded): "
        f"p50 {f.alone_p50_ms:7.1f} ms   p99 {f.alone_p99_ms:7.1f} ms   "
        f"({f.alone_per_s:.1f} photos/s)"
    )
    print("  every photo recorded once, its stored file's sha256 the one sent")
