"""Benchmark: GetConversation / ListConversations latency under concurrent load (issue #4).

Embedded PostgreSQL (fsync on) and NATS; the analytics service started by `start_analytics`
in a child process; its read model filled with COPY (tests/bench/conversation_data.py), then
VACUUM ANALYZE. Then, kind by kind, C gRPC calls are kept in flight from this process for a
fixed time after a short warm-up, every call's latency recorded (p50 / p99, calls/s) with the
CPU time the client, the service, PostgreSQL and everything else spent meanwhile; then the
same calls one at a time (the latency without queueing). The kinds that filter by status run
first without migration 3's indexes, then with them (tests/bench/query_plans.py). Then
`GetConversation` and the unfiltered page 1 at offered rates (open loop, each call timed from
when it was due), and both again spread over several analytics reader processes (each on a
port of its own, the client taking them in turn, as a load balancer would).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import psycopg
from psycopg import sql

from tests.bench.conversation_data import STATUS_WEIGHTS, Dataset, load_conversations
from tests.bench.percentiles import percentile
from tests.bench.query_floor import FloorFigures, bare_server, grpc_floor, pool_ways
from tests.bench.query_plans import (
    Plan,
    count_ways,
    create_new_indexes,
    deep_pages,
    drop_new_indexes,
    explained,
)
from tests.bench.query_server import CpuParties, analytics_process, postmaster_pid
from threadline.analytics.config import AnalyticsConfig
from threadline.cli.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc
from threadline.servicekit.auth import TokenRegistry, hash_token

READER = "bench-reader-of-every-number"
TENANT = "bench-reader-of-the-largest-number"
WARM_UP_SECONDS = 1.0
ALONE_SECONDS, ALONE_CALLS = 2.0, 200  # the calls made one at a time, whichever ends first
Call = Callable[[random.Random], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of query and how to make a call of it."""

    name: str
    call: Call
    by_status: bool = False  # filters by status: measured without migration 3's indexes too


@dataclass(frozen=True, slots=True)
class Measured:
    name: str
    calls: int
    seconds: float
    p50_ms: float
    p99_ms: float
    client_cpu: float  # CPU seconds per second of wall time (1.0 = one core busy)
    server_cpu: float
    postgres_cpu: float
    other_cpu: float  # every other process on the machine
    alone_p50_ms: float  # one call at a time

    @property
    def per_s(self) -> float:
        return self.calls / self.seconds


@dataclass(frozen=True, slots=True)
class AtRate:
    """Calls of one kind started on a schedule (open loop), each timed from when it was due."""

    kind: str
    offered_per_s: float
    calls: int
    answered_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu: float  # cores
    failed: dict[str, int]  # calls that ended in an error, by gRPC status (not in p50, p99)


@dataclass(frozen=True, slots=True)
class QueryFigures:
    dataset: Dataset
    load_s: float
    in_flight: int
    seconds: float
    server_settings: dict[str, str]
    measured: list[Measured]  # every kind, with migration 3's indexes
    without_indexes: list[Measured]  # the kinds that filter by status, without them
    plans: dict[str, Plan]
    plans_without_indexes: dict[str, Plan]
    deep_pages: dict[int, tuple[float, float]]  # offset: ms every row joined, ms deferred join
    # case: exact count, its ms; the total the service gives, its ms (bounded, then estimated)
    counts: dict[str, tuple[int, float, int, float]]
    floor: list[FloorFigures]  # the bare gRPC server, then GetConversation over each pool
    readers: int  # analytics processes the calls of `several_readers` were spread over
    several_readers: list[Measured]
    at_rates: list[AtRate]  # GetConversation, then the unfiltered page 1, at offered rates


GET_CONVERSATION = "GetConversation, random id"
LIST_PAGE_1 = "List page 1, no filter"
# The kinds measured again over several reader processes.
SPREAD_KINDS = (GET_CONVERSATION, LIST_PAGE_1)


