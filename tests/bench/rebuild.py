"""Benchmark 4: rebuilding the read models from the event log (`threadline replay`, issue #4).

One embedded PostgreSQL (fsync on, as `threadline up` starts it). A session event log of N
events is recorded by the session's own application (`tests.bench.event_log`), then served by
the session's `EventLog` servicer in a process of its own (`tests.bench.event_log_server`).
Measured in the same run:
  (a) `Replay` end to end through `EventLog.ReadAll` as it is (one event per streamed
      message): read, project, load, index, switch; and the read alone;
  (a') the same through the paged prototype (1000 events per message), and its read alone;
  (a'') the same from events already in memory: projection and loading alone;
  (b) the live projection's batched path (`Projector.handle`, batches of 500, one
      transaction each) over the first S events;
  (c) event at a time (`Projector.handle` with one event, one transaction each) over the
      first S' events;
and whether (a'') over those S events leaves exactly the tables (b) left.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psycopg
from psycopg import sql

from tests.bench.event_log import LogShape, build_event_log
from tests.bench.event_log_server import PagedEventLogReader
from threadline.analytics.bootstrap import open_pool
from threadline.analytics.consumer import Projector
from threadline.analytics.read_models.schema import migrate
from threadline.analytics.rebuild import EventLogReader, Replay
from threadline.analytics.rebuild.event_log import EventSource
from threadline.cli.embedded import EmbeddedPostgres, free_port
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.consumer import Delivery
from threadline.messaging.relay import POSITION

TOKEN = "bench-replay-token"
TABLES = (
    "business_numbers",
    "templates",
    "contacts",
    "contact_keys",
    "conversations",
    "messages",
    "response_facts",
    "projection_positions",
)


@dataclass(frozen=True, slots=True)
class Rate:
    name: str
    events: int
    seconds: float
    cpu_seconds: float = 0.0  # this process's CPU, when it matters

    @property
    def per_s(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / self.events * 1e6


@dataclass
class RebuildFigures:
    events: int
    customers: int
    log_seconds: float
    rates: list[Rate]
    identical: bool
    load: str


class MemoryLog:
    """An event source over events already read (no gRPC)."""

    def __init__(self, events: Sequence[SessionEvent]) -> None:
        self.events = events

    def read_all(self, *, after: int = 0, limit: int = 0) -> Iterator[SessionEvent]:
        return (event for event in self.events if event.position > after)

    def head(self, *, at_least: int = 0) -> int:
        return self.events[-1].position if self.events else 0


class Databases:
    def __init__(self, postgres: EmbeddedPostgres) -> None:
        self.postgres = postgres

    def fresh(self, name: str) -> str:
        with psycopg.connect(self.postgres.admin_url, autocommit=True) as connection:
            identifier = sql.Identifier(name)
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier)
            )
            connection.execute(sql.SQL("CREATE DATABASE {}").format(identifier))
            connection.execute("CHECKPOINT")
        return self.postgres.url.rsplit("/", 1)[0] + f"/{name}"


def timed(name: str, events: int, work: Callable[[], Any]) -> Rate:
    started, cpu = time.perf_counter(), time.process_time()
    work()
    return Rate(name, events, time.perf_counter() - started, time.process_time() - cpu)


def drain(events: Iterator[SessionEvent]) -> int:
    return sum(1 for _ in events)


def replay(database_url: str, source: EventSource, batch_size: int) -> int:
    with psycopg.connect(database_url) as connection:
        return Replay(connection, source, batch_size=batch_size).run().events


def deliveries(events: Sequence[SessionEvent], size: int) -> list[list[Delivery]]:
    batches = []
    for start in range(0, len(events), size):
        batch = events[start : start + size]
        batches.append(
            [
                Delivery(
                    "session.events.x", e.SerializeToString(), {POSITION: str(e.position)}, i, 1
                )
                for i, e in enumerate(batch, start=1)
            ]
        )
    return batches


async def project_live(database_url: str, batches: Sequence[list[Delivery]]) -> float:
    pool = await open_pool(database_url)
    try:
        async with pool.connection() as connection:
            await migrate(connection)
        projector = Projector(pool)
        started = time.perf_counter()
        for batch in batches:
            await projector.handle(batch)
        return time.perf_counter() - started
    finally:
        await pool.close()


def tables(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(database_url) as connection:
        return {
            table: connection.execute(
                sql.SQL("SELECT * FROM analytics.{} t ORDER BY t::text").format(
                    sql.Identifier(table)
                )
            ).fetchall()
            for table in TABLES
        }


def start_event_log_server(stack: ExitStack, database_url: str) -> str:
    port = free_port(None)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.event_log_server", database_url, str(port), TOKEN],
        cwd=root,
        env=env,
    )
    stack.callback(process.wait, 10)
    stack.callback(process.terminate)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with grpc.insecure_channel(address) as channel:
                EventLogReader(channel, TOKEN).head()
            return address
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run_rebuild_benchmark(
    workdir: Path,
    *,
    events: int,
    customers: int,
    batch_size: int,
    batched_subset: int,
    single_subset: int,
) -> RebuildFigures:
    with ExitStack() as stack:
        databases = Databases(stack.enter_context(EmbeddedPostgres(workdir / "postgres")))
        log_url = databases.fresh("session_log")
        started = time.perf_counter()
        stored = build_event_log(log_url, LogShape(events=events, customers=customers))
        log_seconds = time.perf_counter() - started
        address = start_event_log_server(stack, log_url)
        channel = stack.enter_context(grpc.insecure_channel(address))
        plain = EventLogReader(channel, TOKEN)
        paged = PagedEventLogReader(channel, TOKEN, plain.head)
        rates = [
            timed("(a) read alone: EventLog.ReadAll", stored, lambda: drain(plain.read_all())),
            timed(
                "(a) replay through EventLog.ReadAll",
                stored,
                lambda: replay(databases.fresh("replay_a"), plain, batch_size),
            ),
            timed("(a') read alone: paged prototype", stored, lambda: drain(paged.read_all())),
            timed(
                "(a') replay through the paged prototype",
                stored,
                lambda: replay(databases.fresh("replay_paged"), paged, batch_size),
            ),
        ]
        in_memory = list(paged.read_all())
        rates.append(
            timed(
                "(a'') replay from memory (projection and loading)",
                len(in_memory),
                lambda: replay(databases.fresh("replay_memory"), MemoryLog(in_memory), batch_size),
            )
        )
        subset = in_memory[:batched_subset]
        batched_url = databases.fresh("live_batched")
        seconds = asyncio.run(project_live(batched_url, deliveries(subset, 500)))
        rates.append(Rate("(b) live projection, batches of 500", len(subset), seconds))
        singles = in_memory[:single_subset]
        seconds = asyncio.run(project_live(databases.fresh("live_single"), deliveries(singles, 1)))
        rates.append(Rate("(c) event at a time, one transaction each", len(singles), seconds))
        subset_url = databases.fresh("replay_subset")
        replay(subset_url, MemoryLog(subset), batch_size)
        identical = tables(subset_url) == tables(batched_url)
    return RebuildFigures(
        events=stored,
        customers=customers,
        log_seconds=log_seconds,
        rates=rates,
        identical=identical,
        load=" ".join(f"{value:.1f}" for value in os.getloadavg()),
    )


def print_rebuild(f: RebuildFigures, batch_size: int) -> None:
    print("\nBenchmark 4 — rebuilding the read models from the event log (threadline replay)")
    print(
        f"  log: {f.events:,} stored session events from {f.customers:,} customers,"
        f" recorded by record_facts in {f.log_seconds:.0f} s; replay batches of {batch_size:,}"
    )
    print(f"  {'':<52} {'events':>10} {'seconds':>8} {'events/s':>9} {'client CPU/event':>17}")
    for rate in f.rates:
        cpu = f"{rate.cpu_us:14.1f} µs" if rate.cpu_seconds else ""
        print(f"  {rate.name:<52} {rate.events:>10,} {rate.seconds:8.1f} {rate.per_s:9,.0f} {cpu}")
    print(f"  (a'') over the first events leaves the tables (b) left: {f.identical}")
    print(f"  load average at the end: {f.load}")
