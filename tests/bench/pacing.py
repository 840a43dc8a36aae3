"""Benchmark 6: outbound's sends under a business number's throughput budget (issue 11).

Outbound runs alone, as its own process (`python -m threadline.outbound`), with
`THREADLINE_OUTBOUND_NUMBER_RATE` set to the budget; the sandbox, in the benchmark's process,
takes its sends. M `OutboundMessageQueued` events for one business number, to R recipients in
turn (message i goes to recipient i mod R and says it is that recipient's number i div R), are
put on the session's stream before outbound starts, so outbound has a backlog from its first
fetch and only outbound's pacing decides the rate.

Measured at the sandbox, off the times it accepted each send: the rate over the steady part
(from the 10th to the 90th percentile of the sends: the first burst and the tail left out),
over the whole run, and the most sends accepted in any one second. Checked: every message
accepted exactly once (none lost, none twice) and each recipient's messages in their order.
In the throttled variant the sandbox also refuses sends past a lower limit with Meta's 130429,
as the Cloud API does, and outbound must slow down without losing or reordering a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, NotFoundError

from tests.bench.platform import running_outbound
from threadline.contracts.events.v1 import common_pb2, session_pb2
from threadline.messaging.topology import SESSION_EVENT, Topology, ensure_streams
from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.outbox import AcceptedMessage
from threadline.sandbox.server import Sandbox
from threadline.sandbox.throughput import Refusal, Throughput

PHONE_NUMBER_ID = "109000000000006"
ACCESS_TOKEN = "bench-access-token"
SENT_LEDGER = "OUTBOUND_SENT"  # outbound's KeyValue bucket, `<namespace>_OUTBOUND_SENT`
PUBLISH_IN_FLIGHT = 256


@dataclass(frozen=True)
class Variant:
    """Outbound's budget (sends a second) and burst (0: its default, 10), and the sandbox's
    own limit (0: none)."""

    budget: int
    sandbox_limit: int = 0
    burst: int = 0

    @property
    def cap(self) -> int:
        """The rate the sends can reach: the budget, or the sandbox's limit when lower."""
        return min(self.budget, self.sandbox_limit or self.budget)

    @property
    def name(self) -> str:
        burst = f", burst {self.burst}" if self.burst else ""
        limit = f", sandbox refuses past {self.sandbox_limit}/s" if self.sandbox_limit else ""
        return f"budget {self.budget}/s{burst}{limit}"


@dataclass
class PacingFigures:
    variant: Variant
    messages: int
    recipients: int
    steady_per_s: float  # 10th → 90th percentile of the accepted sends
    whole_per_s: float  # first → last accepted send
    busiest_second: int  # most sends accepted within any one second
    throttled: int  # 130429 answers the sandbox gave
    lost: int
    duplicated: int
    out_of_order: int  # recipients whose messages did not arrive in their order

    @property
    def steady_vs_cap(self) -> float:
        return self.steady_per_s / self.variant.cap - 1


class CountedThroughput(Throughput):
    """The sandbox's limits, counting what they refused."""

    def __init__(self, *, per_second: int) -> None:
        super().__init__(per_second=per_second)
        self.refused: Counter[int] = Counter()

    def admit(self, phone_number_id: str, wa_id: str) -> Refusal | None:
        refusal = super().admit(phone_number_id, wa_id)
        if refusal is not None:
            self.refused[refusal] += 1
        return refusal


def queued(i: int, recipients: int, run: str) -> session_pb2.SessionEvent:
    recipient, number = i % recipients, i // recipients
    return session_pb2.SessionEvent(
        event_id=str(uuid.uuid4()),
        aggregate_type="Conversation",
        aggregate_id=f"conversation-{run}-{recipient}",
        outbound_message_queued=session_pb2.OutboundMessageQueued(
            message_id=f"message-{run}-{i}",
            author="ai",
            content=common_pb2.MessageContent(type="text", text=f"{recipient} {number}"),
            phone_number_id=PHONE_NUMBER_ID,
            recipient=common_pb2.CustomerIdentity(wa_id=f"1999{run}{recipient:06d}"),
        ),
    )


async def publish_backlog(
    js: JetStreamContext, topology: Topology, *, messages: int, recipients: int, run: str
) -> None:
    subject = topology.publish_subject(
        SESSION_EVENT, aggregate="Conversation", event="OutboundMessageQueued"
    )
    gate = asyncio.Semaphore(PUBLISH_IN_FLIGHT)

    async def one(i: int) -> None:
        event = queued(i, recipients, run)
        async with gate:
            await js.publish(
                subject, event.SerializeToString(), headers={"Nats-Msg-Id": event.event_id}
            )

    await asyncio.gather(*(one(i) for i in range(messages)))


def busiest_second(times: list[float]) -> int:
    """The most of `times` (sorted, seconds) within any one second."""
    return max((bisect_left(times, t + 1.0) - n for n, t in enumerate(times)), default=0)


