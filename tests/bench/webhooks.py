"""Benchmark 1: signed text webhooks through the whole platform.

Phase A (throughput): N webhooks from M customers across B business numbers are posted as fast
as ingest takes them (C in flight); we time until all are accepted (webhooks/s) and until every
message is answered at the sandbox (end-to-end rate). The assistant answers a burst of one
customer's messages once, so the end is when the session has queued AI replies covering N
messages (read off `OutboundMessageQueued.covered_message_ids`) and the sandbox holds them all.
The platform runs with a reply delay of 0 here (the plumbing's figure; the assistant's own path,
with its delay and a model, is `tests/bench/assistant.py`).
Phase B (latency): L customers each send K messages one after another, each waiting for its
reply; latency is from ingest's 200 to the sandbox accepting the reply (one clock, one process).
Phase C (latency at a rate, open loop): for each offered rate R, messages from new customers are
posted at R a second for S seconds whether or not earlier ones were answered (as customers
write); latency as in B, p50 and p99, and the rate actually answered. Past what the platform
can take, the backlog grows through the run and so does the latency: the figure says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from tests.bench.cpu import CpuWatch, Utilisation
from tests.bench.nats_traffic import NatsTraffic, TrafficWatch
from tests.bench.percentiles import percentile
from tests.bench.platform import RunningPlatform
from tests.bench.replies import ReplyFollower
from tests.bench.stages import StageFigures, stage_times
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.topology import Topology
from threadline.sandbox.customer import build_inbound_text
from threadline.sandbox.signing import sign


@dataclass
class WebhookFigures:
    webhooks: int
    customers: int
    numbers: int
    accepted_per_s: float
    end_to_end_per_s: float
    settled_s: float
    latency_samples: int
    p50_ms: float
    p99_ms: float
    latency_rate_per_s: float
    at_rate: list[RateFigures]
    use: Utilisation  # the machine's and each service process's CPU in the closed loop
    nats: NatsTraffic | None = None  # what NATS carried in the closed loop (embedded NATS only)
    replies: int = 0  # the replies that answered the closed loop's messages


@dataclass
class RateFigures:
    """Phase C at one offered rate."""

    offered_per_s: float
    posted_per_s: float  # what the benchmark managed to post (it is on the same two cores)
    answered_per_s: float
    samples: int
    p50_ms: float
    p99_ms: float
    stages: list[StageFigures]  # where the time went, stage by stage (`tests/bench/stages.py`)
    # From a webhook's POST to ingest's 200 (what Meta times out on): p50 and p99.
    ingest_p50_ms: float = 0.0
    ingest_p99_ms: float = 0.0
    # The machine and each process while this rate was offered and answered (its limit).
    use: Utilisation | None = None


class Answers:
    """The AI replies the session queues, as they are relayed (a plain NATS subscription on
    their subject): how many, and how many customer messages they answer."""

    def __init__(self) -> None:
        self.replies = 0
        self.covered: set[str] = set()
        self._subscription: Any = None

    async def follow(self, nc: NatsClient, nats_namespace: str = "", partitions: int = 1) -> None:
        # In every partition: with several, each partition's relay publishes on its own.
        subject = Topology(nats_namespace, partitions=partitions).session_filter(
            "Conversation.OutboundMessageQueued"
        )

        async def seen(message: Msg) -> None:
            queued = SessionEvent.FromString(message.data).outbound_message_queued
            if queued.author == "ai":
                self.replies += 1
                self.covered.update(queued.covered_message_ids or [queued.in_reply_to_message_id])

        self._subscription = await nc.subscribe(subject, cb=seen)


class Client:
    def __init__(
        self,
        platform: RunningPlatform,
        http: aiohttp.ClientSession,
        answers: Answers,
        replies: ReplyFollower,
    ) -> None:
        self.platform, self.http, self.answers, self.follower = platform, http, answers, replies
        self.state = platform.state
        self.answered_in_ms: list[float] = []  # each POST's wait for ingest's 200

    async def post(self, number: str, wa_id: str, text: str) -> float:
        body = json.dumps(
            build_inbound_text(
                number, "15550000000", wa_id, "Bench", text, timestamp=datetime.now(UTC)
            )
        ).encode()
        signature = sign(body, self.state.secrets.app_secret)
        began = time.perf_counter()
        async with self.http.post(
            self.state.webhook_url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": signature,
            },
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"ingest answered {response.status}: {await response.text()}")
        self.answered_in_ms.append((time.perf_counter() - began) * 1000)
        return time.time()

    def replies(self) -> int:
        return self.follower.total

    def replies_to(self, wa_id: str) -> list[datetime]:
        return self.follower.replies_to(wa_id)


async def throughput(
    client: Client, *, webhooks: int, customers: int, numbers: int, in_flight: int, run: str
) -> tuple[float, float, int]:
    """Webhooks accepted a second, customer messages answered a second, and the replies that
    answered them (one reply can answer a customer's several messages, a burst, and a backlog
    can let a customer's next message join one still waiting: the work a customer message
    takes depends on it too)."""
    before = client.replies()
    replies_before, covered_before = client.answers.replies, len(client.answers.covered)
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with gate:
            await client.post(
                f"10900000000{i % numbers:04d}",
                f"1666{run}{i % customers:06d}",
                f"order question {i}",
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(webhooks)))
    accepted = time.perf_counter() - started

    def answered() -> bool:
        queued = client.answers.replies - replies_before
        covered = len(client.answers.covered) - covered_before
        return covered >= webhooks and client.replies() - before >= queued

    while not answered():
        if time.perf_counter() - started > 600:
            covered = len(client.answers.covered) - covered_before
            raise TimeoutError(f"only {covered} of {webhooks} messages answered")
        await asyncio.sleep(0.01)
    finished = time.perf_counter() - started
    return webhooks / accepted, webhooks / finished, client.replies() - before


async def latency(client: Client, *, customers: int, messages: int, run: str) -> list[float]:
    samples: list[float] = []

    async def customer(c: int) -> None:
        wa_id = f"1777{run}{c:06d}"
        for k in range(messages):
            seen = len(client.replies_to(wa_id))
            accepted_at = await client.post("109000000000001", wa_id, f"latency probe {k}")
            replied = await client.follower.next_reply(wa_id, seen)
            samples.append((replied.timestamp() - accepted_at) * 1000)

    await asyncio.gather(*(customer(c) for c in range(customers)))
    return samples


async def latency_at_rate(
    client: Client, *, rate: float, seconds: float, in_flight: int, run: str
) -> RateFigures:
    """Open loop: a new customer's message every 1/rate s for `seconds`, each awaited for its
    reply on its own, so a slow answer never slows the offered rate."""
    samples: list[float] = []
    total = max(1, round(rate * seconds))
    gate = asyncio.Semaphore(in_flight)
    last_reply = 0.0
    replied: dict[str, datetime] = {}
    since = datetime.now(UTC) - timedelta(seconds=1)
    answers_before = len(client.answered_in_ms)

    async def customer(k: int) -> None:
        nonlocal last_reply
        wa_id = f"1555{run}{k:06d}"
        async with gate:
            accepted_at = await client.post(f"10900000000{k % 4:04d}", wa_id, f"rate probe {k}")
        reply = await client.follower.next_reply(wa_id, 0, timeout=300)
        samples.append((reply.timestamp() - accepted_at) * 1000)
        last_reply = max(last_reply, reply.timestamp())
        replied[wa_id] = reply

    started = time.perf_counter()
    first = time.time()
    tasks = []
    for k in range(total):
        delay = started + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(customer(k)))
    posted = time.perf_counter() - started
    await asyncio.gather(*tasks)
    answered_in = client.answered_in_ms[answers_before:]
    return RateFigures(
        offered_per_s=rate,
        posted_per_s=total / max(posted, 1e-9),
        answered_per_s=total / max(last_reply - first, 1e-9),
        samples=len(samples),
        p50_ms=percentile(samples, 0.50),
        p99_ms=percentile(samples, 0.99),
        stages=await stage_times(client.state.nats_url, since, replied),
        ingest_p50_ms=percentile(answered_in, 0.50),
        ingest_p99_ms=percentile(answered_in, 0.99),
    )


async def settle(platform: RunningPlatform, *, timeout: float = 300.0) -> float:
    """Until the sandbox has delivered every status webhook it started and then every durable
    consumer has nothing pending; returns how long that took. (Consumers alone can look idle
    between one status and the next while the sandbox still has hundreds to send: a platform
    stopped then leaves them timing out against a stopping ingest.)"""
    started = time.perf_counter()
    await asyncio.wait_for(platform.sandbox.wait_for_statuses(), timeout)
    left = timeout - (time.perf_counter() - started)
    await wait_until_quiet(platform.state.nats_url, timeout=left)
    return time.perf_counter() - started


async def wait_until_quiet(nats_url: str, *, timeout: float = 300.0) -> float:
    """Until every durable consumer has nothing pending (status webhooks and their events
    trail the replies); returns how long that took."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    started = time.perf_counter()
    try:
        quiet_polls = 0
        while quiet_polls < 3:
            busy = 0
            waiting = []
            for stream in await js.streams_info():
                for consumer in await js.consumers_info(stream.config.name or ""):
                    behind = (consumer.num_pending or 0) + (consumer.num_ack_pending or 0)
                    busy += behind
                    if behind:
                        waiting.append(f"{consumer.name} {behind}")
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"the platform did not settle: {', '.join(waiting)}")
            quiet_polls = quiet_polls + 1 if busy == 0 else 0
            await asyncio.sleep(0.1)
    finally:
        await nc.close()
    return time.perf_counter() - started