def kinds(
    stubs: Sequence[analytics_pb2_grpc.ConversationQueriesAsyncStub], data: Dataset
) -> list[Kind]:
    """Each kind's calls, taking `stubs` (one per analytics process) in turn."""
    turn = itertools.cycle(stubs)
    reader = (("authorization", f"Bearer {READER}"),)
    tenant = (("authorization", f"Bearer {TENANT}"),)
    statuses = tuple(STATUS_WEIGHTS)
    last_page = (data.conversations + 19) // 20

    def listing(
        make: Callable[[random.Random], pb.ListConversationsRequest], *, as_tenant: bool = False
    ) -> Call:
        metadata = tenant if as_tenant else reader
        return lambda rng: next(turn).ListConversations(make(rng), metadata=metadata)

    def get(rng: random.Random) -> Awaitable[pb.GetConversationResponse]:
        conversation_id = str(rng.choice(data.conversation_ids))
        request = pb.GetConversationRequest(conversation_id=conversation_id)
        return next(turn).GetConversation(request, metadata=reader)

    return [
        Kind(GET_CONVERSATION, get),
        Kind(LIST_PAGE_1, listing(lambda _: pb.ListConversationsRequest())),
        Kind(
            "List page 1, tenant token (largest number)",
            listing(lambda _: pb.ListConversationsRequest(), as_tenant=True),
        ),
        Kind("List page 50 (offset 980)", listing(lambda _: pb.ListConversationsRequest(page=50))),
        Kind(
            f"List random page 1..{last_page} (deep)",
            listing(lambda rng: pb.ListConversationsRequest(page=rng.randint(1, last_page))),
        ),
        Kind(
            "List page 1, business_number (random)",
            listing(
                lambda rng: pb.ListConversationsRequest(business_number=rng.choice(data.numbers))
            ),
        ),
        Kind(
            "List page 1, status (random of 4)",
            listing(lambda rng: pb.ListConversationsRequest(status=rng.choice(statuses))),
            by_status=True,
        ),
        Kind(
            "List page 1, status escalated, tenant token",
            listing(lambda _: pb.ListConversationsRequest(status="escalated"), as_tenant=True),
            by_status=True,
        ),
        Kind(
            "List page 1, customer_phone (random)",
            listing(
                lambda rng: pb.ListConversationsRequest(
                    customer_phone=rng.choice(data.customer_phones)
                )
            ),
        ),
        Kind(
            "List page 1, business_number + status active",
            listing(
                lambda rng: pb.ListConversationsRequest(
                    business_number=rng.choice(data.numbers), status="active"
                )
            ),
            by_status=True,
        ),
    ]


async def measure(
    kind: Kind, *, in_flight: int, seconds: float, parties: CpuParties, seed: int
) -> Measured:
    """Keep `in_flight` calls of `kind` going for `seconds` (after a warm-up); time each."""
    rng = random.Random(seed)
    latencies: list[float] = []

    async def worker(until: float, record: bool) -> None:
        while time.perf_counter() < until:
            began = time.perf_counter()
            await kind.call(rng)
            if record:
                latencies.append(time.perf_counter() - began)

    warm_up_until = time.perf_counter() + WARM_UP_SECONDS
    await asyncio.gather(*(worker(warm_up_until, False) for _ in range(in_flight)))
    cpu_before, began = parties.sample(), time.perf_counter()
    await asyncio.gather(*(worker(began + seconds, True) for _ in range(in_flight)))
    elapsed, cpu_after = time.perf_counter() - began, parties.sample()
    client, server, postgres, busy = (b - a for a, b in zip(cpu_before, cpu_after, strict=True))
    latencies.sort()
    alone: list[float] = []
    alone_until = time.perf_counter() + ALONE_SECONDS
    while time.perf_counter() < alone_until and len(alone) < ALONE_CALLS:
        began = time.perf_counter()
        await kind.call(rng)
        alone.append(time.perf_counter() - began)
    alone.sort()
    return Measured(
        name=kind.name,
        calls=len(latencies),
        seconds=elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        client_cpu=client / elapsed,
        server_cpu=server / elapsed,
        postgres_cpu=postgres / elapsed,
        other_cpu=max(0.0, busy - client - server - postgres) / elapsed,
        alone_p50_ms=percentile(alone, 0.50) * 1000,
    )


async def at_rate(
    kind: Kind, *, rate: float, seconds: float, parties: CpuParties, seed: int
) -> AtRate:
    """Open loop: a call of `kind` due every 1/rate s for `seconds`, each timed from when it
    was due, so neither a slow answer nor a late start lowers the offered rate unseen."""
    rng = random.Random(seed)
    latencies: list[float] = []
    failed: Counter[str] = Counter()
    total = max(1, round(rate * seconds))

    async def call(due: float) -> None:
        try:
            await kind.call(rng)
        except grpc.aio.AioRpcError as error:  # past what the service takes: counted, shown
            failed[error.code().name] += 1
            return
        latencies.append(time.perf_counter() - due)

    cpu_before, began = parties.sample(), time.perf_counter()
    tasks = []
    for k in range(total):
        due = began + k / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(call(due)))
    await asyncio.gather(*tasks)
    elapsed, cpu_after = time.perf_counter() - began, parties.sample()
    latencies.sort()
    return AtRate(
        kind=kind.name,
        offered_per_s=rate,
        calls=total,
        answered_per_s=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        server_cpu=(cpu_after[1] - cpu_before[1]) / elapsed,
        failed=dict(failed),
    )


