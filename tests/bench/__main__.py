"""`make bench`: measure, print, and say how. Figures go into docs/benchmarks.md by hand."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import platform
import tempfile
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.bench.append import AppendFigures, option_variants, run_append_benchmark
from tests.bench.assistant import (
    MODEL_SECONDS,
    REPLY_DELAY,
    OverheadFigures,
    assistant_env,
    model_client_cpu,
    run_assistant_benchmark,
)
from tests.bench.key_value import print_key_value, run_key_value_benchmark
from tests.bench.knowledge import print_knowledge, run_knowledge_benchmark
from tests.bench.media import print_media, run_media_benchmark
from tests.bench.pacing import Variant, print_pacing, run_pacing_benchmark
from tests.bench.platform import SCALABLE, RunningPlatform, nats_server, running_platform
from tests.bench.profiling import RATE, ProcessProfile, profiled
from tests.bench.queries import GET_CONVERSATION, LIST_PAGE_1, QueryFigures, run_query_benchmark
from tests.bench.query_report import report
from tests.bench.rebuild import print_rebuild, run_rebuild_benchmark
from tests.bench.relay import print_relay, run_relay_benchmark
from tests.bench.scaling import print_scaling, run_scaling_benchmark
from tests.bench.webhooks import run_webhook_benchmark
from threadline.testing.model_servers import OpenAIServer


@dataclass
class Goal:
    """One row of issue 15's table: the figure, what this run measured, the goal."""

    figure: str
    measured: str
    goal: str


GOALS: list[Goal] = []  # filled by each benchmark as it runs; printed at the end


def print_goals() -> None:
    if not GOALS:
        return
    width = max(len(g.figure) for g in GOALS)
    measured = max(len(g.measured) for g in GOALS)
    print("\nIssue 15's table, as measured in this run")
    print(f"  {'figure':<{width}}  {'measured':<{measured}}  goal")
    for g in GOALS:
        print(f"  {g.figure:<{width}}  {g.measured:<{measured}}  {g.goal}")


@contextlib.asynccontextmanager
async def maybe_profiled(
    running: RunningPlatform, folder: Path | None, name: str
) -> AsyncIterator[list[ProcessProfile]]:
    """py-spy on every service process of `running` when `--profile` names a folder."""
    if folder is None:
        yield []
        return
    async with profiled(running.pids(), folder / name) as profiles:
        yield profiles


def instances(args: argparse.Namespace) -> str:
    scaled = ", ".join(f"{name} x{n}" for name, n in sorted(args.instances.items()))
    return scaled or "one of each service"


def parse_instances(text: str) -> tuple[str, int]:
    name, _, count = text.partition("=")
    if name not in SCALABLE or not count.isdigit() or not 1 <= int(count) <= 8:
        raise argparse.ArgumentTypeError(f"give NAME=N, NAME one of {sorted(SCALABLE)}, N 1-8")
    return name, int(count)


def machine() -> str:
    cpus = os.cpu_count()
    with open("/proc/meminfo") as meminfo:
        memory_kb = int(meminfo.readline().split()[1])
    return (
        f"{platform.processor() or platform.machine()}, {cpus} cores, "
        f"{memory_kb / 1024 / 1024:.0f} GiB, Python {platform.python_version()}"
    )


def print_profiles(profiles: list[ProcessProfile], folder: Path) -> None:
    print(f"  py-spy on every service process ({folder}/*.txt, collapsed stacks):")
    for p in sorted(profiles, key=lambda p: -p.cpu_seconds):
        print(
            f"    {p.name}: {p.cpu_seconds:.1f} CPU-seconds (/proc), "
            f"{p.samples / RATE:.1f} s of busy samples"
        )
        for function, share in p.top[:5]:
            print(f"      self {share:6.1%}  {function}")
        for function, share in p.inclusive[:6]:
            print(f"      incl {share:6.1%}  {function}")