@contextlib.asynccontextmanager
async def warmed_up_client(
    platform: RunningPlatform, *, numbers: int, in_flight: int, run: str
) -> AsyncIterator[Client]:
    """A client of `platform` (following its replies and what the session queues), after a
    200-message warm-up and once every durable consumer is idle."""
    answers = Answers()
    nc = await nats.connect(platform.state.nats_url)
    await answers.follow(
        nc, partitions=int(platform.env.get("THREADLINE_SESSION_PARTITIONS", "1") or 1)
    )
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight)) as http,
        contextlib.AsyncExitStack() as closing,
        ReplyFollower(platform.sandbox.outbox).running() as follower,
    ):
        closing.push_async_callback(nc.close)
        client = Client(platform, http, answers, follower)
        await throughput(
            client,
            webhooks=200,
            customers=50,
            numbers=numbers,
            in_flight=in_flight,
            run="9" + run[:1],  # wa_ids are digits only
        )  # warm-up
        await settle(platform)
        yield client


async def run_webhook_benchmark(
    platform: RunningPlatform,
    *,
    webhooks: int,
    customers: int,
    numbers: int,
    in_flight: int,
    latency_customers: int,
    latency_messages: int,
    rates: tuple[float, ...] = (),
    rate_seconds: float = 5.0,
) -> WebhookFigures:
    run = f"{int(time.time()) % 100:02d}"
    async with warmed_up_client(platform, numbers=numbers, in_flight=in_flight, run=run) as client:
        watch = CpuWatch(platform.watched(), trees=platform.servers)
        traffic = TrafficWatch(platform.nats_monitoring_url)
        accepted, end_to_end, replies = await throughput(
            client,
            webhooks=webhooks,
            customers=customers,
            numbers=numbers,
            in_flight=in_flight,
            run=run,
        )
        use = watch.stop()
        nats = traffic.stop()
        settled = await settle(platform)
        started = time.perf_counter()
        samples = await latency(
            client, customers=latency_customers, messages=latency_messages, run=run
        )
        elapsed = time.perf_counter() - started
        at_rate = []
        for n, rate in enumerate(rates):
            await settle(platform)
            rate_watch = CpuWatch(platform.watched(), trees=platform.servers)
            figures = await latency_at_rate(
                client, rate=rate, seconds=rate_seconds, in_flight=in_flight, run=f"{run}{n}"
            )
            at_rate.append(replace(figures, use=rate_watch.stop()))
        # The last replies' statuses settle before the platform stops (else the sandbox's
        # deliveries of them fail against a stopped ingest).
        await settle(platform)
    return WebhookFigures(
        webhooks=webhooks,
        customers=customers,
        numbers=numbers,
        accepted_per_s=accepted,
        end_to_end_per_s=end_to_end,
        settled_s=settled,
        latency_samples=len(samples),
        p50_ms=percentile(samples, 0.50),
        p99_ms=percentile(samples, 0.99),
        latency_rate_per_s=len(samples) / elapsed,
        at_rate=at_rate,
        use=use,
        nats=nats,
        replies=replies,
    )
