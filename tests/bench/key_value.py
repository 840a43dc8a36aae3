"""Benchmark 10: reading the services' key-value buckets (the AI responder's views, bursts and
flow states; outbound's sent ledger; the gateway's idempotency keys), two ways in the same run,
alternating, on an embedded NATS:

  direct      as `open_bucket` opens a bucket now: a get is a direct get
              (`$JS.API.DIRECT.GET.<stream>.<subject>`), answered with the stored message;
  stream API  as before: `$JS.API.STREAM.MSG.GET.<stream>`, answered in JSON with the value
              and headers in base64 for the client to decode.

Each way: `--kv-gets` gets of 100 keys holding a conversation view's size (600 bytes), 16 at a
time as a busy AI responder asks, then as many `change_value`s (a get and a compare-and-set,
as every change of a view or burst is); the rate, this process's CPU a call (nats-py's
client) and the NATS server's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from tests.bench.cpu import cpu_seconds
from threadline.cli.embedded import EmbeddedNats
from threadline.messaging.key_value import change_value, open_bucket

WAYS = ("direct", "stream API")
BUCKETS = {"direct": "kv_bench_direct", "stream API": "kv_bench_api"}
KEYS = 100
VALUE = b"v" * 600
IN_FLIGHT = 16


@dataclass(frozen=True, slots=True)
class KeyValueCost:
    way: str
    operation: str  # "get" or "change"
    calls: int
    seconds: float
    client_cpu: float
    nats_cpu: float

    @property
    def per_s(self) -> float:
        return self.calls / self.seconds


def run_key_value_benchmark(workdir: Path, *, gets: int, repeats: int) -> list[KeyValueCost]:
    with EmbeddedNats(workdir / "nats") as server:
        assert server.pid is not None
        return asyncio.run(_runs(server.url, server.pid, gets, repeats))


async def _runs(nats_url: str, nats_pid: int, calls: int, repeats: int) -> list[KeyValueCost]:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        buckets = {way: await _bucket(js, way) for way in WAYS}
        for way in WAYS:
            direct = (await js.stream_info(f"KV_{BUCKETS[way]}")).config.allow_direct
            if bool(direct) != (way == "direct"):
                raise SystemExit(f"the {way} bucket has allow_direct={direct}")
        for bucket in buckets.values():
            for k in range(KEYS):
                await bucket.put(f"view.{k}", VALUE)
        costs = []
        for run in range(repeats):
            for way in WAYS if run % 2 == 0 else WAYS[::-1]:
                bucket = buckets[way]

                async def get(k: int, bucket: KeyValue = bucket) -> None:
                    await bucket.get(f"view.{k % KEYS}")

                async def change(k: int, bucket: KeyValue = bucket) -> None:
                    await change_value(
                        bucket, f"view.{k % KEYS}", lambda v: (v or b"")[-600:] + b"!"
                    )

                costs.append(await _timed(way, "get", get, calls, nats_pid))
                costs.append(await _timed(way, "change", change, calls // 2, nats_pid))
        for way, bucket in buckets.items():
            keys = range(min(KEYS, calls // 2))  # the keys every run changed
            changed = [(await bucket.get(f"view.{k}")).value or b"" for k in keys]
            if not all(value.endswith(b"!") for value in changed):
                raise SystemExit(f"the {way} bucket's changes were not all written")
        return costs
    finally:
        await client.close()


async def _bucket(js: JetStreamContext, way: str) -> KeyValue:
    if way == "direct":
        return await open_bucket(js, BUCKETS[way], keep_for=None, description="bench")
    return await js.create_key_value(
        KeyValueConfig(bucket=BUCKETS[way], history=1, storage=StorageType.FILE)
    )


async def _timed(
    way: str, operation: str, call: Callable[[int], Awaitable[None]], calls: int, nats_pid: int
) -> KeyValueCost:
    async def one_at_a_time(start: int) -> None:
        for k in range(start, calls, IN_FLIGHT):
            await call(k)

    started, cpu, nats_cpu = time.perf_counter(), time.process_time(), cpu_seconds(nats_pid)
    await asyncio.gather(*(one_at_a_time(j) for j in range(IN_FLIGHT)))
    return KeyValueCost(
        way,
        operation,
        calls,
        seconds=time.perf_counter() - started,
        client_cpu=time.process_time() - cpu,
        nats_cpu=cpu_seconds(nats_pid) - nats_cpu,
    )


def print_key_value(costs: list[KeyValueCost]) -> None:
    print("\nBenchmark 10 — key-value buckets: direct gets against the stream API's")
    print(f"  {KEYS} keys of {len(VALUE)} bytes, {IN_FLIGHT} calls in flight")
    print(f"  {'way':<11} {'call':<7} {'calls':>7} {'calls/s':>8}   CPU µs a call: client  NATS")
    for c in costs:
        print(
            f"  {c.way:<11} {c.operation:<7} {c.calls:>7,} {c.per_s:>8,.0f}"
            f"   {1e6 * c.client_cpu / c.calls:>21.1f} {1e6 * c.nats_cpu / c.calls:>5.1f}"
        )
