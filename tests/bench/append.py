"""Benchmark 2: events appended per second to the session's event store (issue #3).

One embedded PostgreSQL (fsync on, as `threadline up` starts it), a fresh database for every
repetition. The same inbound text messages, spread over many customers, are recorded by:
  (a) the session's batched path: `Conversations.record_facts` with batches of N facts, one
      transaction each (group commit), as configured by `SessionConfig.event_store_env()`;
  (b) the plain way: `record_facts([fact])`, one load-change-save transaction per message;
  (c) the ceiling: the rows (a) stored, inserted again by raw psycopg into a table shaped like
      eventsourcing's, in as many transactions as (a) used (COPY, and executemany).
  (d) the session partitioned (issue 15): the same facts split by customer over K writer
      processes, each with its own `Conversations` on the same store, as K session instances
      owning their partitions would record them (several check what they read). Its clock
      runs from the common start to the last writer's end, making each writer's facts
      included; (a)'s and (b)'s run only while `record_facts` does.
Events are counted in the store (the highest notification id), not as facts. Options that
might close the gap are measured beside (a), in the same run (the end of this module).
Every writer runs with the collector settled as a started service has it
(`servicekit.collector`); (a) is also measured with the collector's defaults, and with the
library's JSON encoder in place of the session's (`event_json`).
"""

from __future__ import annotations

import cProfile
import gc
import math
import multiprocessing
import pstats
import queue
import statistics
import sys
import time
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tests.bench.cpu import machine_busy
from threadline.cli.embedded import EmbeddedPostgres
from threadline.rules.partitions import customer_slot, partition_of
from threadline.servicekit.collector import settle_after_start
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import InboundMessage
from threadline.session.config import SessionConfig

Row = tuple[object, int, str, bytes]
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@dataclass(frozen=True, slots=True)
class Variant:
    """One way of recording the facts: batch size and overrides of the store's settings."""

    name: str
    batch_size: int
    env: dict[str, str] = field(default_factory=dict)
    app_class: type[Conversations] = Conversations
    settled: bool = True  # the collector as a started service has it (else its defaults)


@dataclass(slots=True)
class Measured:
    name: str
    events: int = 0
    transactions: int = 0
    seconds: list[float] = field(default_factory=list)
    recorder_seconds: list[float] = field(default_factory=list)  # in insert_events alone
    machine_busy: list[float] = field(default_factory=list)  # cores busy, all processes
    writer_cpu: list[float] = field(default_factory=list)  # CPU seconds of the writer(s)

    @property
    def per_s(self) -> float:
        return self.events / statistics.median(self.seconds)

    @property
    def recorder_per_s(self) -> float | None:
        if not self.recorder_seconds:
            return None
        return self.events / statistics.median(self.recorder_seconds)

    @property
    def writer_us(self) -> float | None:
        """The writers' CPU an event stored, in microseconds."""
        if not self.writer_cpu or not self.events:
            return None
        return statistics.median(self.writer_cpu) / self.events * 1e6

    @property
    def busy(self) -> float | None:
        return statistics.median(self.machine_busy) if self.machine_busy else None

    @property
    def spread(self) -> str:
        rates = sorted(self.events / s for s in self.seconds)
        return f"{rates[0]:.0f}-{rates[-1]:.0f}"


@dataclass(slots=True)
class AppendFigures:
    server_settings: dict[str, str]
    messages: int
    customers: int
    session: list[Measured]
    partitioned: list[Measured]
    raw: list[Measured]
    profile: list[tuple[str, float]]


def customer_ids(customer: int, numbers: int) -> tuple[str, str]:
    """The phone number id and `wa_id` of customer number `customer`."""
    return f"10900000000{customer % numbers:04d}", f"1666{customer:08d}"


