"""The one table: every stream's limits (configurable through the environment), every
published subject (`ROUTES`) and every durable consumer (`DURABLES`)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from datetime import timedelta

import pytest
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from threadline.messaging.topology import (
    AI_EVENTS,
    AI_RESPONDER_REPLIES,
    DEAD_LETTERS,
    DURABLES,
    FOLLOWERS,
    GATEWAY_WEBHOOKS,
    INBOUND_MESSAGE_RECEIVED,
    INGEST_EVENTS,
    INGEST_RAW,
    MESSAGE_DISPATCHED,
    OUTBOUND_DISPATCH,
    OUTBOUND_EVENTS,
    REPLY_DRAFTED,
    ROUTES,
    SESSION_DISPATCHES,
    SESSION_DRAFTS,
    SESSION_EVENT,
    SESSION_EVENTS,
    SESSION_INGEST,
    STREAM_LIMITS,
    TYPING_INDICATOR_REQUESTED,
    Durable,
    Route,
    StreamLimits,
    Topology,
    UnpartitionedPublish,
    describe,
    durables_of,
    ensure_streams,
    partitions_from_env,
    stream_limits_from_env,
)
from threadline.rules.partitions import conversation_id_in_slot, customer_slot
from threadline.servicekit.config import ConfigError
from threadline.testing.subjects import filters_overlap, subject_matches

MIB = 1024 * 1024


def configs(
    topology: Topology, limits: Mapping[str, StreamLimits] | None = None
) -> dict[str, StreamConfig]:
    return {c.name or "": c for c in topology.stream_configs(limits)}


def test_raw_webhooks_and_dead_letters_are_bounded_by_age_and_bytes() -> None:
    by_name = configs(Topology())
    raw, dead = by_name[INGEST_RAW], by_name[DEAD_LETTERS]

    assert (raw.max_age, raw.max_bytes) == (7 * 24 * 3600, 1024 * MIB)
    assert (dead.max_age, dead.max_bytes) == (30 * 24 * 3600, 256 * MIB)
    assert by_name[SESSION_EVENTS].max_bytes == -1


def test_a_namespace_reserves_no_bytes_unless_told_to() -> None:
    by_name = configs(Topology("t1"))
    told = configs(Topology("t1"), {INGEST_RAW: StreamLimits(max_bytes=MIB)})

    assert by_name[f"t1_{INGEST_RAW}"].max_bytes == -1
    assert by_name[f"t1_{INGEST_RAW}"].max_age == 7 * 24 * 3600
    assert told[f"t1_{INGEST_RAW}"].max_bytes == MIB


def test_the_environment_overrides_the_table() -> None:
    table = stream_limits_from_env(
        {
            "THREADLINE_INGEST_RAW_MAX_BYTES": str(2048 * MIB),
            "THREADLINE_DEAD_LETTERS_MAX_AGE_HOURS": "72",
            "THREADLINE_SESSION_EVENTS_MAX_MSG_SIZE": "524288",
            "THREADLINE_INGEST_RAW_MAX_AGE_HOURS": "0",
        }
    )

    assert table is not None
    assert table[INGEST_RAW] == StreamLimits(max_age=None, max_bytes=2048 * MIB)
    assert table[DEAD_LETTERS] == StreamLimits(max_age=timedelta(hours=72), max_bytes=256 * MIB)
    assert table[SESSION_EVENTS] == StreamLimits(max_msg_size=524288)


def test_the_environment_sets_how_many_copies_a_cluster_keeps_of_every_stream() -> None:
    table = stream_limits_from_env({"THREADLINE_NATS_STREAM_REPLICAS": "3"})

    assert table is not None
    assert {limits.replicas for limits in table.values()} == {3}
    assert table[DEAD_LETTERS].max_bytes == 256 * MIB  # the rest of the table as it was
    assert {c.num_replicas for c in Topology().stream_configs(table)} == {3}
    assert {c.num_replicas for c in Topology().stream_configs()} == {1}


@pytest.mark.parametrize("value", ["0", "6", "three"])
def test_a_replica_count_a_cluster_cannot_have_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="THREADLINE_NATS_STREAM_REPLICAS"):
        stream_limits_from_env({"THREADLINE_NATS_STREAM_REPLICAS": value})


def test_nothing_in_the_environment_leaves_the_table_to_the_topology() -> None:
    assert stream_limits_from_env({"THREADLINE_NATS_URL": "nats://x"}) is None


@pytest.mark.parametrize("value", ["lots", "-1"])
def test_a_malformed_limit_fails_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="THREADLINE_DEAD_LETTERS_MAX_BYTES"):
        stream_limits_from_env({"THREADLINE_DEAD_LETTERS_MAX_BYTES": value})


def test_every_stream_is_in_the_table() -> None:
    assert {c.name for c in Topology().stream_configs()} == set(STREAM_LIMITS)


async def test_the_server_keeps_the_limits_and_lifts_them_again(
    js: JetStreamContext, topology: Topology
) -> None:
    small = {**STREAM_LIMITS, INGEST_RAW: StreamLimits(max_age=timedelta(hours=1), max_bytes=MIB)}
    small[DEAD_LETTERS] = StreamLimits(max_bytes=2 * MIB, max_msg_size=512 * 1024)

    await ensure_streams(js, topology, small)
    raw = (await js.stream_info(topology.stream(INGEST_RAW))).config
    dead = (await js.stream_info(topology.stream(DEAD_LETTERS))).config
    await ensure_streams(js, topology)  # the namespace's defaults: no byte limits
    lifted = (await js.stream_info(topology.stream(DEAD_LETTERS))).config

    assert (raw.max_bytes, raw.max_age) == (MIB, 3600)
    assert (dead.max_bytes, dead.max_msg_size) == (2 * MIB, 512 * 1024)
    assert (lifted.max_bytes, lifted.max_msg_size) == (-1, -1)


# The table of routes and durables ------------------------------------------------------------


def test_a_route_fills_its_tokens_and_matches_any_one_token_per_placeholder() -> None:
    filled = INBOUND_MESSAGE_RECEIVED.fill(partition="3", phone_number_id="1093")
    assert filled == "3.1093.InboundMessageReceived"
    assert INBOUND_MESSAGE_RECEIVED.wildcard == "*.*.InboundMessageReceived"
    assert SESSION_EVENT.fill(aggregate="Conversation", event="Started") == "Conversation.Started"
    assert SESSION_EVENT.wildcard == "*.*"
    assert REPLY_DRAFTED.fill(partition="0") == "0.Conversation.ReplyDrafted"
    assert REPLY_DRAFTED.wildcard == "*.Conversation.ReplyDrafted"
    with pytest.raises(KeyError):
        SESSION_EVENT.fill(aggregate="Conversation")


@pytest.mark.parametrize(("namespace", "prefix"), [("", ""), ("t1", "t1.")])
def test_subjects_are_the_streams_root_then_the_route_under_the_namespace(
    namespace: str, prefix: str
) -> None:
    topology = Topology(namespace)

    assert (
        topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id="1093")
        == f"{prefix}ingest.events.0.1093.InboundMessageReceived"
    )
    assert topology.route_filter(SESSION_EVENT) == f"{prefix}session.events.*.*"
    assert topology.stream_filter(SESSION_EVENTS) == f"{prefix}session.events.>"
    assert topology.filter_subject(SESSION_INGEST) == f"{prefix}ingest.events.>"
    assert topology.filter_subject(AI_RESPONDER_REPLIES) == f"{prefix}session.events.Conversation.>"
    assert topology.dead_letter_subject("ingest", "bad-id") == f"{prefix}dlq.ingest.bad-id"
    assert topology.stream(INGEST_EVENTS) == f"{namespace}_INGEST_EVENTS".lstrip("_")


def example_subject(topology: Topology, route: Route) -> str:
    """A subject of `route` with every token filled by a placeholder value."""
    tokens = re.findall(r"{(\w+)}", route.pattern)
    return topology.publish_subject(route, **{token: f"some-{token}" for token in tokens})


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.pattern)
def test_every_route_lies_in_its_stream_and_its_filter_matches_what_it_publishes(
    route: Route,
) -> None:
    topology = Topology("t1")
    (stream,) = [c for c in topology.stream_configs() if c.name == topology.stream(route.stream)]
    subject = example_subject(topology, route)

    assert [subject_matches(s, subject) for s in stream.subjects or []] == [True]
    assert subject_matches(topology.route_filter(route), subject)


@pytest.mark.parametrize("durable", DURABLES, ids=lambda durable: durable.name)
def test_every_durable_consumes_what_some_route_publishes_on_its_stream(durable: Durable) -> None:
    topology = Topology("t1")
    routes = [topology.route_filter(r) for r in ROUTES if r.stream == durable.stream]

    assert any(filters_overlap(topology.filter_subject(durable), route) for route in routes)


def test_durables_are_named_once_and_found_by_service() -> None:
    assert len({d.name for d in DURABLES}) == len(DURABLES)
    assert durables_of("session") == (SESSION_INGEST, SESSION_DRAFTS, SESSION_DISPATCHES)
    assert durables_of("ai_responder") == (AI_RESPONDER_REPLIES,)
    assert durables_of("nobody") == ()


def test_describe_prints_every_stream_route_and_durable_as_markdown() -> None:
    lines = describe().splitlines()

    assert "| `INGEST_RAW` | `ingest.raw.>` | max age 7 days, max 1024 MiB |" in lines
    assert "| `SESSION_EVENTS` | `session.events.>` | - |" in lines
    assert (
        "| ingest | `ingest.events.{partition}.{phone_number_id}.InboundMessageReceived` "
        "| InboundMessageReceived |"
    ) in lines
    assert (
        "| `outbound-typing` | outbound | `AI_EVENTS` "
        "| `ai_responder.events.*.Conversation.TypingIndicatorRequested` |"
    ) in lines
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| stream")]
    headers = 3
    assert len(rows) == (
        len(STREAM_LIMITS) + len(ROUTES) + len(DURABLES) + len(FOLLOWERS) + headers - 1
    )


def test_the_module_prints_the_table() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "threadline.messaging.topology"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert printed == describe() + "\n"


def test_the_session_s_facts_go_to_the_partition_of_their_customer_s_slot() -> None:
    """Every route the session records names its partition first; the partition is the
    customer's slot modulo the number of partitions, the same for a conversation whose id
    carries that slot."""
    partitioned = {route.stream for route in ROUTES if route.partitioned}
    assert partitioned == {INGEST_EVENTS, AI_EVENTS, OUTBOUND_EVENTS}
    topology = Topology("t1", partitions=4)
    slot = customer_slot("1093", "4915550001")
    conversation = conversation_id_in_slot(slot)

    by_customer = topology.publish_subject(
        INBOUND_MESSAGE_RECEIVED, slot=slot, phone_number_id="1093"
    )
    by_conversation = topology.conversation_subject(REPLY_DRAFTED, str(conversation))

    assert by_customer == f"t1.ingest.events.{slot % 4}.1093.InboundMessageReceived"
    assert by_conversation == f"t1.ai_responder.events.{slot % 4}.Conversation.ReplyDrafted"


def test_a_partitioned_route_without_its_slot_is_refused_once_there_are_partitions() -> None:
    with pytest.raises(UnpartitionedPublish, match="slot"):
        Topology(partitions=2).publish_subject(MESSAGE_DISPATCHED)
    assert Topology().publish_subject(MESSAGE_DISPATCHED) == "outbound.events.0.Message.Dispatched"
    with pytest.raises(UnpartitionedPublish, match="slot"):
        Topology(partitions=2).publish_subject(SESSION_EVENT, aggregate="A", event="B")


def test_the_session_events_name_their_partition_only_once_there_are_several() -> None:
    """Each partition's relay publishes on `<root>.<partition>.<Aggregate>.<Event>` (its
    position is read back from the last of those); with one partition the subjects stay the
    blueprint's. Every consumer of the stream matches them in any partition."""
    one, four = Topology("t1"), Topology("t1", partitions=4)
    assert one.publish_subject(SESSION_EVENT, aggregate="A", event="B") == "t1.session.events.A.B"
    assert (
        four.publish_subject(SESSION_EVENT, slot=4094, aggregate="A", event="B")
        == "t1.session.events.2.A.B"
    )
    assert one.relayed_in(3) == "t1.session.events.>"
    assert four.relayed_in(3) == "t1.session.events.3.>"
    assert four.session_filter("Conversation.>") == "t1.session.events.*.Conversation.>"
    assert one.session_filter("Conversation.>") == "t1.session.events.Conversation.>"
    assert four.route_filter(SESSION_EVENT) == "t1.session.events.*.*.*"
    for durable in DURABLES:
        if durable.stream != SESSION_EVENTS:
            continue
        aggregate, _, event = durable.filter.replace(">", "X.Y").partition(".")
        published = four.publish_subject(
            SESSION_EVENT, slot=1, aggregate=aggregate, event=event or "Y"
        )
        assert subject_matches(four.filter_subject(durable), published), durable.name
        if durable.filter != ">":  # the blueprint's subjects have no partition token
            assert not subject_matches(one.filter_subject(durable), published), durable.name
    assert four.narrowed(OUTBOUND_DISPATCH) == ()
    assert four.narrowed(GATEWAY_WEBHOOKS)[0] == "t1.session.events.*.WebhookSubscription.>"
    for follower in FOLLOWERS:
        token = four.publish_subject(SESSION_EVENT, slot=3, aggregate="ApiToken", event="Issued")
        if follower.filter == "ApiToken.>":
            assert subject_matches(four.filter_subject(follower), token)


