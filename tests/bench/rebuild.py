"""Benchmark 4: rebuilding the read models from the event log (`threadline replay`, issue #4).

One embedded PostgreSQL (fsync on, as `threadline up` starts it). A session event log of N
events is recorded by the session's own application (`tests.bench.event_log`), then served by
the session's `EventLog` servicer in a process of its own (`tests.bench.event_log_server`).
Measured in the same run:
  (a) `Replay` end to end as `threadline replay` runs it: `EventLog.ReadAllPages`, project,
      hold rows, COPY, index, switch — with the CPU each process used;
  (a1) the read alone through `ReadAllPages`; (a2) through `ReadAll`, one event per streamed
      message, over the first events;
  (a3) the replay writing its rows after every batch (`flush_rows=1`, the simple way: rows a
      later batch changes are read back and written again);
  (a5) the replay holding at most 300,000 rows (less memory, more rows written twice);
  (a4) the replay from events already in memory: projection and loading alone;
  (b) the live projection's batched path (`ProjectionConsumer.handle`, batches of 500, one
      transaction each) over the first S events;
  (c) event at a time (`ProjectionConsumer.handle` with one event, one transaction each) over the
      first S' events;
and whether (a4) over those S events leaves exactly the tables (b) left.
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

from tests.bench.cpu import cpu_seconds, machine_busy
from tests.bench.event_log import LogShape, build_event_log, session_app, stored_events
from threadline.analytics.adapters.outbound.read_models.database import open_pool
from threadline.analytics.adapters.outbound.read_models.rebuild.database import PostgresRebuild
from threadline.analytics.adapters.outbound.read_models.schema import migrate
from threadline.analytics.adapters.outbound.session_event_log import EventLogReader
from threadline.analytics.application.write.rebuild import Replay
from threadline.analytics.application.write.rebuild.ports import EventSource
from threadline.analytics.application.write.rebuild.tables import TABLES as REBUILT_TABLES
from threadline.analytics.bootstrap import projection_consumer
from threadline.cli.embedded import EmbeddedPostgres, free_port
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.messaging.consumer import Delivery
from threadline.messaging.relay import POSITION

TOKEN = "bench-replay-token"
# Every table a rebuild writes, and the position it reaches.
COMPARED = (*(table.name for table in REBUILT_TABLES), "projection_positions")
SMALL_FLUSH = 300_000  # (a5): the rows a replay holds with about 0.9 GB


@dataclass(frozen=True, slots=True)
class Rate:
    name: str
    events: int
    seconds: float
    client_cpu: float = 0.0  # this process's CPU seconds
    server_cpu: float = 0.0  # the EventLog server's
    machine_cpu: float = 0.0  # every process's, PostgreSQL included

    @property
    def per_s(self) -> float:
        return self.events / self.seconds

    def us(self, cpu: float) -> str:
        return f"{cpu / self.events * 1e6:6.1f}" if cpu else "     -"


@dataclass
class RebuildFigures:
    events: int
    customers: int
    log_seconds: float | None
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


class Timer:
    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def __call__(self, name: str, events: int, work: Callable[[], Any]) -> Rate:
        server = cpu_seconds(self.server_pid)
        machine = machine_busy()
        started, cpu = time.perf_counter(), time.process_time()
        work()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        return Rate(
            name,
            events,
            seconds,
            client_cpu=cpu,
            server_cpu=cpu_seconds(self.server_pid) - server,
            machine_cpu=machine_busy() - machine,
        )


def drain(events: Iterator[Any]) -> int:
    return sum(1 for _ in events)


def replay(database_url: str, source: EventSource, batch_size: int, **options: Any) -> int:
    with psycopg.connect(database_url) as connection:
        return (
            Replay(PostgresRebuild(connection), source, batch_size=batch_size, **options)
            .run()
            .events
        )


def read_per_event(channel: grpc.Channel, limit: int) -> int:
    """`ReadAll` as the contract first had it: one streamed message per event."""
    calls = pb_grpc.EventLogStub(channel).ReadAll(
        pb.ReadAllRequest(from_position=1, limit=limit),
        metadata=(("authorization", f"Bearer {TOKEN}"),),
    )
    return drain(calls)


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
        projector = projection_consumer(pool)
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
            for table in COMPARED
        }


def start_event_log_server(stack: ExitStack, database_url: str) -> tuple[str, int]:
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
            return address, process.pid
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def recorded_log(databases: Databases, shape: LogShape, log_url: str | None) -> tuple[str, float]:
    """A database holding the log, settled, and how long recording it took (0 when reused)."""
    seconds = 0.0
    url = log_url or databases.fresh("session_log")
    app = session_app(url)
    try:
        found = stored_events(app)
    finally:
        app.close()
    if found < shape.events:
        if found:
            raise SystemExit(f"{url} holds {found:,} events, fewer than asked: empty it")
        started = time.perf_counter()
        build_event_log(url, shape)
        seconds = time.perf_counter() - started
    settle(url)
    return url, seconds


def settle(url: str) -> None:
    """What autovacuum does to a freshly written log soon after: without it the first reads
    of a million new rows also set their hint bits (writing every page) while autovacuum
    scans the table, and a replay racing that measures PostgreSQL's housekeeping."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM (FREEZE, ANALYZE)")
        connection.execute("CHECKPOINT")