def inbound_facts(
    messages: int, customers: int, numbers: int, keep: Container[int] | None = None
) -> Iterator[InboundMessage]:
    """Text messages as ingest hands them over; customer i % customers sends message i (only
    the customers in `keep`, when given). Made one at a time: a benchmark holds a batch of
    them at once, as a consumer does, not all of them (a list of every fact would be walked
    by each full collection)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(messages):
        customer = i % customers
        if keep is not None and customer not in keep:
            continue
        phone_number_id, wa_id = customer_ids(customer, numbers)
        wamid = f"wamid.HBgLMTY2NjAwMDAwMDAVAgASGBQz{i:012d}"
        text, sent_at = f"order question {i}", start + timedelta(seconds=i)
        raw = {
            "from": wa_id,
            "id": wamid,
            "timestamp": str(int(sent_at.timestamp())),
            "text": {"body": text},
            "type": "text",
        }
        yield InboundMessage(
            wamid=wamid,
            phone_number_id=phone_number_id,
            wa_id=wa_id,
            user_id="",
            profile_name="Bench Customer",
            content={"type": "text", "text": text, "payload_json": ""},
            sent_at=sent_at,
            metadata={
                "raw": raw,
                "display_phone_number": "15550000000",
                "profile_name": "Bench Customer",
                "received_at": sent_at.isoformat(),
            },
            trace=TRACE,
        )


class Server:
    """The embedded PostgreSQL; every measurement gets a database of its own."""

    def __init__(self, postgres: EmbeddedPostgres) -> None:
        self.postgres = postgres
        self._count = 0

    def settings(self) -> dict[str, str]:
        names = ("fsync", "synchronous_commit", "full_page_writes", "wal_level", "server_version")
        with psycopg.connect(self.postgres.url) as connection:
            return {n: str(connection.execute(f"SHOW {n}").fetchone()[0]) for n in names}  # type: ignore[index]

    def scratch_database(self, name: str) -> str:
        """An empty database `name` (a writer process warms up in it)."""
        with psycopg.connect(self.postgres.admin_url, autocommit=True) as connection:
            drop = "DROP DATABASE IF EXISTS {} WITH (FORCE)"
            connection.execute(sql.SQL(drop).format(sql.Identifier(name)))
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.postgres.url.rsplit("/", 1)[0] + f"/{name}"

    def fresh_database(self) -> str:
        """A new database in place of the previous one, after a checkpoint: every measurement
        starts from the same state, and none pays for the WAL of the one before it."""
        self._count += 1
        previous, name = f"append_{self._count - 1}", f"append_{self._count}"
        with psycopg.connect(self.postgres.admin_url, autocommit=True) as connection:
            drop = "DROP DATABASE IF EXISTS {} WITH (FORCE)"
            connection.execute(sql.SQL(drop).format(sql.Identifier(previous)))
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            connection.execute("CHECKPOINT")
        return self.postgres.url.rsplit("/", 1)[0] + f"/{name}"


def store_env(database_url: str, overrides: dict[str, str]) -> dict[str, str]:
    config = SessionConfig(
        nats_url="nats://unused", nats_namespace="", database_url=database_url, api_tokens=""
    )
    return {**config.event_store_env(), **overrides}


@dataclass(frozen=True, slots=True)
class Recorded:
    seconds: float  # in `record_facts` alone
    cpu: float  # this process's CPU seconds, in `record_facts` alone
    transactions: int


def record(app: Conversations, facts: Iterable[InboundMessage], batch_size: int) -> Recorded:
    """Record `facts` batch by batch; each batch is made before the clocks run for it."""
    seconds = cpu = 0.0
    transactions = 0
    remaining = iter(facts)
    while batch := list(islice(remaining, batch_size)):
        started, on_cpu = time.perf_counter(), time.process_time()
        app.record_facts(batch)
        seconds += time.perf_counter() - started
        cpu += time.process_time() - on_cpu
        transactions += 1
    return Recorded(seconds, cpu, transactions)


Facts = Callable[[], Iterable[InboundMessage]]


def measure_sessions(
    server: Server, variants: Sequence[Variant], facts: Facts, repeats: int
) -> list[Measured]:
    """Each variant once per repetition, in turn: this machine's speed drifts within minutes,
    so a variant measured after another would be compared with another machine."""
    measured = [Measured(v.name) for v in variants]
    for _ in range(repeats):
        for variant, figures in zip(variants, measured, strict=True):
            measure_once(server, variant, facts, figures, keep_rows=False)
    return measured


def measure_once(
    server: Server, variant: Variant, facts: Facts, measured: Measured, *, keep_rows: bool
) -> list[Row]:
    app = variant.app_class(store_env(server.fresh_database(), variant.env))
    in_recorder = time_insert_events(app)
    try:
        with collector(settled=variant.settled):
            busy, started = machine_busy(), time.perf_counter()
            recorded = record(app, facts(), variant.batch_size)
            wall = time.perf_counter() - started  # making the facts too, as `busy` has it
            measured.machine_busy.append((machine_busy() - busy) / wall)
        measured.transactions = recorded.transactions
        measured.writer_cpu.append(recorded.cpu)
        measured.seconds.append(recorded.seconds)
        measured.recorder_seconds.append(in_recorder[0])
        measured.events = app.recorder.max_notification_id() or 0
        return stored_rows(app) if keep_rows else []
    finally:
        app.close()


@contextmanager
def collector(*, settled: bool) -> Iterator[None]:
    """The collector's defaults for a measurement (`settled=False`), settled again after."""
    if settled:
        yield
        return
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        settle_after_start()