def test_each_partition_has_its_own_session_consumers_and_one_partition_keeps_the_names() -> None:
    assert SESSION_INGEST.in_partition(0, 1) is SESSION_INGEST
    third = SESSION_INGEST.in_partition(2, 4)
    assert (third.name, third.filter) == ("session-ingest-p2", "2.>")
    assert Topology("t1").filter_subject(third) == "t1.ingest.events.2.>"


def test_the_session_takes_every_fact_of_the_ai_responder_but_the_typing_indicator() -> None:
    """On NATS 2.10+ `session-drafts` is bound to the facts it records: each AI fact, in any
    partition and as published before partitioning; the typing indicator (one a burst, for
    outbound alone) never reaches it. Each partition's consumer takes its own partition's."""
    topology = Topology()
    for route in ROUTES:
        if route.stream != AI_EVENTS:
            continue
        subject = topology.publish_subject(route, slot=0).removeprefix("ai_responder.events.")
        old = subject.removeprefix("0.")  # the same fact's subject before partitioning
        matched = [any(subject_matches(o, s) for o in SESSION_DRAFTS.only) for s in (subject, old)]
        assert matched == [route is not TYPING_INDICATOR_REQUESTED] * 2, route
        assert all(subject_matches(SESSION_DRAFTS.filter, s) for s in (subject, old))
        third = SESSION_DRAFTS.in_partition(0, 4)
        assert any(subject_matches(o, subject) for o in third.only) == (
            route is not TYPING_INDICATOR_REQUESTED
        )
        assert not any(subject_matches(o, old) for o in third.only)  # outside `0.>`
        assert all(subject_matches(third.filter, o) for o in third.only)
    assert Topology(narrow=False).narrowed(SESSION_DRAFTS) == ()


@pytest.mark.parametrize("value", ["0", "4097", "x"])
def test_the_number_of_partitions_is_checked_when_read(value: str) -> None:
    with pytest.raises(ConfigError, match="THREADLINE_SESSION_PARTITIONS"):
        partitions_from_env({"THREADLINE_SESSION_PARTITIONS": value})
    assert partitions_from_env({}) == 1
