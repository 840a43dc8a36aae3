"""Every stream's limits, in one table, configurable through the environment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pytest
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from threadline.messaging.topology import (
    DEAD_LETTERS,
    INGEST_RAW,
    SESSION_EVENTS,
    STREAM_LIMITS,
    StreamLimits,
    Topology,
    ensure_streams,
    stream_limits_from_env,
)
from threadline.servicekit.config import ConfigError

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