def time_insert_events(app: Conversations) -> list[float]:
    """A one-item list that adds up the seconds the recorder spends in `insert_events`."""
    spent = [0.0]
    insert_events = app.recorder.insert_events

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return insert_events(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    setattr(app.recorder, "insert_events", timed)  # noqa: B010 (a method is assigned)
    return spent


def stored_rows(app: Conversations) -> list[Row]:
    with psycopg.connect(store_env_url(app)) as connection:
        query = sql.SQL(
            "SELECT originator_id, originator_version, topic, state FROM {} "
            "ORDER BY notification_id"
        ).format(sql.Identifier(f"{app.name.lower()}_events"))
        return [(r[0], r[1], r[2], bytes(r[3])) for r in connection.execute(query)]


def store_env_url(app: Conversations) -> str:
    env = app.env
    return (
        f"postgresql://{env['POSTGRES_USER']}@{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}"
        f"/{env['POSTGRES_DBNAME']}"
    )


RAW_TABLE = """
CREATE TABLE raw_events (
    originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text, state bytea,
    notification_id bigserial, PRIMARY KEY (originator_id, originator_version));
CREATE UNIQUE INDEX raw_events_notification_id_idx ON raw_events (notification_id);
"""


def copy_rows(cursor: psycopg.Cursor[tuple[object, ...]], rows: Sequence[Row]) -> None:
    statement = (
        "COPY raw_events (originator_id, originator_version, topic, state) FROM STDIN BINARY"
    )
    with cursor.copy(statement) as copy:
        copy.set_types(["uuid", "int8", "text", "bytea"])
        for row in rows:
            copy.write_row(row)


def insert_rows(cursor: psycopg.Cursor[tuple[object, ...]], rows: Sequence[Row]) -> None:
    cursor.executemany(
        "INSERT INTO raw_events (originator_id, originator_version, topic, state) "
        "VALUES (%s, %s, %s, %s)",
        rows,
    )


RawInsert = Callable[[psycopg.Cursor[tuple[object, ...]], Sequence[Row]], None]


def measure_raw(
    server: Server, name: str, insert: RawInsert, rows: Sequence[Row], txns: int, repeats: int
) -> Measured:
    measured = Measured(name, events=len(rows), transactions=txns)
    size = math.ceil(len(rows) / txns)
    for _ in range(repeats):
        with psycopg.connect(server.fresh_database()) as connection:
            connection.execute(RAW_TABLE)
            connection.commit()
            started = time.perf_counter()
            for i in range(0, len(rows), size):
                with connection.transaction(), connection.cursor() as cursor:
                    insert(cursor, rows[i : i + size])
            measured.seconds.append(time.perf_counter() - started)
    return measured


# (d) The session partitioned over K writer processes --------------------------------------


def in_partition(customers: int, numbers: int, writers: int, k: int) -> set[int]:
    """The customers partition `k` of `writers` owns (the session's rule)."""
    return {
        c
        for c in range(customers)
        if partition_of(customer_slot(*customer_ids(c, numbers)), writers) == k
    }


def numbers_registered(numbers: int) -> list[InboundMessage]:
    """A first message to every business number from customers outside the measured ones: the
    writers find the numbers registered, as a running platform does (else each would register
    them in its first batch, and all but one conflict)."""
    return [
        replace(f, wa_id=f"1999{f.wa_id[4:]}", wamid=f"{f.wamid}.registers")
        for f in inbound_facts(numbers, numbers, numbers)
    ]


@dataclass(frozen=True, slots=True)
class Writer:
    """What one writer process of (d) is given."""

    partition: int
    writers: int
    database_url: str
    warm_up_url: str
    messages: int
    customers: int
    numbers: int
    batch_size: int


def run_writer(writer: Writer, ready: Any, go: Any, results: Any) -> None:
    """One session instance's writing, in a process of its own: its partition's facts, batch by
    batch, after a warm-up in a database of its own and the collector settled."""

    mine = in_partition(writer.customers, writer.numbers, writer.writers, writer.partition)

    def facts() -> Iterator[InboundMessage]:
        return inbound_facts(writer.messages, writer.customers, writer.numbers, keep=mine)

    warm_up = Conversations(store_env(writer.warm_up_url, {}))
    record(warm_up, islice(facts(), 2000), writer.batch_size)
    warm_up.close()
    settle_after_start()
    app = Conversations(store_env(writer.database_url, {}), validate_reads=writer.writers > 1)
    try:
        app.recorder.max_notification_id()  # connected before the clock starts
        ready.put(writer.partition)
        go.wait()
        recorded = record(app, facts(), writer.batch_size)
        results.put((time.perf_counter(), recorded.cpu, recorded.transactions))
    finally:
        app.close()


def collect(
    results: Any, processes: Sequence[multiprocessing.process.BaseProcess], timeout: float
) -> list[Any]:
    """One item from each process, failing as soon as one of them has."""
    collected: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(collected) < len(processes):
        try:
            collected.append(results.get(timeout=0.5))
        except queue.Empty:
            if any(process.exitcode not in (None, 0) for process in processes):
                raise RuntimeError("a writer process failed (its traceback is above)") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"the writer processes took over {timeout:.0f} s") from None
    return collected


