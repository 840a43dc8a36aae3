"""Leases on a NATS key-value bucket: which instance of a service does which duty.

A service that runs as several instances but has duties only one of them may do at a time
(the session: each partition of its facts, and the outbox relay) keeps one lease per duty in
a bucket whose entries expire after `LeaseSettings.seconds`. Each instance, every third of
that:

1. says it is alive (its entry in the `members` key, rewritten by compare-and-set);
2. renews the leases it holds, each with the revision it last wrote (compare-and-set), so a
   lease another instance took over is noticed, and its duty stopped, at the next round;
3. counts the live instances, and gives up what it holds beyond its fair share
   (`ceil(duties / instances)`), stopping each duty *before* its lease is deleted;
4. takes free leases (`create`: only when nobody holds one) up to its share, starting each
   duty *after* its lease is written.

An instance that stops releases its leases at once; one that dies loses them when they expire,
and another takes its duties over at its next round. An instance cut off from NATS stops a
duty once its lease would have expired (it cannot know whether another took it). Two holders
of one duty can therefore only overlap while a stalled instance has not yet noticed: what
the session's duties do is safe then too (the event store's optimistic concurrency, the
relay's `Nats-Expected-Last-Msg-Id`), only not in the order one holder would keep.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from prometheus_client import Gauge

from threadline.messaging.failures import describe
from threadline.servicekit.ops_http import ReadinessCheck

log = logging.getLogger(__name__)

LEASES_HELD = Gauge(
    "threadline_leases_held",
    "Duties this instance holds the lease of (the session: its partitions, each with its"
    " relay, and the auto-resolver).",
    ["bucket"],
)

MEMBERS = "members"  # holder → when it was last seen (its clock's time)
MEMBER_RACES = 5  # compare-and-set attempts on `members` a round

# Starts a duty's loops on the exit stack it is given; closing that stack stops the duty.
StartDuty = Callable[[AsyncExitStack], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    """A lease not renewed for `seconds` is free; holders renew every third of that."""

    seconds: float = 6.0

    @property
    def renew_every(self) -> float:
        return self.seconds / 3


def holder_id(listening: str = "") -> str:
    """This process's name in the bucket. `listening`: what it has bound that no other live
    process on this host can (its gRPC port): then the name is the host and that, so a
    process restarted in place (a container restarted, a killed process started again)
    finds its leases its own and carries on at once instead of waiting for them to expire.
    Without it: the host, the process id and a random part (never taken for another's)."""
    host = re.sub(r"[^-_a-zA-Z0-9]", "_", socket.gethostname())[:40] or "host"
    if listening:
        return f"{host}-{re.sub(r'[^-_a-zA-Z0-9]', '_', listening)}"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass
class _Held:
    revision: int
    renewed_at: float  # monotonic
    stack: AsyncExitStack


@dataclass
class LeaseKeeper:
    """Holds this instance's fair share of `duties` (name → how to start it) in `bucket`."""

    bucket: KeyValue
    duties: Mapping[str, StartDuty]
    label: str  # the bucket's name, for the gauge
    holder: str = field(default_factory=holder_id)
    settings: LeaseSettings = field(default_factory=LeaseSettings)
    _held: dict[str, _Held] = field(default_factory=dict, init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    rounds: int = field(default=0, init=False)
    members: int = field(default=1, init=False)

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Keep the leases until `stop()`, then stop every duty and release its lease."""
        try:
            while not self._stopping.is_set():
                try:
                    await self.keep()
                except Exception as error:
                    log.warning("keeping leases failed (%s); trying again", describe(error))
                    await self._expire_unrenewed()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.settings.renew_every)
        finally:
            await self.release_all()

    async def keep(self) -> None:
        """One round: heartbeat, renew, give up the excess, take free duties."""
        self.members = await self._heartbeat()
        for name in sorted(self._held):
            await self._renew(name)
        share = math.ceil(len(self.duties) / self.members)
        excess = sorted(self._held, key=_duty_order, reverse=True)[
            : max(0, len(self._held) - share)
        ]
        for name in excess:
            await self._release(name)
        if len(self._held) < share:
            for name in self._free_order():
                if len(self._held) >= share:
                    break
                await self._try_take(name)
        if self.rounds == 0:
            await self._drop_leftovers()
        self.rounds += 1
        LEASES_HELD.labels(self.label).set(len(self._held))

    def check(self) -> ReadinessCheck:
        """Ready once the first round has run (until then this instance holds nothing yet)."""

        async def check() -> str | None:
            return None if self.rounds else "no round of leases kept yet"

        return check

    async def release_all(self) -> None:
        for name in sorted(self._held):
            await self._release(name)
        with contextlib.suppress(Exception):
            await self._change_members(leaving=True)
        LEASES_HELD.labels(self.label).set(0)

    async def _heartbeat(self) -> int:
        """Say this instance is alive; how many are (itself included)."""
        return max(1, await self._change_members(leaving=False))

    async def _change_members(self, *, leaving: bool) -> int:
        """Rewrite the `members` key (holder → when last seen, by its own clock) by
        compare-and-set: this holder's time now (or its entry gone), and anyone not seen for
        twice the lease time left out. One key read and written a round, and no consumer made
        on the server, unlike listing the bucket's keys."""
        members: dict[str, float] = {}
        for _ in range(MEMBER_RACES):
            try:
                entry = await self.bucket.get(MEMBERS)
                members, revision = _members(entry.value), entry.revision or 0
            except KeyNotFoundError:
                members, revision = {}, 0
            now = time.time()
            members = {
                holder: seen
                for holder, seen in members.items()
                if holder != self.holder and now - seen < self.settings.seconds * 2
            }
            if not leaving:
                members[self.holder] = now
            value = json.dumps(members).encode()
            try:
                if revision:
                    await self.bucket.update(MEMBERS, value, last=revision)
                else:
                    await self.bucket.create(MEMBERS, value)
                return len(members)
            except KeyWrongLastSequenceError:
                continue  # another instance wrote it meanwhile: read it again
        return len(members)

    def _free_order(self) -> list[str]:
        """The duties not held here, starting at a place of this holder's own, so that
        instances starting together do not all reach for the same lease first."""
        names = sorted((n for n in self.duties if n not in self._held), key=_duty_order)
        if not names:
            return names
        start = sum(self.holder.encode()) % len(names)
        return names[start:] + names[:start]

    async def _renew(self, name: str) -> None:
        held = self._held[name]
        try:
            held.revision = await self.bucket.update(
                _key(name), self.holder.encode(), last=held.revision
            )
            held.renewed_at = time.monotonic()
        except KeyWrongLastSequenceError:
            log.warning("lease %s was taken over by another instance: stopping it here", name)
            await self._stop_duty(name)
        except Exception as error:
            log.warning("lease %s not renewed (%s)", name, describe(error))
            await self._expire_unrenewed()

    async def _expire_unrenewed(self) -> None:
        """Stop every duty whose lease may have expired meanwhile (NATS did not answer)."""
        deadline = time.monotonic() - self.settings.seconds * 0.8
        for name, held in list(self._held.items()):
            if held.renewed_at < deadline:
                log.warning("lease %s could not be renewed in time: stopping it here", name)
                await self._stop_duty(name)

    async def _try_take(self, name: str) -> None:
        revision: int | None
        try:
            revision = await self.bucket.create(_key(name), self.holder.encode())
        except KeyWrongLastSequenceError:
            revision = await self._own_lease(name)
        if revision is None:
            return  # held by another instance
        stack = AsyncExitStack()
        self._held[name] = _Held(revision, time.monotonic(), stack)
        try:
            await self.duties[name](stack)
        except Exception:
            log.exception("duty %s failed to start; releasing its lease", name)
            await self._release(name)
            return
        log.info("%s holds the lease of %s", self.holder, name)

    async def _own_lease(self, name: str) -> int | None:
        """The revision of a lease this holder's name already holds (this process restarted
        in place: the one that wrote it is gone), taken over; None when another holds it."""
        try:
            entry = await self.bucket.get(_key(name))
        except KeyNotFoundError:
            return None
        if entry.value != self.holder.encode() or not entry.revision:
            return None
        try:
            return await self.bucket.update(_key(name), self.holder.encode(), last=entry.revision)
        except KeyWrongLastSequenceError:
            return None

    async def _drop_leftovers(self) -> None:
        """Leases still in this holder's name that it did not take back (beyond its share,
        restarted in place): deleted now, for others to take at once rather than when they
        expire."""
        for name in self.duties:
            if name in self._held:
                continue
            try:
                entry = await self.bucket.get(_key(name))
            except KeyNotFoundError:
                continue
            if entry.value == self.holder.encode() and entry.revision:
                with contextlib.suppress(KeyWrongLastSequenceError):
                    await self.bucket.delete(_key(name), last=entry.revision)

    async def _release(self, name: str) -> None:
        held = self._held.get(name)
        if held is None:
            return
        await self._stop_duty(name)
        with contextlib.suppress(Exception):
            await self.bucket.delete(_key(name), last=held.revision)
        log.info("%s released the lease of %s", self.holder, name)

    async def _stop_duty(self, name: str) -> None:
        held = self._held.pop(name)
        try:
            await held.stack.aclose()
        except Exception:
            log.exception("duty %s failed while stopping", name)


def _members(value: bytes | None) -> dict[str, float]:
    """The `members` key's value; what is not a map of names to times counts as nobody (the
    next write replaces it)."""
    try:
        found = json.loads(value or b"{}")
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {
        str(holder): float(seen)
        for holder, seen in found.items()
        if isinstance(seen, int | float) and not isinstance(seen, bool)
    }


def _key(name: str) -> str:
    return f"lease.{name}"


def _duty_order(name: str) -> tuple[str, int]:
    """`partition-10` after `partition-9`."""
    head, _, number = name.rpartition("-")
    return (head, int(number)) if number.isdigit() else (name, -1)
