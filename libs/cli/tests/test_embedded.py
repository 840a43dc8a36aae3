import asyncio
import json
import os
import signal
import socket
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nats
import psycopg
import pytest

from threadline.cli.embedded import EmbeddedNats, EmbeddedPostgres, EmbeddedServerError, free_port
from threadline.cli.supervisor import ServerWatch, WatchSettings
from threadline.testing import unique_id

# These tests start nats-server and PostgreSQL themselves (not through the plugin's fixtures).
pytestmark = pytest.mark.integration


@contextmanager
def occupied(port: int) -> Iterator[None]:
    """Keep `port` on 127.0.0.1 busy, listening on it ourselves unless something already does."""
    if free_port(port) != port:
        yield
        return
    with socket.create_server(("127.0.0.1", port)):
        yield


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def accepts_tcp(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_free_port_returns_the_preferred_port_when_it_is_free() -> None:
    port = free_port(None)

    assert free_port(port) == port


def test_free_port_finds_another_port_when_the_preferred_one_is_busy(busy_port: int) -> None:
    assert free_port(busy_port) != busy_port


async def test_embedded_nats_serves_jetstream(tmp_path: Path) -> None:
    stream = unique_id("S")

    with EmbeddedNats(tmp_path) as server:
        client = await nats.connect(server.url)
        jetstream = client.jetstream()
        await jetstream.add_stream(name=stream, subjects=[f"{stream}.>"])
        ack = await jetstream.publish(f"{stream}.greeting", b"hello")
        message = await jetstream.get_msg(stream, ack.seq)
        await client.drain()

    assert message.data == b"hello"
    assert (tmp_path / "jetstream").is_dir()


def read_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


async def test_embedded_nats_serves_its_monitoring_endpoints_when_asked(tmp_path: Path) -> None:
    with EmbeddedNats(tmp_path / "plain") as plain:
        assert plain.monitoring_url is None

    with EmbeddedNats(tmp_path / "watched", monitoring=True) as server:
        assert server.monitoring_url is not None
        client = await nats.connect(server.url)
        await client.subscribe("greeting")  # a message nobody hears is not counted
        await client.publish("greeting", b"hello")
        await client.flush()
        varz = await asyncio.to_thread(read_json, f"{server.monitoring_url}/varz")
        await client.close()
        first_url = server.monitoring_url
        server.restart()
        restarted_url = server.monitoring_url

    assert varz["in_msgs"] == 1
    # nats-server keeps its streams in a "jetstream" folder under the one it is given.
    assert varz["jetstream"]["config"]["store_dir"] == str(
        tmp_path / "watched" / "jetstream" / "jetstream"
    )
    assert first_url.startswith("http://127.0.0.1:")
    assert restarted_url == first_url


def test_embedded_nats_takes_a_free_port_when_4222_is_busy(tmp_path: Path) -> None:
    with occupied(4222), EmbeddedNats(tmp_path) as server:
        port = server.port

    assert port != 4222
    assert server.url == f"nats://127.0.0.1:{port}"


def test_embedded_nats_frees_its_port_when_stopped(tmp_path: Path) -> None:
    with EmbeddedNats(tmp_path) as server:
        assert accepts_tcp(server.port)

    assert not accepts_tcp(server.port)


def test_embedded_nats_refuses_a_requested_port_that_is_busy(
    tmp_path: Path, busy_port: int
) -> None:
    with pytest.raises(EmbeddedServerError, match=f"port {busy_port} .* already in use"):
        EmbeddedNats(tmp_path, port=busy_port).start()


def test_embedded_nats_failing_to_start_shows_its_log(tmp_path: Path) -> None:
    (tmp_path / "jetstream").write_text("a file where the store folder belongs")

    with pytest.raises(EmbeddedServerError, match="nats-server exited") as raised:
        EmbeddedNats(tmp_path).start()

    assert str(tmp_path / "nats.log") in str(raised.value)


def test_embedded_postgres_takes_a_free_port_when_5432_is_busy(tmp_path: Path) -> None:
    with (
        occupied(5432),
        EmbeddedPostgres(tmp_path, fast=True) as server,
        psycopg.connect(server.url) as connection,
    ):
        row = connection.execute("SELECT current_database()").fetchone()

    assert server.port != 5432
    assert row == ("threadline",)


def test_embedded_postgres_frees_its_port_when_stopped(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path, fast=True) as server:
        assert accepts_tcp(server.port)

    assert not accepts_tcp(server.port)


def test_embedded_postgres_keeps_data_across_restarts(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path) as server, psycopg.connect(server.url) as connection:
        connection.execute("CREATE TABLE kept (id int)")

    with EmbeddedPostgres(tmp_path) as server, psycopg.connect(server.url) as connection:
        row = connection.execute("SELECT to_regclass('kept')::text").fetchone()

    assert row == ("kept",)


def test_embedded_postgres_stops_a_leftover_server_on_its_data(tmp_path: Path) -> None:
    EmbeddedPostgres(tmp_path, fast=True).start()  # its owner "crashes" without stopping it
    leftover_port = int((tmp_path / "pgdata" / "postmaster.pid").read_text().split("\n")[3])

    with EmbeddedPostgres(tmp_path, fast=True) as server:
        with psycopg.connect(server.url) as connection:
            connection.execute("SELECT 1")

        assert not accepts_tcp(leftover_port)


def test_embedded_postgres_refuses_a_requested_port_that_is_busy(
    tmp_path: Path, busy_port: int
) -> None:
    with pytest.raises(EmbeddedServerError, match=f"port {busy_port} .* already in use"):
        EmbeddedPostgres(tmp_path, port=busy_port).start()


async def watched_until(watch: ServerWatch, condition: Callable[[], bool]) -> None:
    """Run `watch` until `condition` holds (generous wait); it must not give up before."""
    running = asyncio.create_task(watch.run())
    try:
        async with asyncio.timeout(60):
            while not condition():
                assert not running.done(), f"the watch gave up: {running.result()}"
                await asyncio.sleep(0.05)
    finally:
        await watch.stop()
        await running


QUICK_WATCH = WatchSettings(interval=0.05, restart_attempts=5, retry_delay=0.5)


async def test_a_killed_embedded_nats_is_restarted_on_its_port_with_its_data(
    tmp_path: Path,
) -> None:
    stream = unique_id("S")
    with EmbeddedNats(tmp_path) as server:
        port, url, pid = server.port, server.url, server.pid
        assert pid is not None
        client = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
        jetstream = client.jetstream()
        await jetstream.add_stream(name=stream, subjects=[f"{stream}.>"])
        ack = await jetstream.publish(f"{stream}.kept", b"before the crash")
        watch = ServerWatch([server], QUICK_WATCH)

        os.kill(pid, signal.SIGKILL)
        await watched_until(watch, lambda: watch.restarts["NATS"] >= 1 and server.answers())

        fresh = await nats.connect(url)
        kept = await fresh.jetstream().get_msg(stream, ack.seq)
        async with asyncio.timeout(30):
            while not client.is_connected:
                await asyncio.sleep(0.05)
        again = await jetstream.publish(f"{stream}.after", b"after the restart")
        await fresh.drain()
        await client.drain()

    assert (server.port, watch.restarts["NATS"]) == (port, 1)
    assert server.pid != pid
    assert kept.data == b"before the crash"
    assert again.seq == ack.seq + 1


async def test_the_watch_gives_up_with_a_clear_message_when_nats_cannot_come_back(
    tmp_path: Path,
) -> None:
    with EmbeddedNats(tmp_path) as server:
        port, pid = server.port, server.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        async with asyncio.timeout(30):
            while accepts_tcp(port):
                await asyncio.sleep(0.05)
        with socket.create_server(("127.0.0.1", port)):  # someone else took the port
            watch = ServerWatch([server], WatchSettings(restart_attempts=2, retry_delay=0.05))
            async with asyncio.timeout(60):
                failure = await watch.run()

    assert "embedded NATS stopped serving (its process is gone)" in failure
    assert "could not be restarted after 2 attempts" in failure
    assert f"port {port} on 127.0.0.1 is already in use" in failure


async def test_a_killed_embedded_postgres_is_restarted_on_its_port_with_its_data(
    tmp_path: Path,
) -> None:
    # Not `fast`: without synchronous commits a SIGKILL loses the latest ones.
    with EmbeddedPostgres(tmp_path) as server:
        port, pid = server.port, server.pid
        assert pid is not None
        with psycopg.connect(server.url, autocommit=True) as connection:
            connection.execute("CREATE TABLE kept (id int)")
            connection.execute("INSERT INTO kept VALUES (7)")
        watch = ServerWatch([server], QUICK_WATCH)

        os.kill(pid, signal.SIGKILL)
        await watched_until(watch, lambda: watch.restarts["PostgreSQL"] >= 1 and server.alive())

        with psycopg.connect(server.url) as connection:
            row = connection.execute("SELECT id FROM kept").fetchone()

    assert (server.port, watch.restarts["PostgreSQL"]) == (port, 1)
    assert row == (7,)