@contextmanager
def importable_by_children() -> Iterator[None]:
    """This checkout on the path spawned processes start with (they import this module to find
    `run_writer`; pytest's importlib mode does not put it on `sys.path`)."""
    root = str(Path(__file__).resolve().parents[2])
    if root in sys.path:
        yield
        return
    sys.path.append(root)
    try:
        yield
    finally:
        sys.path.remove(root)


def measure_partitioned(
    server: Server,
    counts: Sequence[int],
    *,
    messages: int,
    customers: int,
    numbers: int,
    batch_size: int,
    repeats: int,
) -> list[Measured]:
    """(d), for each number of writer processes in `counts`, in turn within each repetition
    (this machine's speed drifts within minutes): the writers start together on one store,
    and the time is until the last of them ends."""
    measured = [
        Measured(
            f"(d) partitioned: {n} writer process{'es' if n > 1 else ''}, {batch_size} facts/txn"
        )
        for n in counts
    ]
    warm_ups = [server.scratch_database(f"append_warm_{k}") for k in range(max(counts))]
    for _ in range(repeats):
        for writers, figures in zip(counts, measured, strict=True):
            writing = [
                Writer(k, writers, "", warm_ups[k], messages, customers, numbers, batch_size)
                for k in range(writers)
            ]
            seconds, cpu, transactions, events, busy = run_writers(server, writing)
            figures.seconds.append(seconds)
            figures.writer_cpu.append(cpu)
            figures.machine_busy.append(busy)
            figures.transactions, figures.events = transactions, events
    return measured


def run_writers(server: Server, writing: Sequence[Writer]) -> tuple[float, float, int, int, float]:
    """One run of (d) on a fresh store: seconds, the writers' CPU seconds, transactions,
    events stored, and the machine's cores busy meanwhile."""
    url = server.fresh_database()
    setup = Conversations(store_env(url, {}))
    context = multiprocessing.get_context("spawn")
    try:
        record(setup, numbers_registered(writing[0].numbers), writing[0].batch_size)
        before = setup.recorder.max_notification_id() or 0
        ready, go, results = context.Queue(), context.Event(), context.Queue()
        processes = [
            context.Process(
                target=run_writer, args=(replace(w, database_url=url), ready, go, results)
            )
            for w in writing
        ]
        with importable_by_children():
            for process in processes:
                process.start()
        try:
            collect(ready, processes, timeout=300)
            started, busy = time.perf_counter(), machine_busy()
            go.set()
            ended = collect(results, processes, timeout=600)
            seconds = max(end for end, _, _ in ended) - started
            busy = (machine_busy() - busy) / seconds
        finally:
            for process in processes:
                process.join(timeout=60)
                if process.is_alive():
                    process.kill()
        events = (setup.recorder.max_notification_id() or 0) - before
        return seconds, sum(c for _, c, _ in ended), sum(t for _, _, t in ended), events, busy
    finally:
        setup.close()