async def webhooks(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as workdir:
        no_delay = {"THREADLINE_AI_REPLY_DELAY_SECONDS": "0"}
        async with (
            running_platform(Path(workdir), env=no_delay, instances=args.instances) as running,
            maybe_profiled(running, args.profile, "webhooks") as profiles,
        ):
            figures = await run_webhook_benchmark(
                running,
                webhooks=args.webhooks,
                customers=args.customers,
                numbers=args.numbers,
                in_flight=args.in_flight,
                latency_customers=args.latency_customers,
                latency_messages=args.latency_messages,
                rates=tuple(args.rates),
                rate_seconds=args.rate_seconds,
            )
    f = figures
    print("\nBenchmark 1 — signed text webhooks through all services (reply delay 0)")
    print(f"  instances: {instances(args)}")
    print(f"  {f.webhooks} webhooks, {f.customers} customers, {f.numbers} business numbers")
    print(f"  accepted by ingest:        {f.accepted_per_s:8.0f} webhooks/s")
    print(f"  end to end (answered at sandbox): {f.end_to_end_per_s:8.0f} messages/s")
    print(f"    CPU meanwhile: {f.use.limit(f.end_to_end_per_s, top=len(f.use.processes))}")
    print(f"    {f.replies / max(f.webhooks, 1):.2f} replies a customer message (one a burst)")
    if f.nats is not None:
        print(f"    {f.nats.per(f.webhooks)} a message")
    print(f"  statuses and projections settled {f.settled_s:.1f} s after the last reply")
    print(
        f"  latency webhook accepted → reply at sandbox, {f.latency_samples} samples "
        f"({args.latency_customers} customers in closed loop, {f.latency_rate_per_s:.0f}/s):"
    )
    print(f"    p50 {f.p50_ms:7.1f} ms   p99 {f.p99_ms:7.1f} ms")
    print(
        f"  latency at an offered rate (open loop, new customers, {args.rate_seconds:.0f} s each):"
    )
    for r in f.at_rate:
        print(
            f"    {r.offered_per_s:5.0f}/s offered ({r.posted_per_s:4.0f} posted, "
            f"{r.answered_per_s:4.0f} answered): p50 {r.p50_ms:7.1f} ms   p99 {r.p99_ms:7.1f} ms"
        )
        if r.use is not None:
            print(f"      CPU meanwhile: {r.use.limit(r.answered_per_s)}")
        print(
            f"      {'a POST to ingest, to its 200 (the benchmark timing it)':52s}"
            f" p50 {r.ingest_p50_ms:7.1f} ms   p99 {r.ingest_p99_ms:7.1f} ms"
        )
        for stage in r.stages:
            print(
                f"      {stage.stage:52s} p50 {stage.p50_ms:7.1f} ms   p99 {stage.p99_ms:7.1f} ms"
                f"   ({stage.samples} messages)"
            )
    if args.profile:
        print_profiles(profiles, args.profile / "webhooks")
    GOALS.append(
        Goal(
            "customer messages end to end, each with its 3 status webhooks",
            f"{f.end_to_end_per_s:.0f}/s; {f.use.limit(f.end_to_end_per_s)}; "
            + f.use.cores_at(f.end_to_end_per_s, 1000),
            ">= 1,000/s",
        )
    )
    for r in f.at_rate:
        GOALS.append(
            Goal(
                f"  latency at {r.offered_per_s:.0f}/s offered (open loop)",
                f"p50 {r.p50_ms:.0f} ms, p99 {r.p99_ms:.0f} ms ({r.answered_per_s:.0f}/s answered"
                + (f"; {r.use.limit(r.answered_per_s)})" if r.use is not None else ")"),
                "p99 <= 250 ms at 500/s",
            )
        )


async def scaling(args: argparse.Namespace) -> None:
    figures = await run_scaling_benchmark(
        webhooks=args.scaling_webhooks,
        layouts=args.scaling_layouts,
        customers=args.customers,
        numbers=args.numbers,
        in_flight=args.in_flight,
    )
    print_scaling(figures)
    for f in figures:
        GOALS.append(
            Goal(
                f"  end to end, {f.layout.name}",
                f"{f.end_to_end_per_s:.0f}/s; {f.use.limit(f.end_to_end_per_s)}",
                ">= 1,000/s",
            )
        )


# The ways a due burst can be answered (`--assistant-heard`): once every message sent before it
# was due has been heard by one responder or another, or when due by the responder's own clock.
HEARD_WAYS = {
    "on": ("waits until heard", {}),
    "off": ("answered when due (the old way)", {"THREADLINE_AI_WAIT_UNTIL_HEARD": "false"}),
}


async def assistant(args: argparse.Namespace) -> None:
    async with OpenAIServer() as server:
        client = await model_client_cpu(server, requests=args.assistant_client_requests, turns=40)
    ways: list[tuple[str, list[OverheadFigures]]] = []
    tokens: list[tuple[int, int]] = []
    profiled: list[ProcessProfile] = []  # the first way's, with --profile
    for k, way in enumerate(args.assistant_heard):
        name, env = HEARD_WAYS[way]
        with tempfile.TemporaryDirectory(prefix="threadline-bench-assistant-") as workdir:
            async with (
                OpenAIServer() as server,
                running_platform(
                    Path(workdir), env={**assistant_env(server), **env}, instances=args.instances
                ) as running,
                maybe_profiled(running, args.profile if k == 0 else None, "assistant") as profiles,
            ):
                figures, grown = await run_assistant_benchmark(
                    running,
                    server,
                    parallel=tuple(args.assistant_parallel),
                    rounds=args.assistant_rounds,
                    burst=args.assistant_burst,
                    long_conversation=args.assistant_long if k == 0 else 0,
                )
        ways.append((name, figures))
        tokens = tokens or grown
        profiled = profiled or profiles
    print("\nBenchmark 1b — the assistant's path (a local OpenAI-protocol model server)")
    print(f"  instances: {instances(args)}")
    print(
        f"  model answers in {MODEL_SECONDS * 1000:.0f} ms; reply delay {REPLY_DELAY:.1f} s; "
        f"each conversation sends bursts of {args.assistant_burst} messages, "
        f"{args.assistant_rounds} rounds"
    )
    print("  overhead = reply at sandbox - last message's 200 - reply delay - model time")
    for name, figures in ways:
        if len(ways) > 1:
            print(f"  a due burst {name}, on a fresh platform:")
        for f in figures:
            print(
                f"    {f.conversations:4d} conversations in parallel: p50 {f.p50_ms:7.1f} ms   "
                f"p99 {f.p99_ms:7.1f} ms   ({f.samples} replies, {f.replies_per_s:.0f}/s, "
                f"{f.model_requests} model requests)"
            )
    print("  tokens sent per reply (estimate: characters / 4) as one conversation grows:")
    print("    " + "   ".join(f"{n} msgs: {t}" for n, t in tokens))
    print(
        f"  model client's CPU per request ({client.turns} turns, {client.tools} tools, "
        f"{client.requests} requests, client and local server in one process):"
    )
    print(f"    the responder's (OpenAIModel, the SDK's post):  {client.ours_ms:6.2f} ms")
    print(f"    the SDK's chat.completions.create, same body:    {client.create_ms:6.2f} ms")
    if args.profile:
        print_profiles(profiled, args.profile / "assistant")


def append(args: argparse.Namespace) -> None:
    writers = [int(n) for n in args.append_writers.split(",") if n]
    with tempfile.TemporaryDirectory(prefix="threadline-bench-append-") as workdir:
        figures = run_append_benchmark(
            Path(workdir),
            messages=args.append_messages,
            customers=args.append_customers,
            numbers=args.numbers,
            batch_size=args.append_batch,
            repeats=args.append_repeats,
            variants=[] if args.append_no_options else option_variants(args.append_batch),
            writers=writers,
            profile=args.append_profile,
        )
    print_append(figures, args.append_repeats)
    batched, plain = figures.session[0], figures.session[1]
    by_writers = "".join(
        f"; {n} writer process{'es' if n > 1 else ''}: {m.per_s:,.0f}/s"
        for n, m in zip(writers, figures.partitioned, strict=True)
    )
    GOALS.append(
        Goal(
            "events appended by the session (batched)",
            f"{batched.per_s:,.0f}/s{by_writers} (one at a time: {plain.per_s:,.0f}/s)",
            ">= 25,000/s",
        )
    )


def print_append(f: AppendFigures, repeats: int) -> None:
    settings = ", ".join(f"{k}={v}" for k, v in f.server_settings.items())
    print("\nBenchmark 2 — events appended to the session's event store")
    print(f"  embedded PostgreSQL: {settings}")
    print(
        f"  {f.messages} inbound text messages from {f.customers} customers; "
        f"median of {repeats} runs, each on a fresh database (range in brackets)"
    )
    print(
        f"  {'':<58} {'events/s':>9} {'in recorder':>12}  range of runs  events  txns  cores busy"
    )
    for m in [*f.session, *f.partitioned, *f.raw]:
        alone = f"{m.recorder_per_s:12.0f}" if m.recorder_per_s else f"{'':12}"
        busy = f"{m.busy:11.2f}" if m.busy is not None else ""
        cpu = f"{m.writer_us:18.1f}" if m.writer_us is not None else ""
        print(
            f"  {m.name:<58} {m.per_s:9.0f} {alone}  {m.spread:<13} {m.events:6} {m.transactions:5}"
            f" {busy}{cpu}"
        )
    print("  (cores busy: every process of the machine, PostgreSQL's included, of its 2 cores)")
    if f.profile:
        (_, total), *parts = f.profile
        print(f"  where (a)'s time goes (cProfile, cumulative, {total:.1f} s profiled):")
        for label, seconds in parts:
            print(f"    {label:<56} {seconds / total:6.1%}")


def queries(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="threadline-bench-queries-") as workdir:
        figures = run_query_benchmark(
            Path(workdir),
            conversations=args.queries_conversations,
            customers=args.queries_customers,
            in_flight=args.queries_in_flight,
            seconds=args.queries_seconds,
            explain=True,
            readers=args.queries_readers,
            rates=args.queries_rates,
            list_rates=args.queries_list_rates,
        )
    for line in report(figures, show_plans=args.queries_plans):
        print(line)
    spread = {m.name: m for m in figures.several_readers}
    for m in figures.measured:
        if m.name.startswith("GetConversation"):
            shown = (
                f"{m.per_s:,.0f} calls/s, p50 {m.p50_ms:.1f} ms, p99 {m.p99_ms:.1f} ms "
                f"(reader process {m.server_cpu:.2f} cores, PostgreSQL {m.postgres_cpu:.2f})"
            )
            if (s := spread.get(m.name)) is not None:
                shown += (
                    f"; {figures.readers} readers {s.per_s:,.0f} calls/s, p99 {s.p99_ms:.1f} ms"
                )
            shown += _offered(figures, GET_CONVERSATION, "at")
            if m.per_s:
                shown += (
                    f"; at 1,000/s, linearly: reader {m.server_cpu / m.per_s * 1000:.1f} cores, "
                    f"PostgreSQL {m.postgres_cpu / m.per_s * 1000:.1f}"
                )
            GOALS.append(
                Goal(
                    f"GetConversation, random id, {figures.in_flight} in flight",
                    shown,
                    "p99 <= 5 ms at 1,000 calls/s",
                )
            )
    firsts = [m for m in figures.measured if m.name.startswith("List page 1")]
    if firsts:
        p99s = sorted(m.p99_ms for m in firsts)
        rates = sorted(m.per_s for m in firsts)
        busiest = max(firsts, key=lambda m: m.server_cpu + m.postgres_cpu)
        shown = (
            f"p99 {p99s[0]:.0f}-{p99s[-1]:.0f} ms ({rates[0]:,.0f}-{rates[-1]:,.0f} calls/s, "
            f"{figures.in_flight} in flight; at most reader {busiest.server_cpu:.2f} cores, "
            f"PostgreSQL {busiest.postgres_cpu:.2f})"
        )
        shown += _offered(figures, LIST_PAGE_1, "unfiltered at")
        GOALS.append(
            Goal(
                f"ListConversations page 1 over {figures.dataset.conversations:,} conversations",
                shown,
                "p99 <= 15 ms",
            )
        )


def _offered(figures: QueryFigures, kind: str, label: str) -> str:
    """The open-loop figures of `kind`: "; <label> 250/s offered p99 6.0 ms (reader 0.43 cores)"
    for each rate."""
    return "".join(
        f"; {label} {r.offered_per_s:,.0f}/s offered p99 {r.p99_ms:.1f} ms "
        f"(reader {r.server_cpu:.2f} cores"
        + (f", {sum(r.failed.values()):,} failed" if r.failed else "")
        + ")"
        for r in figures.at_rates
        if r.kind == kind
    )


def rebuild(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="threadline-bench-rebuild-") as workdir:
        figures = run_rebuild_benchmark(
            Path(workdir),
            events=args.rebuild_events,
            customers=args.rebuild_customers,
            batch_size=args.rebuild_batch,
            batched_subset=args.rebuild_batched,
            single_subset=args.rebuild_single,
            per_event_subset=args.rebuild_per_event,
            log_url=args.rebuild_log_url,
        )
    print_rebuild(figures, args.rebuild_batch)
    whole = figures.rates[0]
    cores = os.cpu_count() or 1
    limit = (
        f"; {cores} cores {whole.machine_cpu / whole.seconds / cores:.0%} busy: replay "
        f"{whole.client_cpu / whole.seconds:.2f} cores, event log server "
        f"{whole.server_cpu / whole.seconds:.2f}, PostgreSQL and others "
        f"{(whole.machine_cpu - whole.client_cpu - whole.server_cpu) / whole.seconds:.2f}"
        if whole.machine_cpu
        else ""
    )
    measured = f"{whole.seconds:.1f} s{limit}"
    GOALS.append(Goal(f"rebuild of {whole.events:,} events", measured, "<= 20 s for 1M"))


def relay(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="threadline-bench-relay-") as workdir:
        figures = run_relay_benchmark(
            Path(workdir),
            events=args.relay_events,
            customers=args.rebuild_customers,
            repeats=args.relay_repeats,
            singles=args.relay_single,
            log_url=args.rebuild_log_url,
        )
    print_relay(figures)
    for way, label in (("pipelined", "one partition's relay"), ("4 partitions", "4 relays")):
        rates = sorted(r.per_s for r in figures.rates if r.way == way)
        GOALS.append(
            Goal(
                f"session events relayed to NATS ({label})",
                f"{rates[0]:,.0f}-{rates[-1]:,.0f} /s",
                "~6,000 /s at 1,000 messages/s (6 events each)",
            )
        )


def key_value(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="threadline-bench-kv-") as workdir:
        costs = run_key_value_benchmark(Path(workdir), gets=args.kv_gets, repeats=args.kv_repeats)
    print_key_value(costs)


async def media(args: argparse.Namespace) -> None:
    photos = args.media_customers * args.media_photos + args.media_alone
    with tempfile.TemporaryDirectory(prefix="threadline-bench-media-") as workdir:
        async with running_platform(
            Path(workdir),
            # The sandbox holds every photo sent (and the warm-up's) until the run ends.
            sandbox=lambda config: dataclasses.replace(
                config,
                media_limit=photos + 10,
                media_bytes_limit=(photos + 10) * args.media_size,
            ),
        ) as running:
            figures = await run_media_benchmark(
                running,
                customers=args.media_customers,
                photos=args.media_photos,
                alone=args.media_alone,
                size=args.media_size,
            )
    print_media(figures)


async def pacing(args: argparse.Namespace) -> None:
    variants = [Variant(budget) for budget in args.pacing_budgets]
    variants += [Variant(*map(int, pair.split(":"))) for pair in args.pacing_throttled]
    with (
        tempfile.TemporaryDirectory(prefix="threadline-bench-pacing-") as workdir,
        ExitStack() as servers,
    ):
        figures = await run_pacing_benchmark(
            nats_server(servers, Path(workdir)),
            variants,
            seconds=args.pacing_seconds,
            recipients=args.pacing_recipients,
        )
    print_pacing(figures)


async def knowledge(args: argparse.Namespace) -> None:
    from threadline.cli.embedded import EmbeddedPostgres

    modes = ("auto", "exact") if args.knowledge_exact else ("auto",)
    with (
        tempfile.TemporaryDirectory(prefix="threadline-bench-knowledge-") as workdir,
        EmbeddedPostgres(Path(workdir), fast=True, database="knowledge") as server,
    ):
        figures = []
        for mode in modes:
            # Each mode in a database of its own (the embedded server has pgvector).
            with psycopg.connect(server.admin_url, autocommit=True) as connection:
                connection.execute(f"CREATE DATABASE knowledge_{mode}")
            url = server.admin_url.rsplit("/", 1)[0] + f"/knowledge_{mode}"
            figures.append(
                await run_knowledge_benchmark(
                    url,
                    passages=args.knowledge_passages,
                    rounds=args.knowledge_rounds,
                    embedded=args.knowledge_embedded,
                    vectors="exact" if mode == "exact" else "auto",
                )
            )
    print_knowledge(figures)


def main(args: argparse.Namespace) -> None:
    print(f"machine: {machine()}")
    if args.only in (None, "webhooks"):
        asyncio.run(webhooks(args))
    if args.only in (None, "assistant"):
        asyncio.run(assistant(args))
    if args.only in (None, "append"):
        append(args)
    if args.only in (None, "queries"):
        queries(args)
    if args.only in (None, "rebuild"):
        rebuild(args)
    if args.only in (None, "relay"):
        relay(args)
    if args.only in (None, "key-value"):
        key_value(args)
    if args.only in (None, "media"):
        asyncio.run(media(args))
    if args.only in (None, "pacing"):
        asyncio.run(pacing(args))
    if args.only in (None, "scaling"):
        asyncio.run(scaling(args))
    if args.only in (None, "knowledge"):
        asyncio.run(knowledge(args))
    print_goals()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument(
        "--only",
        choices=[
            "webhooks",
            "assistant",
            "append",
            "queries",
            "rebuild",
            "relay",
            "key-value",
            "media",
            "pacing",
            "knowledge",
            "scaling",
        ],
        default=None,
    )
    parser.add_argument("--webhooks", type=int, default=5000)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--scaling-webhooks", type=int, default=3000)
    parser.add_argument(
        "--scaling-layouts",
        default="",
        help="only the layout of this name, or those whose name contains this",
    )
    parser.add_argument("--numbers", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--latency-customers", type=int, default=20)
    parser.add_argument("--latency-messages", type=int, default=10)
    parser.add_argument(
        "--rates", type=float, nargs="*", default=[75, 250, 500], help="open-loop rates, /s"
    )
    parser.add_argument("--rate-seconds", type=float, default=5.0)
    parser.add_argument("--assistant-parallel", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--assistant-rounds", type=int, default=3)
    parser.add_argument("--assistant-burst", type=int, default=3)
    parser.add_argument("--assistant-long", type=int, default=200)
    parser.add_argument(
        "--assistant-heard",
        nargs="+",
        choices=sorted(HEARD_WAYS),
        default=["on"],
        help="how a due burst is answered, each way on a fresh platform in this order",
    )
    parser.add_argument("--assistant-client-requests", type=int, default=200)
    parser.add_argument("--append-messages", type=int, default=20_000)
    parser.add_argument("--append-customers", type=int, default=5_000)
    parser.add_argument("--append-batch", type=int, default=256)
    parser.add_argument("--append-repeats", type=int, default=3)
    parser.add_argument("--append-no-options", action="store_true")
    parser.add_argument(
        "--append-writers", default="1,2", help="(d): writer process counts, comma-separated"
    )
    parser.add_argument("--append-profile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--queries-conversations", type=int, default=100_000)
    parser.add_argument("--queries-customers", type=int, default=30_000)
    parser.add_argument("--queries-in-flight", type=int, default=16)
    parser.add_argument("--queries-seconds", type=float, default=8.0)
    parser.add_argument("--queries-plans", action="store_true", help="print whole plans")
    parser.add_argument(
        "--queries-rates",
        type=float,
        nargs="*",
        default=[250.0, 500.0, 1000.0],
        help="GetConversation calls a second offered, open loop (none: not measured)",
    )
    parser.add_argument(
        "--queries-list-rates",
        type=float,
        nargs="*",
        default=[100.0, 250.0],
        help="unfiltered page 1 listings a second offered, open loop (none: not measured)",
    )
    parser.add_argument(
        "--queries-readers",
        type=int,
        default=2,
        help="analytics processes GetConversation and page 1 are measured again over (1: not)",
    )
    parser.add_argument("--rebuild-events", type=int, default=1_000_000)
    parser.add_argument("--rebuild-customers", type=int, default=20_000)
    parser.add_argument("--rebuild-batch", type=int, default=25_000)
    parser.add_argument("--rebuild-batched", type=int, default=100_000)
    parser.add_argument("--rebuild-single", type=int, default=10_000)
    parser.add_argument("--rebuild-per-event", type=int, default=100_000)
    parser.add_argument(
        "--rebuild-log-url",
        help="a PostgreSQL database to keep the recorded log in and reuse (empty the first time)",
    )
    parser.add_argument("--relay-events", type=int, default=200_000)
    parser.add_argument("--relay-repeats", type=int, default=2)
    parser.add_argument("--relay-single", type=int, default=5000)
    parser.add_argument("--kv-gets", type=int, default=20_000)
    parser.add_argument("--kv-repeats", type=int, default=2)
    parser.add_argument("--media-customers", type=int, default=10)
    parser.add_argument("--media-photos", type=int, default=20, help="photos per customer")
    parser.add_argument("--media-alone", type=int, default=20, help="photos sent one at a time")
    parser.add_argument("--media-size", type=int, default=1024 * 1024, help="bytes per photo")
    parser.add_argument("--pacing-budgets", type=int, nargs="*", default=[80, 200, 1000])
    parser.add_argument(
        "--pacing-throttled",
        nargs="*",
        default=["80:80", "80:80:1", "200:120"],
        help="BUDGET:SANDBOX_LIMIT[:BURST]: the sandbox refuses past its limit with 130429",
    )
    parser.add_argument(
        "--pacing-seconds", type=float, default=20.0, help="backlog: budget times this"
    )
    parser.add_argument("--pacing-recipients", type=int, default=500)
    parser.add_argument("--knowledge-passages", type=int, default=100_000)
    parser.add_argument("--knowledge-rounds", type=int, default=3, help="times each question")
    parser.add_argument("--knowledge-embedded", type=int, default=256)
    parser.add_argument(
        "--knowledge-exact",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure exact search (as on a server without pgvector)",
    )
    parser.add_argument(
        "--instances",
        type=parse_instances,
        nargs="*",
        default=[],
        help="NAME=N: N processes of ai_responder, outbound or analytics (webhooks, assistant)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="a folder: py-spy records every service process (webhooks, assistant)",
    )
    parsed = parser.parse_args()
    parsed.instances = dict(parsed.instances)
    main(parsed)
