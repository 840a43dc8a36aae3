"""The benchmarks, run small so they cannot rot: issue 11's end to end, each with its own checks
(every photo kept once with its bytes; no send lost, sent twice or reordered), and issue 15's
join of a message's stages. No figure is asserted: rates belong in docs/benchmarks.md, measured
with `make bench` on a quiet machine."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import nats
import psycopg
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from tests.bench.append import Server, measure_partitioned
from tests.bench.cpu import Utilisation, cpu_seconds, tree_cpu_seconds
from tests.bench.key_value import WAYS as KV_WAYS
from tests.bench.key_value import run_key_value_benchmark
from tests.bench.knowledge import run_knowledge_benchmark
from tests.bench.media import run_media_benchmark
from tests.bench.nats_traffic import TrafficWatch
from tests.bench.pacing import Variant, run_pacing_benchmark
from tests.bench.percentiles import percentile
from tests.bench.platform import running_platform
from tests.bench.profiling import top_frames
from tests.bench.relay import SINGLE_WAYS, WAYS, run_relay_benchmark
from tests.bench.stages import STAGES, _stamped, join_stages
from threadline.cli.embedded import EmbeddedNats
from threadline.contracts.events.v1.ai_pb2 import ReplyDrafted, TypingIndicatorRequested
from threadline.contracts.events.v1.common_pb2 import CustomerIdentity
from threadline.contracts.events.v1.ingest_pb2 import InboundMessageReceived
from threadline.contracts.events.v1.session_pb2 import (
    CustomerMessageReceived,
    OutboundMessageQueued,
    SessionEvent,
)
from threadline.messaging.topology import AI_EVENTS, Topology, ensure_streams


@pytest.mark.timeout(300)
async def test_the_media_benchmark_keeps_every_photo_once(
    nats_server_url: str, database_url: str, nats_namespace: str, tmp_path: Path
) -> None:
    async with running_platform(
        tmp_path, servers=(nats_server_url, database_url), nats_namespace=nats_namespace
    ) as running:
        # Raises unless each photo is recorded once and its stored file hashes as sent.
        figures = await run_media_benchmark(
            running, customers=2, photos=2, alone=2, size=256 * 1024
        )

    assert (figures.photos, figures.failed) == (4, 0)
    assert figures.kept_per_s > 0 and figures.stored_p99_ms >= figures.stored_p50_ms > 0
    assert figures.alone == 2 and figures.alone_p99_ms >= figures.alone_p50_ms > 0


@pytest.mark.timeout(300)
async def test_the_pacing_benchmark_loses_and_reorders_nothing_even_when_throttled(
    nats_server_url: str,
) -> None:
    figures = await run_pacing_benchmark(
        nats_server_url,
        # The second: the sandbox takes 2 sends a second, so outbound's first burst (10 at
        # once) is refused in part, however slow the machine.
        [Variant(50), Variant(10, sandbox_limit=2)],
        seconds=1.0,
        recipients=5,
    )

    plain, throttled = figures
    assert (plain.messages, throttled.messages) == (50, 10)
    for f in figures:
        assert (f.lost, f.duplicated, f.out_of_order) == (0, 0, 0), f
    assert plain.throttled == 0
    assert throttled.throttled > 0


@pytest.mark.timeout(300)
async def test_the_knowledge_benchmark_searches_and_embeds(database_url: str) -> None:
    figures = await run_knowledge_benchmark(database_url, passages=300, rounds=1, embedded=8)

    assert figures.passages == 300 + 25
    assert figures.searches == 35
    assert figures.search_p99_ms >= figures.search_p50_ms > 0
    assert figures.question_p50_ms > 0
    # Random vectors and word salad do not crowd out the FAQ's own passages.
    assert figures.recall_at_3 >= 0.9
    assert figures.embedded == 8 and figures.embedded_per_s > 0


@pytest.mark.timeout(300)
def test_the_partitioned_writers_store_every_fact_once(postgres_server_url: str) -> None:
    """(d) of the append benchmark: two writer processes, each its partition's customers,
    store together what one writer stores, nothing twice."""
    server = Server(
        cast(Any, SimpleNamespace(url=postgres_server_url, admin_url=postgres_server_url))
    )
    try:
        (measured,) = measure_partitioned(
            server, [2], messages=400, customers=100, numbers=2, batch_size=64, repeats=1
        )
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as connection:
            for name in ("append_1", "append_warm_0", "append_warm_1"):
                connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    # Every customer's contact, key, conversation and the contact's opening of it; every message.
    assert measured.events == 400 + 4 * 100
    assert measured.transactions >= 2 * 2  # both writers had batches of their own
    assert measured.writer_cpu[0] > 0 and measured.machine_busy[0] > 0


def test_a_profile_counts_busy_samples_and_leaves_the_event_loop_out() -> None:
    raw = "\n".join(
        [
            "main (a/__main__.py:3);_run_once (asyncio/base_events.py:9);handle (x/app.py:5);"
            "dumps (json/__init__.py:2) 30",
            "main (a/__main__.py:3);_run_once (asyncio/base_events.py:9);handle (x/app.py:5) 10",
            "main (a/__main__.py:3);_run_once (asyncio/base_events.py:9);"
            "EpollSelector.select (selectors.py:4) 60",
        ]
    )

    profile = top_frames("session", raw, cpu_seconds=0.4)

    assert (profile.samples, profile.cpu_seconds) == (40, 0.4)  # the 60 waiting are idle
    assert profile.top == [("dumps (json/__init__.py)", 0.75), ("handle (x/app.py)", 0.25)]
    assert dict(profile.inclusive)["handle (x/app.py)"] == 1.0
    assert not any(f.startswith("_run_once") for f, _ in profile.inclusive)


def test_the_stages_of_a_message_are_joined_by_wamid_then_by_the_session_s_message_id() -> None:
    """Each stage is the time between two stamped steps of the same customer message; a
    message with a step missing counts in no stage, another customer's in none."""
    start = datetime(2026, 12, 6, tzinfo=UTC)

    def at(ms: int) -> datetime:
        return start + timedelta(milliseconds=ms)

    def kept(wa_id: str, wamid: str) -> bytes:
        customer = CustomerIdentity(wa_id=wa_id)
        return InboundMessageReceived(wamid=wamid, customer=customer).SerializeToString()

    def received(wamid: str, message_id: str) -> bytes:
        body = CustomerMessageReceived(wamid=wamid, message_id=message_id)
        return SessionEvent(customer_message_received=body).SerializeToString()

    def queued(*covered: str) -> bytes:
        body = OutboundMessageQueued(covered_message_ids=covered)
        return SessionEvent(outbound_message_queued=body).SerializeToString()

    figures = join_stages(
        kept=[(kept("1", "w1"), at(0)), (kept("2", "w2"), at(0)), (kept("9", "w9"), at(0))],
        received=[(received("w1", "m1"), at(10)), (received("w2", "m2"), at(10))],
        typing=[
            (TypingIndicatorRequested(wamid="w1").SerializeToString(), at(30)),
            (TypingIndicatorRequested(wamid="w1").SerializeToString(), at(99)),  # a retry
        ],
        drafted=[(ReplyDrafted(in_reply_to_message_id="m1").SerializeToString(), at(60))],
        queued=[(queued("m1"), at(100)), (queued("m2"), at(100))],
        replied={"1": at(200), "2": at(200)},  # "2" has no typing: in no stage
    )

    assert [f.stage for f in figures] == list(STAGES)
    assert [(f.samples, f.p50_ms, f.p99_ms) for f in figures] == [
        (1, 10.0, 10.0),
        (1, 20.0, 20.0),
        (1, 30.0, 30.0),
        (1, 40.0, 40.0),
        (1, 100.0, 100.0),
    ]