PROFILE_GROUPS = (
    ("applying facts (domain, identity map, events)", "conversations.py", "_apply"),
    ("  loading: the batch's small aggregates, one query", "conversations.py", "_load_many"),
    ("saving: Conversations._save", "conversations.py", "_save"),
    ("  collect_events", "domain.py", "collect_events"),
    ("  mapper: domain event → stored event", "persistence.py", "to_stored_event"),
    ("    transcoder: orjson encode (event_json)", "event_json.py", "encode"),
    ("  recorder: insert_events (lock, INSERT, commit)", "postgres.py", "insert_events"),
    ("    psycopg: dump the four binary arrays", "array.py", "dump"),
    ("  snapshots", "application.py", "_take_snapshots"),
)


def profile_session(server: Server, variant: Variant, facts: Facts) -> list[tuple[str, float]]:
    """Cumulative seconds per part of one profiled run of `variant` (cProfile inflates Python
    time, so read the shares, not the totals)."""
    app = variant.app_class(store_env(server.fresh_database(), variant.env))
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        seconds = record(app, facts(), variant.batch_size).seconds
        profiler.disable()
    finally:
        app.close()
    cumulative: dict[tuple[str, str], float] = {}
    for (filename, _, function), entry in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        key = (Path(filename).name, function)
        cumulative[key] = max(cumulative.get(key, 0.0), entry[3])
    parts = [(label, cumulative.get((file, func), 0.0)) for label, file, func in PROFILE_GROUPS]
    return [("total (profiled)", seconds), *parts]


def run_append_benchmark(
    workdir: Path,
    *,
    messages: int,
    customers: int,
    numbers: int,
    batch_size: int,
    repeats: int,
    variants: Sequence[Variant],
    writers: Sequence[int] = (1, 2),
    profile: bool,
) -> AppendFigures:
    def facts() -> Iterator[InboundMessage]:
        return inbound_facts(messages, customers, numbers)

    batched = Variant(f"(a) batched record_facts, {batch_size} facts/txn", batch_size)
    plain = Variant("(b) plain: record_facts([fact]), one save/txn per message", 1)
    defaults = Variant("    (a) with the collector's defaults", batch_size, settled=False)
    library_json = Variant(
        "    (a) with the library's JSON encoder",
        batch_size,
        env={"TRANSCODER_TOPIC": "eventsourcing.persistence:JSONTranscoder"},
    )
    with ExitStack() as stack:
        server = Server(stack.enter_context(EmbeddedPostgres(workdir / "append-postgres")))
        warm_up = Conversations(store_env(server.fresh_database(), {}))
        record(warm_up, islice(facts(), 2000), batch_size)
        warm_up.close()
        stack.callback(gc.set_threshold, *gc.get_threshold())  # restored after, unfrozen first
        stack.callback(gc.unfreeze)
        settle_after_start()  # as every service has it once started
        session = measure_sessions(
            server, [batched, plain, defaults, library_json, *variants], facts, repeats
        )
        a = session[0]
        rows = measure_once(server, batched, facts, Measured(batched.name), keep_rows=True)
        raw = [
            measure_raw(server, "(c) raw COPY BINARY", copy_rows, rows, a.transactions, repeats),
            measure_raw(
                server, "(c) raw executemany INSERT", insert_rows, rows, a.transactions, repeats
            ),
        ]
        del rows  # not held while the rest is measured (each full collection would walk it)
        partitioned = measure_partitioned(
            server,
            writers,
            messages=messages,
            customers=customers,
            numbers=numbers,
            batch_size=batch_size,
            repeats=repeats,
        )
        breakdown = profile_session(server, batched, facts) if profile else []
        return AppendFigures(
            server_settings=server.settings(),
            messages=messages,
            customers=customers,
            session=session,
            partitioned=partitioned,
            raw=raw,
            profile=breakdown,
        )


# Batch sizes measured beside (a) ---------------------------------------------------------
# (The other options once measured here — no deepcopy from the cache, the array recorder,
# misses fetched once per batch, a save without protocol checks — are now the session's own
# code; their history is in docs/benchmarks.md.)


def option_variants(batch_size: int) -> list[Variant]:
    return [
        Variant("    batch of 64 facts", 64),
        Variant("    batch of 1024 facts", 1024),
    ]
