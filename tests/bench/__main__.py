"""`make bench`: measure, print, and say how. Figures go into docs/benchmarks.md by hand."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
from pathlib import Path

from tests.bench.append import AppendFigures, option_variants, run_append_benchmark
from tests.bench.platform import running_platform
from tests.bench.webhooks import run_webhook_benchmark


def machine() -> str:
    cpus = os.cpu_count()
    with open("/proc/meminfo") as meminfo:
        memory_kb = int(meminfo.readline().split()[1])
    return (
        f"{platform.processor() or platform.machine()}, {cpus} cores, "
        f"{memory_kb / 1024 / 1024:.0f} GiB, Python {platform.python_version()}"
    )


async def webhooks(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as workdir:
        async with running_platform(Path(workdir)) as running:
            figures = await run_webhook_benchmark(
                running,
                webhooks=args.webhooks,
                customers=args.customers,
                numbers=args.numbers,
                in_flight=args.in_flight,
                latency_customers=args.latency_customers,
                latency_messages=args.latency_messages,
            )
    f = figures
    print("\nBenchmark 1 — signed text webhooks through all five services")
    print(f"  {f.webhooks} webhooks, {f.customers} customers, {f.numbers} business numbers")
    print(f"  accepted by ingest:        {f.accepted_per_s:8.0f} webhooks/s")
    print(f"  end to end (reply at sandbox): {f.end_to_end_per_s:8.0f} messages/s")
    print(f"  statuses and projections settled {f.settled_s:.1f} s after the last reply")
    print(
        f"  latency webhook accepted → reply at sandbox, {f.latency_samples} samples "
        f"({args.latency_customers} customers in closed loop, {f.latency_rate_per_s:.0f}/s):"
    )
    print(f"    p50 {f.p50_ms:7.1f} ms   p99 {f.p99_ms:7.1f} ms")


def append(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="threadline-bench-append-") as workdir:
        figures = run_append_benchmark(
            Path(workdir),
            messages=args.append_messages,
            customers=args.append_customers,
            numbers=args.numbers,
            batch_size=args.append_batch,
            repeats=args.append_repeats,
            variants=[] if args.append_no_options else option_variants(args.append_batch),
            profile=args.append_profile,
        )
    print_append(figures, args.append_repeats)


def print_append(f: AppendFigures, repeats: int) -> None:
    settings = ", ".join(f"{k}={v}" for k, v in f.server_settings.items())
    print("\nBenchmark 2 — events appended to the session's event store")
    print(f"  embedded PostgreSQL: {settings}")
    print(
        f"  {f.messages} inbound text messages from {f.customers} customers; "
        f"median of {repeats} runs, each on a fresh database (range in brackets)"
    )
    print(f"  {'':<58} {'events/s':>9} {'in recorder':>12}  range of runs  events  txns")
    for m in [*f.session, *f.raw]:
        alone = f"{m.recorder_per_s:12.0f}" if m.recorder_per_s else f"{'':12}"
        print(
            f"  {m.name:<58} {m.per_s:9.0f} {alone}  {m.spread:<13} {m.events:6} {m.transactions:5}"
        )
    if f.profile:
        (_, total), *parts = f.profile
        print(f"  where (a)'s time goes (cProfile, cumulative, {total:.1f} s profiled):")
        for label, seconds in parts:
            print(f"    {label:<56} {seconds / total:6.1%}")


def main(args: argparse.Namespace) -> None:
    print(f"machine: {machine()}")
    if args.only in (None, "webhooks"):
        asyncio.run(webhooks(args))
    if args.only in (None, "append"):
        append(args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--only", choices=["webhooks", "append"], default=None)
    parser.add_argument("--webhooks", type=int, default=5000)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--numbers", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--latency-customers", type=int, default=20)
    parser.add_argument("--latency-messages", type=int, default=10)
    parser.add_argument("--append-messages", type=int, default=20_000)
    parser.add_argument("--append-customers", type=int, default=5_000)
    parser.add_argument("--append-batch", type=int, default=256)
    parser.add_argument("--append-repeats", type=int, default=3)
    parser.add_argument("--append-no-options", action="store_true")
    parser.add_argument("--append-profile", action=argparse.BooleanOptionalAction, default=True)
    main(parser.parse_args())