@pytest.mark.timeout(300)
def test_the_relay_benchmark_relays_every_event_each_way(tmp_path: Path) -> None:
    """Each way relays the log's first events into a stream that then holds exactly them (the
    benchmark checks the count), and each way of publishing one message is measured."""
    figures = run_relay_benchmark(tmp_path, events=1500, customers=100, repeats=1, singles=20)

    assert figures.stored >= 1500
    assert [(r.way, r.events) for r in figures.rates] == [(way, 1500) for way in WAYS]
    assert [c.way for c in figures.singles] == list(SINGLE_WAYS)
    assert all(c.cpu_us > 0 for c in figures.singles)


def test_the_key_value_benchmark_gets_and_changes_each_way(tmp_path: Path) -> None:
    """Both ways measured, alternating; the benchmark itself stops if a bucket is not the way
    it is named (direct gets allowed or not) or a change was not written."""
    costs = run_key_value_benchmark(tmp_path, gets=64, repeats=2)

    assert [(c.way, c.operation, c.calls) for c in costs] == [
        (way, operation, calls)
        for ways in (KV_WAYS, KV_WAYS[::-1])
        for way in ways
        for operation, calls in (("get", 64), ("change", 32))
    ]
    assert all(c.client_cpu > 0 for c in costs)


class BusyCallbacks:
    """A JetStream context as on the saturated machine at the end of a phase: the server pushes
    every message (none left pending) before the subscription's callback takes the first."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def stream_info(self, stream: str) -> Any:
        return await self.js.stream_info(stream)

    async def subscribe(self, subject: str, *, cb: Any, **options: Any) -> Any:
        async def late(message: Msg) -> None:
            await asyncio.sleep(1.0)
            await cb(message)

        subscription = await self.js.subscribe(subject, cb=late, **options)
        await asyncio.sleep(0.3)  # the server has pushed them all by now
        return subscription


async def test_every_message_of_a_step_is_read_even_when_pushed_before_it_is_counted(
    nats_server_url: str, nats_namespace: str
) -> None:
    """Found on the 500/s phase: the consumer had delivered all 2,521 messages of a step and
    none was pending when the benchmark asked, the callback had taken none yet, and the
    stage came out empty."""
    topology = Topology(nats_namespace)
    client = await nats.connect(nats_server_url)
    try:
        js = client.jetstream()
        await ensure_streams(js, topology)
        stream, root = topology.stream(AI_EVENTS), topology.root(AI_EVENTS)
        since = datetime.now(UTC) - timedelta(seconds=1)
        subject = f"{root}.0.Conversation.TypingIndicatorRequested"
        for k in range(3):
            await js.publish(subject, f"typing {k}".encode())
        busy = cast(JetStreamContext, BusyCallbacks(js))
        found = await _stamped(busy, stream, subject, since, timeout=10)
        assert sorted(data for data, _ in found) == [b"typing 0", b"typing 1", b"typing 2"]
    finally:
        await client.close()


def test_a_process_tree_counts_its_children_ended_and_live() -> None:
    """As PostgreSQL's postmaster with its backends: one child burns CPU and ends (reaped), one
    burns and stays; the parent itself barely works."""
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            f"subprocess.run([sys.executable, '-c', {burn!r}])\n"
            f"stays = subprocess.Popen([sys.executable, '-c', {burn + 'time.sleep(30)'!r}])\n"
            "time.sleep(1.5)\nprint('burnt', flush=True)\ntime.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline() == b"burnt\n"
        assert tree_cpu_seconds(parent.pid) >= 0.55
        assert cpu_seconds(parent.pid) < 0.3
    finally:
        for child in Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split():
            os.kill(int(child), signal.SIGKILL)
        parent.kill()
        parent.wait()


def test_the_cores_a_goal_would_take_scale_each_process_and_leave_the_benchmark_out() -> None:
    use = Utilisation(
        cores=2, machine=1.0, processes={"session": 0.5, "NATS": 0.3, "benchmark": 0.8}
    )
    # 1.6 of 2 cores watched, 0.4 by others; at 10x the rate, without the benchmark's 0.8
    assert use.cores_at(100, 1000) == (
        "at 1,000/s, linearly: 12.0 cores (session 5.0, NATS 3.0, others 4.0)"
    )
    assert use.cores_at(0, 1000) == ""


def test_a_percentile_is_the_nearest_rank() -> None:
    hundred = [float(n) for n in range(100, 0, -1)]  # any order

    assert percentile(hundred, 0.99) == 99.0
    assert percentile(hundred, 0.50) == 50.0
    assert percentile(hundred, 1.0) == 100.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([7.0], 0.99) == 7.0
    assert math.isnan(percentile([], 0.99))
    with pytest.raises(ValueError, match="share"):
        percentile(hundred, 99)


@pytest.mark.integration
async def test_nats_traffic_counts_what_each_named_connection_sent(tmp_path: Path) -> None:
    with EmbeddedNats(tmp_path, monitoring=True) as server:
        assert server.monitoring_url is not None
        listener = await nats.connect(server.url, name="threadline-listener")
        sender = await nats.connect(server.url, name="threadline-sender")
        await listener.subscribe("counted")
        await listener.flush()
        watch = TrafficWatch(server.monitoring_url)
        for _ in range(10):
            await sender.publish("counted", b"x" * 100)
        await sender.flush()
        await asyncio.sleep(0.2)  # the listener has them
        traffic = watch.stop()
        await sender.close()
        await listener.close()

    assert traffic is not None
    assert traffic.in_msgs == 10 and traffic.out_msgs == 10
    assert traffic.in_bytes == 1000
    assert traffic.sent_by["threadline-sender"] == 10
    assert traffic.sent_by["threadline-listener"] == 0
    assert traffic.per(5).startswith("NATS 2.0 messages in, 2.0 out (0.2 / 0.2 KB); sent by sender")
    assert TrafficWatch("").stop() is None