def run_query_benchmark(
    workdir: Path,
    *,
    conversations: int,
    customers: int,
    in_flight: int,
    seconds: float,
    explain: bool,
    readers: int = 2,
    rates: Sequence[float] = (),
    list_rates: Sequence[float] = (),
) -> QueryFigures:
    with ExitStack() as stack:
        nats = stack.enter_context(EmbeddedNats(workdir / "nats"))
        postgres = stack.enter_context(EmbeddedPostgres(workdir / "postgres"))
        largest = "100000000000001"  # conversation_data's first (largest) number
        config = AnalyticsConfig(
            nats_url=nats.url,
            nats_namespace="",
            database_url=postgres.url,
            tokens=TokenRegistry.parse(
                f"{hash_token(READER)}:read:*;{hash_token(TENANT)}:read:{largest}"
            ),
            grpc_port=free_port(None),
            ops_port=free_port(None),
        )
        server_pid = stack.enter_context(analytics_process(config))  # migrates the schema
        began = time.perf_counter()
        data = load_conversations(postgres.url, conversations=conversations, customers=customers)
        load_s = time.perf_counter() - began
        assert data.numbers[0] == largest
        parties = CpuParties(
            client=os.getpid(), server=server_pid, postmaster=postmaster_pid(postgres.pgdata)
        )
        run = _Runner((config.grpc_port,), data, in_flight, seconds, parties)
        drop_new_indexes(postgres.url)
        without = asyncio.run(run.measure(by_status_only=True))
        plans_without = explained(postgres.url, data) if explain else {}
        create_new_indexes(postgres.url)
        measured = asyncio.run(run.measure(by_status_only=False))
        at_rates = [asyncio.run(run.at(GET_CONVERSATION, rate)) for rate in rates]
        at_rates += [asyncio.run(run.at(LIST_PAGE_1, rate)) for rate in list_rates]
        several: list[Measured] = []
        if readers > 1:
            more = [
                replace(config, grpc_port=free_port(None), ops_port=free_port(None))
                for _ in range(readers - 1)
            ]
            with ExitStack() as readers_stack:
                pids = tuple(readers_stack.enter_context(analytics_process(c)) for c in more)
                spread = _Runner(
                    (config.grpc_port, *(c.grpc_port for c in more)),
                    data,
                    in_flight,
                    seconds,
                    replace(parties, more_servers=pids),
                )
                several = asyncio.run(spread.measure(by_status_only=False, only=SPREAD_KINDS))
        floor_port = free_port(None)
        with bare_server(floor_port) as bare_pid:
            floor = [
                asyncio.run(grpc_floor(floor_port, bare_pid, in_flight=in_flight, seconds=seconds))
            ]
        floor += asyncio.run(
            pool_ways(postgres.url, data.conversation_ids, in_flight=in_flight, seconds=seconds)
        )
        return QueryFigures(
            dataset=data,
            load_s=load_s,
            in_flight=in_flight,
            seconds=seconds,
            server_settings=_settings(postgres.url),
            measured=measured,
            without_indexes=without,
            plans=explained(postgres.url, data) if explain else {},
            plans_without_indexes=plans_without,
            deep_pages=deep_pages(postgres.url, data),
            counts=count_ways(postgres.url, data),
            floor=floor,
            readers=readers,
            several_readers=several,
            at_rates=at_rates,
        )


@dataclass(frozen=True, slots=True)
class _Runner:
    ports: tuple[int, ...]  # one per analytics process
    data: Dataset
    in_flight: int
    seconds: float
    parties: CpuParties

    @asynccontextmanager
    async def _stubs(
        self,
    ) -> AsyncIterator[list[analytics_pb2_grpc.ConversationQueriesAsyncStub]]:
        """A stub per analytics process, each on a channel of its own."""
        async with AsyncExitStack() as stack:
            channels = [
                await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{port}"))
                for port in self.ports
            ]
            yield [analytics_pb2_grpc.ConversationQueriesStub(c) for c in channels]

    async def measure(self, *, by_status_only: bool, only: Sequence[str] = ()) -> list[Measured]:
        """Each kind (those filtering by status, or those named in `only`), in turn."""
        async with self._stubs() as stubs:
            return [
                await measure(
                    kind,
                    in_flight=self.in_flight,
                    seconds=self.seconds,
                    parties=self.parties,
                    seed=index,
                )
                for index, kind in enumerate(kinds(stubs, self.data))
                if (kind.by_status or not by_status_only) and (not only or kind.name in only)
            ]

    async def at(self, name: str, rate: float) -> AtRate:
        """The kind `name` at `rate` calls a second offered (after a warm-up)."""
        async with self._stubs() as stubs:
            kind = next(k for k in kinds(stubs, self.data) if k.name == name)
            await at_rate(kind, rate=rate, seconds=WARM_UP_SECONDS, parties=self.parties, seed=0)
            return await at_rate(
                kind, rate=rate, seconds=self.seconds, parties=self.parties, seed=int(rate)
            )


def _settings(database_url: str) -> dict[str, str]:
    names = ("server_version", "fsync", "synchronous_commit", "shared_buffers", "work_mem")
    with psycopg.connect(database_url) as connection:
        shown = (connection.execute(sql.SQL("SHOW {}").format(sql.Identifier(n))) for n in names)
        return {name: str(rows.fetchall()[0][0]) for name, rows in zip(names, shown, strict=True)}
