"""Throughput against the number of instances (issue 15, item 2): the webhooks benchmark's
closed-loop phase (signed text webhooks → the reply at the sandbox, each with its three status
webhooks) on the platform run with one instance of everything, then with several of the
services that scale — the session as two instances sharing its partitions under leases — and
each process's share of the two cores while it ran, so the limit shows where it is."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.bench.cpu import CpuWatch, Utilisation
from tests.bench.nats_traffic import NatsTraffic, TrafficWatch
from tests.bench.platform import running_platform
from tests.bench.webhooks import settle, throughput, warmed_up_client


@dataclass(frozen=True)
class Layout:
    """One way of running the platform: extra instances, the session's partitions, and how
    several session instances keep their caches honest: `check_reads` (one query a batch, the
    default with several partitions), the library's fast-forward (a query per aggregate
    loaded: the simple way), or neither (wrong once gRPC commands reach another instance; the
    benchmark sends none, so it shows what the checking costs)."""

    name: str
    instances: Mapping[str, int] = field(default_factory=dict)
    partitions: int = 1
    check_reads: bool = False
    cache_fastforward: bool = False
    # Consumers bound to the event types they need (NATS 2.10+); false: each on its one
    # filter, as before (statuses delivered to the AI responder and the gateway, let by there).
    narrow: bool = True


LAYOUTS = (
    Layout("one of each"),
    Layout("one of each, consumers not narrowed", narrow=False),
    Layout("one session, 4 partitions", partitions=4),
    Layout("session x2, 4 partitions, unchecked cache", {"session": 2}, partitions=4),
    Layout(
        "session x2, 4 partitions, reads checked", {"session": 2}, partitions=4, check_reads=True
    ),
    Layout(
        "session x2, 4 partitions, cache fast-forward",
        {"session": 2},
        partitions=4,
        cache_fastforward=True,
    ),
    Layout(
        "session, outbound, ai_responder x2, checked",
        {"session": 2, "outbound": 2, "ai_responder": 2},
        partitions=4,
        check_reads=True,
    ),
)


@dataclass
class ScalingFigures:
    layout: Layout
    messages: int  # customer messages answered while measured
    replies: int  # the replies that answered them (a reply answers a burst)
    end_to_end_per_s: float
    use: Utilisation  # the machine's and each service process's CPU while measured
    duties: dict[str, str]  # the session instances' leases, as their /metrics say
    nats: NatsTraffic | None = None  # what NATS carried while measured (embedded NATS only)


async def run_scaling_benchmark(
    *, webhooks: int, customers: int, numbers: int, in_flight: int, layouts: str = ""
) -> list[ScalingFigures]:
    """Each layout in turn; when `layouts` is given, the one of that name, else those whose
    name contains it."""
    figures = []
    exact = any(layout.name == layouts for layout in LAYOUTS)
    for n, layout in enumerate(LAYOUTS):
        if layouts and (layout.name != layouts if exact else layouts not in layout.name):
            continue
        print(f"  scaling: {layout.name} ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="threadline-bench-scaling-") as workdir:
            env = {
                "THREADLINE_AI_REPLY_DELAY_SECONDS": "0",
                "THREADLINE_SESSION_PARTITIONS": str(layout.partitions),
                "THREADLINE_SESSION_CACHE_FASTFORWARD": str(layout.cache_fastforward).lower(),
                "THREADLINE_SESSION_CHECK_READS": str(layout.check_reads).lower(),
                "THREADLINE_NATS_NARROW_CONSUMERS": str(layout.narrow).lower(),
            }
            async with running_platform(
                Path(workdir), env=env, instances=layout.instances
            ) as running:
                run = f"{n}{int(time.time()) % 10}"
                async with warmed_up_client(
                    running, numbers=numbers, in_flight=in_flight, run=run
                ) as client:
                    watch = CpuWatch(running.watched(), trees=running.servers)
                    traffic = TrafficWatch(running.nats_monitoring_url)
                    _, end_to_end, replies = await throughput(
                        client,
                        webhooks=webhooks,
                        customers=customers,
                        numbers=numbers,
                        in_flight=in_flight,
                        run=run,
                    )
                    figures.append(
                        ScalingFigures(
                            layout=layout,
                            messages=webhooks,
                            replies=replies,
                            end_to_end_per_s=end_to_end,
                            use=watch.stop(),
                            duties=await _duties(running.env, layout),
                            nats=traffic.stop(),
                        )
                    )
                    await settle(running)
    return figures


async def _duties(env: Mapping[str, str], layout: Layout) -> dict[str, str]:
    """How many leases the first session instance holds (`threadline_leases_held`)."""
    port = env.get("THREADLINE_SESSION_OPS_PORT", "")
    if not port:
        return {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        text = await response.text()
    held = [
        line.split()[-1] for line in text.splitlines() if line.startswith("threadline_leases_held{")
    ]
    duties = layout.partitions + 1
    return {"session": f"{float(held[0]):.0f} of {duties} duties"} if held else {}


def print_scaling(figures: list[ScalingFigures]) -> None:
    print("\nScaling — end to end against instances (closed loop, reply delay 0)")
    print("  CPU: each process's share of one core while measured; ms: its CPU per message")
    for f in figures:
        busiest = sorted(f.use.processes.items(), key=lambda item: -item[1])
        shown = ", ".join(
            f"{name} {share:.0%} ({share / f.end_to_end_per_s * 1000:.1f} ms)"
            for name, share in busiest
        )
        held = f"; first session instance holds {f.duties['session']}" if f.duties else ""
        print(
            f"  {f.layout.name:48s} {f.end_to_end_per_s:5.0f} messages/s   "
            f"machine {f.use.machine:4.0%} busy, {f.use.cpu_ms(f.end_to_end_per_s):.1f} "
            f"CPU-ms a message{held}"
        )
        print(f"      {shown}")
        replies = f"{f.replies / max(f.messages, 1):.2f} replies a message"
        if f.nats is not None:
            print(f"      {replies}; {f.nats.per(f.messages)} a message")
        else:
            print(f"      {replies}")
