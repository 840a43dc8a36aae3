"""Every business number and assistant, read from the session's events into the process's
`Directory` (the topology's `FOLLOWERS`): an ordered consumer per filter, from the start of
SESSION_EVENTS every time the process starts, kept up to date while it runs.

Ready once each follower has read what the stream held when it subscribed: until then a number's
assistant may not be known yet, so the responder waits (`caught_up`) before it answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from threadline.ai_responder.domain.customer_data import collect_fields_from_json
from threadline.ai_responder.domain.directory import AssistantSettings, Directory
from threadline.ai_responder.domain.http_tools import http_tools_from_json
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.topology import FOLLOWERS, TOKEN_FOLLOWERS, Topology
from threadline.servicekit.ops_http import ReadinessCheck

log = logging.getLogger(__name__)

SERVICE = "ai_responder"
HEARTBEAT_SECONDS = 5.0
# The server removes a follower whose process is gone (SIGKILLed, its connection lost) after
# this long without interest, so dead followers do not pile up on the stream.
INACTIVE_SECONDS = 30.0


class DirectoryFollower:
    def __init__(self, js: JetStreamContext, topology: Topology, directory: Directory) -> None:
        self._js, self._topology, self._directory = js, topology, directory
        self._followers = [
            f for f in FOLLOWERS if f.service == SERVICE and f not in TOKEN_FOLLOWERS
        ]
        self._subscriptions: list[JetStreamContext.PushSubscription] = []
        # Per filter: how many messages make it caught up (known once subscribed), how many
        # were read, and the filters caught up.
        self._target: dict[str, int] = {}
        self._read_count: dict[str, int] = {}
        self._done: set[str] = set()
        self._caught_up = asyncio.Event()

    async def start(self) -> None:
        """Subscribe every follower of this service, from the first event."""
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
                log.debug("could not unsubscribe a directory follower: %s", error)

    async def caught_up(self, timeout: timedelta) -> bool:
        """Wait until the directory holds what the stream held at start (False after
        `timeout`)."""
        try:
            await asyncio.wait_for(self._caught_up.wait(), timeout.total_seconds())
        except TimeoutError:
            return False
        return True

    def check(self) -> ReadinessCheck:
        """Ready once caught up: until then a number's assistant may be unknown."""

        async def check() -> str | None:
            if self._caught_up.is_set():
                return None
            return "still reading business numbers and assistants from SESSION_EVENTS"

        return check

    def _reader(self, subject: str) -> Callable[[Msg], Awaitable[None]]:
        async def read(message: Msg) -> None:
            try:
                apply(self._directory, SessionEvent.FromString(message.data))
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
            log.info("directory caught up: %d assistants", len(self._directory.assistants()))
            self._caught_up.set()


def apply(directory: Directory, event: SessionEvent) -> None:
    """What one of the session's events says about numbers and assistants."""
    body = event.WhichOneof("body")
    number_id = event.aggregate_id
    if body == "business_number_registered":
        directory.number_registered(number_id, event.business_number_registered.phone_number_id)
    elif body == "autopilot_set":
        directory.autopilot_set(number_id, event.autopilot_set.enabled)
    elif body == "assistant_assigned":
        assigned = event.assistant_assigned
        directory.assistant_assigned(number_id, assigned.phone_number_id, assigned.assistant)
    elif body == "flow_configured":
        configured_flow = event.flow_configured
        directory.flows.flow_configured(configured_flow.version, configured_flow.definition_json)
    elif body == "assistant_configured":
        configured = event.assistant_configured
        directory.assistant_configured(
            AssistantSettings(
                name=configured.name,
                version=configured.version,
                model=configured.model,
                system_prompt=configured.system_prompt,
                language=configured.language,
                reply_delay=timedelta(seconds=max(0.0, configured.reply_delay_seconds)),
                max_context_tokens=(
                    configured.max_context_tokens or directory.default.max_context_tokens
                ),
                tools=tuple(configured.tools),
                http_tools=http_tools_from_json(configured.http_tools_json),
                knowledge_bases=tuple(configured.knowledge_bases),
                collect_fields=collect_fields_from_json(configured.collect_fields_json),
            )
        )