def steady_rate(times: list[float]) -> float:
    first, last = len(times) // 10, len(times) * 9 // 10
    return (last - first) / (times[last] - times[first])


def check_delivery(accepted: Iterable[AcceptedMessage], *, messages: int) -> tuple[int, int, int]:
    """How many messages were lost, sent twice, and how many recipients saw theirs out of
    order (each text is `<recipient> <its number for that recipient>`)."""
    seen: defaultdict[str, list[int]] = defaultdict(list)
    for message in accepted:
        text = message.request.get("text")
        body = text.get("body") if isinstance(text, dict) else None
        recipient, number = str(body).split()
        seen[recipient].append(int(number))
    distinct = sum(len(set(numbers)) for numbers in seen.values())
    total = sum(len(numbers) for numbers in seen.values())
    out_of_order = sum(1 for numbers in seen.values() if numbers != sorted(numbers))
    return messages - distinct, total - distinct, out_of_order


async def run_variant(
    workdir: Path, nats_url: str, variant: Variant, *, seconds: float, recipients: int
) -> PacingFigures:
    messages = max(recipients, int(variant.budget * seconds))
    run = uuid.uuid4().hex[:6]
    namespace = f"bench{run}"
    topology = Topology(namespace)
    sandbox = Sandbox(
        SandboxConfig(
            app_secret="bench-app-secret",
            access_token=ACCESS_TOKEN,
            port=0,
            send_statuses=False,
            outbox_limit=messages + 1000,
        )
    )
    throughput = CountedThroughput(per_second=variant.sandbox_limit)
    sandbox.throughput = throughput
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await ensure_streams(js, topology)
        await publish_backlog(
            js, topology, messages=messages, recipients=recipients, run=f"{int(run, 16) % 100:02d}"
        )
        async with sandbox:
            env = {
                "THREADLINE_NATS_NAMESPACE": namespace,
                "THREADLINE_WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
                "THREADLINE_OUTBOUND_NUMBER_RATE": str(variant.budget),
            }
            if variant.burst:
                env["THREADLINE_OUTBOUND_NUMBER_BURST"] = str(variant.burst)
            async with running_outbound(
                workdir, nats_url=nats_url, graph_api_url=sandbox.url, env=env
            ):
                deadline = time.monotonic() + 120 + 10 * messages / variant.budget
                while len(sandbox.outbox.messages()) < messages:
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # a send twice would come now
            accepted = sandbox.outbox.messages(phone_number_id=PHONE_NUMBER_ID)
    finally:
        for stream in topology.stream_configs():
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(stream.name or "")
        with contextlib.suppress(BucketNotFoundError, NotFoundError):
            await js.delete_key_value(f"{namespace}_{SENT_LEDGER}")
        await nc.close()
    times = sorted(m.accepted_at.timestamp() for m in accepted)
    lost, duplicated, out_of_order = check_delivery(accepted, messages=messages)
    return PacingFigures(
        variant=variant,
        messages=messages,
        recipients=recipients,
        steady_per_s=steady_rate(times) if len(times) > 10 else 0.0,
        whole_per_s=(len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0,
        busiest_second=busiest_second(times),
        throttled=sum(throughput.refused.values()),
        lost=lost,
        duplicated=duplicated,
        out_of_order=out_of_order,
    )


async def run_pacing_benchmark(
    nats_url: str, variants: Iterable[Variant], *, seconds: float, recipients: int
) -> list[PacingFigures]:
    figures = []
    for variant in variants:
        with tempfile.TemporaryDirectory(prefix="threadline-bench-pacing-") as workdir:
            figures.append(
                await run_variant(
                    Path(workdir), nats_url, variant, seconds=seconds, recipients=recipients
                )
            )
    return figures


def print_pacing(figures: list[PacingFigures]) -> None:
    print("\nBenchmark 6 — outbound's sends under a number's throughput budget (issue 11)")
    print("  outbound alone (one process), a backlog of queued texts for one business number;")
    print("  rates at the sandbox; steady = 10th to 90th percentile of the sends;")
    print("  cap = the budget, or the sandbox's limit when lower")
    print(
        f"  {'variant':<52} {'msgs':>6} {'steady/s':>9} {'vs cap':>9} {'whole/s':>8} "
        f"{'max in 1 s':>10} {'130429':>6} {'lost':>4} {'twice':>5} {'reordered':>9}"
    )
    for f in figures:
        print(
            f"  {f.variant.name:<52} {f.messages:6d} {f.steady_per_s:9.1f} "
            f"{f.steady_vs_cap:+9.1%} {f.whole_per_s:8.1f} {f.busiest_second:10d} "
            f"{f.throttled:6d} {f.lost:4d} {f.duplicated:5d} {f.out_of_order:9d}"
        )
