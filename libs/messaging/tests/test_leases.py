"""Leases on real NATS: a lone instance holds every duty; a second one takes half of them, each
duty running in exactly one of the two; one that stops hands its duties over at once, one that
dies hands them over when its leases expire; a lease taken over is noticed and its duty stopped."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from threadline.messaging.key_value import open_bucket
from threadline.messaging.leases import LeaseKeeper, LeaseSettings, StartDuty, holder_id
from threadline.testing import eventually

SECONDS = 1.5
DUTIES = frozenset({"relay", "partition-0", "partition-1", "partition-2", "partition-3"})


class Running:
    """Which duties run where: started on a stack, stopped when it closes."""

    def __init__(self) -> None:
        self.where: dict[str, list[str]] = {name: [] for name in DUTIES}
        self.started = Counter[str]()

    def table(self, holder: str) -> dict[str, StartDuty]:
        def start(name: str) -> StartDuty:
            async def run(stack: AsyncExitStack) -> None:
                self.where[name].append(holder)
                self.started[name] += 1
                stack.callback(self.where[name].remove, holder)

            return run

        return {name: start(name) for name in DUTIES}

    def holders(self) -> dict[str, list[str]]:
        return {name: list(where) for name, where in self.where.items()}


async def bucket(js: JetStreamContext, namespace: str) -> KeyValue:
    return await open_bucket(
        js, "leases", namespace=namespace, keep_for=timedelta(seconds=SECONDS), description="t"
    )


def keeper(kv: KeyValue, running: Running, holder: str) -> LeaseKeeper:
    return LeaseKeeper(
        kv, running.table(holder), label="t", holder=holder, settings=LeaseSettings(SECONDS)
    )


async def test_one_instance_holds_every_duty_and_releases_them_when_it_stops(
    js: JetStreamContext, nats_namespace: str
) -> None:
    kv = await bucket(js, nats_namespace)
    running = Running()
    alone = keeper(kv, running, "a")

    await alone.keep()

    assert running.holders() == {name: ["a"] for name in DUTIES}
    await alone.release_all()
    assert running.holders() == {name: [] for name in DUTIES}
    for key in ("lease.relay", "lease.partition-3"):
        with pytest.raises(KeyNotFoundError):
            await kv.get(key)
    assert (await kv.get("members")).value == b"{}"


async def test_two_instances_share_the_duties_each_running_in_exactly_one(
    js: JetStreamContext, nats_namespace: str
) -> None:
    kv = await bucket(js, nats_namespace)
    running = Running()
    first, second = keeper(kv, running, "a"), keeper(kv, running, "b")
    tasks = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
    try:

        def shared() -> bool:
            where = running.holders()
            counts = Counter(holder for holders in where.values() for holder in holders)
            return all(len(h) == 1 for h in where.values()) and sorted(counts.values()) == [2, 3]

        await eventually(shared, timeout=15)
        # Stable: nothing moves once shared (every duty started once more at most: the first
        # instance held all of them, then gave two or three up).
        await asyncio.sleep(SECONDS * 2)
        assert shared()
        assert sum(running.started.values()) <= len(DUTIES) + 3

        # One stops: it releases at once, and the other takes everything at its next round.
        first.stop()
        await tasks[0]
        await eventually(
            lambda: running.holders() == {name: ["b"] for name in DUTIES}, timeout=SECONDS * 3
        )
    finally:
        second.stop()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_dead_instance_s_duties_pass_on_when_its_leases_expire(
    js: JetStreamContext, nats_namespace: str
) -> None:
    kv = await bucket(js, nats_namespace)
    running = Running()
    dead = keeper(kv, running, "dead")
    await dead.keep()  # takes everything, then never renews (as if killed)
    survivor = keeper(kv, running, "b")

    await survivor.keep()
    assert survivor.held == frozenset()  # the leases are still valid

    # Its leases expire (the bucket's age limit), and it is no longer counted a member once
    # unseen for twice the lease time.
    await asyncio.sleep(SECONDS * 2 + 1)
    await survivor.keep()
    assert survivor.held == frozenset(DUTIES)


async def test_a_lease_taken_over_is_noticed_and_its_duty_stopped_here(
    js: JetStreamContext, nats_namespace: str
) -> None:
    kv = await bucket(js, nats_namespace)
    running = Running()
    stalled = keeper(kv, running, "stalled")
    await stalled.keep()
    # Another instance found the lease of partition-2 free (it expired while this one stalled)
    # and wrote its own.
    await kv.put("lease.partition-2", b"other")

    await stalled.keep()

    assert "partition-2" not in stalled.held
    assert running.holders()["partition-2"] == []
    assert (await kv.get("lease.partition-2")).value == b"other"
    await stalled.release_all()
    assert (await kv.get("lease.partition-2")).value == b"other"  # not released by the loser


async def test_a_process_restarted_in_place_carries_on_with_its_own_leases_at_once(
    js: JetStreamContext, nats_namespace: str
) -> None:
    """Named by what it listens on, a killed process started again finds its leases its own
    (no wait for them to expire); another name still waits."""
    kv = await bucket(js, nats_namespace)
    running = Running()
    killed = keeper(kv, running, holder_id("grpc50051"))
    await killed.keep()  # then killed: its duties' stacks are never closed
    running.where = {name: [] for name in DUTIES}

    stranger = keeper(kv, running, holder_id("grpc50052"))
    await stranger.keep()
    restarted = keeper(kv, running, holder_id("grpc50051"))
    await restarted.keep()

    # Its fair share of two at once; what it held beyond that is let go at once, not when
    # it would have expired, and the other takes it at its next round.
    assert stranger.held == frozenset()
    assert len(restarted.held) == 3
    await stranger.keep()
    assert stranger.held == DUTIES - restarted.held
    assert all(len(holders) == 1 for holders in running.holders().values())


async def test_a_members_key_that_is_not_a_map_of_times_counts_as_nobody(
    js: JetStreamContext, nats_namespace: str
) -> None:
    kv = await bucket(js, nats_namespace)
    running = Running()
    await kv.put("members", b'{"ghost": "yesterday", "other": true, "x": [1]}')
    alone = keeper(kv, running, "a")

    await alone.keep()
    await kv.put("members", b"\xff not json")
    await alone.keep()

    assert alone.members == 1 and alone.held == DUTIES
