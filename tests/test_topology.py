"""The topology table (`threadline.messaging.topology`) against the running platform: the durable
consumers the services actually made on the NATS server are exactly `DURABLES`, and every
subject that flowed on the streams during an end-to-end exchange is one of `ROUTES`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_end_to_end import customer_writes
from threadline.messaging.consumer import filters_several
from threadline.messaging.topology import (
    DURABLES,
    FOLLOWERS,
    HAND_OFF_REQUESTED,
    INBOUND_MESSAGE_RECEIVED,
    MESSAGE_DISPATCHED,
    MESSAGE_STATUS_REPORTED,
    RAW_WEBHOOK,
    REPLY_DRAFTED,
    ROUTES,
    SESSION_EVENT,
    STREAM_LIMITS,
    WEBHOOK_ERROR_REPORTED,
    Route,
    Topology,
)
from threadline.sandbox.signing import sign
from threadline.testing import eventually, unique_id
from threadline.testing.samples import webhook_sample
from threadline.testing.subjects import subject_matches

# (durable name, stream, filter subject)
Consumer = tuple[str, str, str]


@asynccontextmanager
async def jetstream(url: str) -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(url)
    try:
        yield client.jetstream()
    finally:
        await client.close()


async def durables_on_server(js: JetStreamContext, topology: Topology) -> set[Consumer]:
    """Every durable consumer on the platform's streams, with the subject it filters on (a
    consumer without a filter takes the whole stream: `<root>.>`)."""
    found: set[Consumer] = set()
    for name in STREAM_LIMITS:
        stream = topology.stream(name)
        try:
            consumers = await js.consumers_info(stream)
        except NotFoundError:
            continue
        for info in consumers:
            config = info.config
            filters = list(config.filter_subjects or []) or [
                config.filter_subject or f"{topology.root(name)}.>"
            ]
            found |= {(config.durable_name or "", stream, f) for f in filters}
    return found


async def subjects_on_streams(js: JetStreamContext, topology: Topology) -> list[tuple[str, str]]:
    """(stream, subject) of every message the platform's streams hold."""
    seen: list[tuple[str, str]] = []
    for name in STREAM_LIMITS:
        stream = topology.stream(name)
        state = (await js.stream_info(stream)).state
        if not state.messages:
            continue
        for sequence in range(state.first_seq, state.last_seq + 1):
            message = await js.get_msg(stream, sequence)
            seen.append((stream, message.subject or ""))
    return seen


def route_of(topology: Topology, stream: str, subject: str) -> Route | None:
    for route in ROUTES:
        if topology.stream(route.stream) == stream and subject_matches(
            topology.route_filter(route), subject
        ):
            return route
    return None


async def webhook_error_arrives(platform: Platform) -> None:
    body = webhook_sample("errors", "rate_limited")
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = PHONE_NUMBER_ID
    raw = json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(raw, platform.app_secret),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(platform.webhook_url, data=raw, headers=headers) as response,
    ):
        assert response.status == 200, await response.text()


async def test_the_durable_consumers_on_the_server_are_those_of_the_table(
    platform: Platform, nats_server_url: str, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)

    async with jetstream(nats_server_url) as js:
        # Bound to the subjects they need on NATS 2.10+, to their one filter before.
        several = filters_several(js)
        expected = {
            (d.name, topology.stream(d.stream), subject)
            for d in DURABLES
            for subject in topology.filter_subjects(d, several=several)
        }
        # Ordered consumers have no durable name (one per process of their service).
        expected |= {("", topology.stream(f.stream), topology.filter_subject(f)) for f in FOLLOWERS}

        # Each service makes its consumers as it starts; the last ones may still be on their way.
        async def all_made() -> bool:
            return {name for name, _, _ in await durables_on_server(js, topology)} >= {
                d.name for d in DURABLES
            }

        await eventually(all_made, timeout=20)
        found = await durables_on_server(js, topology)

    assert found == expected


async def test_every_subject_of_an_end_to_end_exchange_is_a_route_of_the_table(
    platform: Platform, nats_server_url: str, nats_namespace: str
) -> None:
    topology = Topology(nats_namespace)
    wa_id = "1555" + str(int(unique_id(), 16) % 10**7).zfill(7)

    await customer_writes(platform, wa_id, "Hello! Do you deliver on Saturdays?")
    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=20)
    await customer_writes(platform, wa_id, "I want to speak to a person, please")
    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 2, timeout=20)
    await webhook_error_arrives(platform)
    await platform.sandbox.wait_for_statuses()

    async with jetstream(nats_server_url) as js:

        async def settled() -> bool:
            for durable in DURABLES:
                info = await js.consumer_info(topology.stream(durable.stream), durable.name)
                if (info.num_pending, info.num_ack_pending) != (0, 0):
                    return False
            seen = {
                route_of(topology, *flowed) for flowed in await subjects_on_streams(js, topology)
            }
            return HAND_OFF_REQUESTED in seen and MESSAGE_STATUS_REPORTED in seen

        await eventually(settled, timeout=30)
        flowed = await subjects_on_streams(js, topology)

    assert [
        (stream, subject) for stream, subject in flowed if not route_of(topology, stream, subject)
    ] == []
    assert {route_of(topology, *f) for f in flowed} >= {
        RAW_WEBHOOK,
        INBOUND_MESSAGE_RECEIVED,
        MESSAGE_STATUS_REPORTED,
        WEBHOOK_ERROR_REPORTED,
        SESSION_EVENT,
        REPLY_DRAFTED,
        HAND_OFF_REQUESTED,
        MESSAGE_DISPATCHED,
    }