def run_rebuild_benchmark(
    workdir: Path,
    *,
    events: int,
    customers: int,
    batch_size: int,
    batched_subset: int,
    single_subset: int,
    per_event_subset: int,
    log_url: str | None = None,
) -> RebuildFigures:
    with ExitStack() as stack:
        databases = Databases(stack.enter_context(EmbeddedPostgres(workdir / "postgres")))
        shape = LogShape(events=events, customers=customers)
        url, log_seconds = recorded_log(databases, shape, log_url)
        address, server_pid = start_event_log_server(stack, url)
        channel = stack.enter_context(grpc.insecure_channel(address))
        reader = EventLogReader(channel, TOKEN)
        stored = reader.head()
        timed = Timer(server_pid)
        # Databases are created (and checkpointed) before each clock starts.
        replay_a, replay_simple = databases.fresh("replay_a"), databases.fresh("replay_simple")
        replay_small = databases.fresh("replay_small")
        rates = [
            timed(
                "(a) replay through EventLog.ReadAllPages",
                stored,
                lambda: replay(replay_a, reader, batch_size),
            ),
            timed("(a1) read alone: ReadAllPages", stored, lambda: drain(reader.read_all())),
            timed(
                "(a2) read alone: ReadAll, an event per message",
                min(per_event_subset, stored),
                lambda: read_per_event(channel, per_event_subset),
            ),
            timed(
                "(a3) replay writing rows after every batch",
                stored,
                lambda: replay(replay_simple, reader, batch_size, flush_rows=1),
            ),
            timed(
                "(a5) replay holding at most 300,000 rows",
                stored,
                lambda: replay(replay_small, reader, batch_size, flush_rows=SMALL_FLUSH),
            ),
        ]
        in_memory = list(reader.read_all())
        replay_memory = databases.fresh("replay_memory")
        rates.append(
            timed(
                "(a4) replay from memory (projection and loading)",
                len(in_memory),
                lambda: replay(replay_memory, MemoryLog(in_memory), batch_size),
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
        log_seconds=log_seconds or None,
        rates=rates,
        identical=identical,
        load=" ".join(f"{value:.1f}" for value in os.getloadavg()),
    )


def print_rebuild(f: RebuildFigures, batch_size: int) -> None:
    print("\nBenchmark 4 — rebuilding the read models from the event log (threadline replay)")
    recorded = f"recorded by record_facts in {f.log_seconds:.0f} s" if f.log_seconds else "reused"
    print(
        f"  log: {f.events:,} stored session events from {f.customers:,} customers, {recorded};"
        f" replay batches of {batch_size:,}"
    )
    print(
        f"  {'':<50} {'events':>10} {'seconds':>8} {'events/s':>9}"
        "   CPU µs/event: client server machine"
    )
    for r in f.rates:
        cpu = f"{r.us(r.client_cpu)} {r.us(r.server_cpu)} {r.us(r.machine_cpu)}"
        print(f"  {r.name:<50} {r.events:>10,} {r.seconds:8.1f} {r.per_s:9,.0f}   {cpu}")
    print(f"  (a4) over the first events leaves the tables (b) left: {f.identical}")
    print(f"  load average at the end: {f.load}")
