"""Reading some of the session's events into a process's memory, the same way everywhere: an
ordered consumer per filter (the topology's `FOLLOWERS` entries), from the start of
SESSION_EVENTS every time the process starts, kept up to date while it runs. The AI responder
follows business numbers, assistants and flows (`Directory`); every service that checks bearer
tokens follows the managed API tokens (`token_follower`).

Ready once each filter has read what the stream held when it subscribed: until then what it
holds may be incomplete, so `/readyz` says so and callers may wait (`caught_up`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.topology import Follower, Topology
from threadline.servicekit.ops_http import ReadinessCheck

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
# The server removes a follower whose process is gone (SIGKILLed, its connection lost) after
# this long without interest, so dead followers do not pile up on the stream.
INACTIVE_SECONDS = 30.0


class SessionEventsFollower:
    """Hands every event matching `followers` to `apply`, in stream order per filter; one
    event that cannot be read or applied is logged and passed over, never stops the rest."""

    def __init__(
        self,
        js: JetStreamContext,
        topology: Topology,
        followers: Sequence[Follower],
        apply: Callable[[SessionEvent], None],
        *,
        what: str,
        held: Callable[[], str] = lambda: "",
    ) -> None:
        """`what` names what is read ("the managed API tokens"), `held` says how much is held
        once caught up ("3 valid"), both for the logs and `/readyz`."""
        self._js, self._topology = js, topology
        self._followers, self._apply = list(followers), apply
        self._what, self._held = what, held
        self._subscriptions: list[JetStreamContext.PushSubscription] = []
        # Per filter: how many messages make it caught up (known once subscribed), how many
        # were read, and the filters caught up.
        self._target: dict[str, int] = {}
        self._read_count: dict[str, int] = {}
        self._done: set[str] = set()
        self._caught_up = asyncio.Event()

    async def start(self) -> None:
        """Subscribe every filter, from the first event."""
        for follower in self._followers:
            subject = self._topology.filter_subject(follower)
            self._read_count[subject] = 0
            subscription = await self._js.subscribe(
                subject,
                stream=self._topology.stream(follower.stream),
                cb=self._reader(subject),
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
                idle_heartbeat=HEARTBEAT_SECONDS,
                inactive_threshold=INACTIVE_SECONDS,
            )
            self._subscriptions.append(subscription)
            info = await subscription.consumer_info()
            # Caught up after what was delivered before we asked and what was still to come.
            delivered = info.delivered.consumer_seq if info.delivered else 0
            self._target[subject] = (info.num_pending or 0) + (delivered or 0)
            self._check(subject)

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            try:
                await subscription.unsubscribe()
            except Exception as error:  # the connection may be closing already
                log.debug("could not unsubscribe from %s: %s", self._what, error)

    async def caught_up(self, timeout: timedelta) -> bool:
        """Wait until what is held is what the stream held at start (False after
        `timeout`)."""
        try:
            await asyncio.wait_for(self._caught_up.wait(), timeout.total_seconds())
        except TimeoutError:
            return False
        return True

    def check(self) -> ReadinessCheck:
        """Ready once caught up."""

        async def check() -> str | None:
            if self._caught_up.is_set():
                return None
            return f"still reading {self._what} from SESSION_EVENTS"

        return check

    def _reader(self, subject: str) -> Callable[[Msg], Awaitable[None]]:
        async def read(message: Msg) -> None:
            try:
                self._apply(SessionEvent.FromString(message.data))
            except Exception as error:  # one unreadable event must not stop the others
                log.warning("skipping an unreadable event on %s: %s", message.subject, error)
            self._read_count[subject] += 1
            if message.metadata.num_pending == 0:
                self._done.add(subject)
            self._check(subject)

        return read

    def _check(self, subject: str) -> None:
        target = self._target.get(subject)
        if target is not None and self._read_count[subject] >= target:
            self._done.add(subject)
        if len(self._done) == len(self._followers) and not self._caught_up.is_set():
            log.info("%s caught up: %s", self._what, self._held())
            self._caught_up.set()
