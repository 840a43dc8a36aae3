"""Beside the conversation queries (issue 15 item 3): what the service's parts cost on their own.

- **The gRPC floor**: a bare `grpc.aio` server in a process of its own, answering the
  `GetConversation` method with an empty message and doing nothing else, measured by the same
  client at the same concurrency: the most any gRPC service in Python gets from one core here.
- **The query pool, old and new way**: `GetConversation` through `ConversationQueries` in this
  process (no gRPC) over the pool the service used before (a transaction per call, `SELECT 1`
  on every checkout) and over its query pool (each statement on its own, the check only after
  a quiet second): calls/s and this process's CPU per call, in the same run.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from typing import Any
from uuid import UUID

import grpc

from tests.bench.cpu import cpu_seconds
from tests.bench.percentiles import percentile
from tests.bench.query_server import spawned
from threadline.analytics.adapters.outbound.read_models.database import (
    open_pool,
    open_query_pool,
)
from threadline.analytics.application.read.queries import ConversationQueries
from threadline.servicekit.auth import Principal

METHOD = "/threadline.analytics.v1.ConversationQueries/GetConversation"


@dataclass(frozen=True, slots=True)
class FloorFigures:
    name: str
    calls_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_call: float  # the process named in `name` ("client", "server", "this process")


def _bare_server(port: int, ready: Event, stop: Event) -> None:
    async def serve() -> None:
        server = grpc.aio.server()

        async def nothing(request: bytes, context: Any) -> bytes:
            return b""

        handler = grpc.method_handlers_generic_handler(
            "threadline.analytics.v1.ConversationQueries",
            {"GetConversation": grpc.unary_unary_rpc_method_handler(nothing)},
        )
        server.add_generic_rpc_handlers((handler,))
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        ready.set()
        await asyncio.to_thread(stop.wait)
        await server.stop(1)

    asyncio.run(serve())


@contextmanager
def bare_server(port: int) -> Iterator[int]:
    """A `grpc.aio` server doing nothing, in a spawned process; yields its pid."""
    with spawned(_bare_server, port, name="bare-grpc") as pid:
        yield pid


async def _load(
    call: Callable[[], Awaitable[object]], *, in_flight: int, seconds: float
) -> tuple[int, float, list[float]]:
    latencies: list[float] = []

    async def worker(until: float, record: bool) -> None:
        while time.perf_counter() < until:
            began = time.perf_counter()
            await call()
            if record:
                latencies.append(time.perf_counter() - began)

    warm = time.perf_counter() + 0.5
    await asyncio.gather(*(worker(warm, False) for _ in range(in_flight)))
    began = time.perf_counter()
    await asyncio.gather(*(worker(began + seconds, True) for _ in range(in_flight)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return len(latencies), elapsed, latencies


def _figures(
    name: str, calls: int, elapsed: float, ordered: list[float], cpu: float
) -> FloorFigures:
    return FloorFigures(
        name=name,
        calls_per_s=calls / elapsed,
        p50_ms=percentile(ordered, 0.50) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        cpu_ms_per_call=cpu / max(calls, 1) * 1000,
    )


async def grpc_floor(port: int, server_pid: int, *, in_flight: int, seconds: float) -> FloorFigures:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)

        async def one() -> object:
            return await call(b"")

        before = cpu_seconds(server_pid)
        calls, elapsed, ordered = await _load(one, in_flight=in_flight, seconds=seconds)
        cpu = cpu_seconds(server_pid) - before
    return _figures("bare grpc.aio server (server CPU)", calls, elapsed, ordered, cpu)


async def pool_ways(
    database_url: str, ids: tuple[UUID, ...], *, in_flight: int, seconds: float
) -> list[FloorFigures]:
    """`GetConversation` in this process over the old pool and the query pool."""
    viewer = Principal(roles=frozenset({"read"}), numbers=None)
    figures = []
    for name, opener in (
        ("transaction per call, SELECT 1 per checkout (before)", open_pool),
        ("query pool: autocommit, check after a quiet second", open_query_pool),
    ):
        pool = await opener(database_url)
        try:
            queries = ConversationQueries(pool)
            rng = random.Random(7)

            async def one(
                queries: ConversationQueries = queries, rng: random.Random = rng
            ) -> object:
                return await queries.get_conversation(viewer, rng.choice(ids))

            started = time.process_time()
            calls, elapsed, ordered = await _load(one, in_flight=in_flight, seconds=seconds)
            cpu = time.process_time() - started
        finally:
            await pool.close()
        figures.append(_figures(name, calls, elapsed, ordered, cpu))
    return figures
