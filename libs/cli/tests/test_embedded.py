import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nats
import psycopg
import pytest

from threadline.cli.embedded import EmbeddedNats, EmbeddedPostgres, EmbeddedServerError, free_port
from threadline.testing import unique_id


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
