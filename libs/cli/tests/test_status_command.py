"""`threadline status` against a real session service (its ops server, NATS, PostgreSQL): the
services' health, NATS, every durable consumer's lag, the dead letters and the relay in one
table; exit 1 while a part is down, 0 when every part is up."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import nats
import pytest

from threadline.cli.failures import PlatformDown, connect
from threadline.cli.main import main
from threadline.cli.status import SERVICES
from threadline.messaging.bus import JetStreamBus
from threadline.messaging.dead_letters import dead_letter
from threadline.messaging.topology import INGEST_EVENTS, Topology
from threadline.servicekit.auth import hash_token
from threadline.session.bootstrap import bootstrap
from threadline.session.config import SessionConfig


def session_config(
    database_url: str, nats_server_url: str, nats_namespace: str, **settings: int
) -> SessionConfig:
    """The session `status` is pointed at, on this test's servers (free ports)."""
    return SessionConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        database_url=database_url,
        api_tokens=f"{hash_token('status-token')}:read:*",
        grpc_port=0,
        ops_port=0,
        **settings,  # type: ignore[arg-type]
    )


@pytest.fixture
async def session_ops(
    database_url: str, nats_server_url: str, nats_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    """A running session; the environment points `status` at its ops server and at NATS."""
    config = session_config(database_url, nats_server_url, nats_namespace)
    async with AsyncExitStack() as stack:
        service = await bootstrap(config, stack)
        monkeypatch.setenv("THREADLINE_NATS_URL", nats_server_url)
        monkeypatch.setenv("THREADLINE_NATS_NAMESPACE", nats_namespace)
        monkeypatch.setenv("THREADLINE_SESSION_OPS_PORT", str(service.ops_port))
        monkeypatch.delenv("THREADLINE_OPS_HOST", raising=False)
        yield f"http://127.0.0.1:{service.ops_port}"


async def threadline(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> dict[str, tuple[str, str]]:
    """PART → (STATE, DETAIL); a part's name may hold one space (`consumer x`)."""
    found = {}
    for line in out.splitlines()[1:]:
        if line.startswith("down: "):
            continue
        words = line.split()
        if words[0] in ("consumer", "dead", "relay"):
            words = [f"{words[0]} {words[1]}", *words[2:]]
        found[words[0]] = (words[1], " ".join(words[2:]))
    return found


async def test_status_shows_the_parts_and_exits_non_zero_while_one_is_down(
    session_ops: str,
    nats_namespace: str,
    nats_server_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    unused_port: int,
) -> None:
    for _, infix, _ in SERVICES:
        if infix != "SESSION":
            monkeypatch.setenv(f"THREADLINE_{infix}_OPS_PORT", str(unused_port))
    client = await nats.connect(nats_server_url)
    topology = Topology(nats_namespace)
    await dead_letter(
        JetStreamBus(client.jetstream()),
        topology,
        service="session",
        slug="bad_input",
        reason="refused",
        subject=topology.subject("ingest.events.109.Fact"),
        data=b"x",
        stream=topology.stream(INGEST_EVENTS),
        sequence=1,
    )
    await client.close()

    code, out, err = await threadline("status", capsys=capsys)

    table = rows(out)
    assert code == 1 and err == ""
    assert out.splitlines()[0].split() == ["PART", "STATE", "DETAIL"]
    assert table["session"][0] == "up" and table["ingest"][0] == "down"
    assert table["NATS"] == ("up", nats_server_url)
    assert table["consumer session-ingest"][1].startswith("pending 0, ack pending 0")
    assert table["dead letters"][0] == "1"
    assert table["relay (session)"][0] in ("ok", "behind")
    assert out.splitlines()[-1] == "down: ingest, ai_responder, outbound, analytics, gateway"

    for _, infix, _ in SERVICES:  # every service's address: the running session's ops server
        monkeypatch.delenv(f"THREADLINE_{infix}_OPS_PORT", raising=False)
        monkeypatch.setenv(f"THREADLINE_{infix}_OPS_URL", session_ops)
    code, out, _ = await threadline("status", capsys=capsys)

    assert code == 0 and "down" not in out


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_nats_that_is_not_there_is_platform_down() -> None:
    with pytest.raises(PlatformDown, match="is unreachable"):
        await connect("nats://127.0.0.1:1", "threadline-test")


async def test_status_shows_each_partition_s_consumers_of_a_partitioned_session(
    database_url: str,
    nats_server_url: str,
    nats_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = session_config(database_url, nats_server_url, nats_namespace, session_partitions=3)
    async with AsyncExitStack() as stack:
        await bootstrap(config, stack)
        monkeypatch.setenv("THREADLINE_NATS_URL", nats_server_url)
        monkeypatch.setenv("THREADLINE_NATS_NAMESPACE", nats_namespace)

        _, out, _ = await threadline("status", capsys=capsys)

    table = rows(out)
    for consumer in ("session-ingest", "session-drafts", "session-dispatches"):
        assert f"consumer {consumer}" not in table
        for k in range(3):
            assert table[f"consumer {consumer}-p{k}"][0] == "ok", out
    assert table["consumer analytics-projections"][0] == "absent"
