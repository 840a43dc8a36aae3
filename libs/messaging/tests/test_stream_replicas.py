"""Streams kept on every server of a NATS cluster (`THREADLINE_NATS_STREAM_REPLICAS`), as the
Kubernetes manifests' 3-node JetStream cluster runs them: three real `nats-server` processes
clustered by routes, the topology's streams made with 3 replicas, each one a leader and two
current followers — and brought back to 3 when started again (a service's start)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from threadline.cli.embedded import _nats_server_binary
from threadline.messaging.topology import Topology, ensure_streams, stream_limits_from_env
from threadline.testing import eventually

pytestmark = pytest.mark.integration


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[str]]:
    """Three JetStream servers in one cluster; their client URLs."""
    ports = _free_ports(6)
    clients, routes = ports[:3], ports[3:]
    processes = []
    try:
        for index in range(3):
            config = tmp_path / f"n{index}.conf"
            others = ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes)
            config.write_text(
                f"server_name: n{index}\nhost: 127.0.0.1\nport: {clients[index]}\n"
                f'jetstream {{ store_dir: "{tmp_path / f"js{index}"}" }}\n'
                f"cluster {{ name: threadline\n host: 127.0.0.1\n port: {routes[index]}\n"
                f" routes: [{others}] }}\n"
            )
            log = (tmp_path / f"n{index}.log").open("ab")
            processes.append(
                subprocess.Popen([_nats_server_binary(), "-c", str(config)], stdout=log, stderr=log)
            )
        deadline = time.monotonic() + 20
        for port in clients:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "a cluster server did not start"
                    time.sleep(0.05)
        yield [f"nats://127.0.0.1:{port}" for port in clients]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


async def test_every_stream_is_kept_on_three_servers_of_the_cluster(cluster: list[str]) -> None:
    client = await nats.connect(servers=cluster)
    try:
        js = client.jetstream()
        topology = Topology("replicated")
        limits = stream_limits_from_env({"THREADLINE_NATS_STREAM_REPLICAS": "3"})

        async def made() -> bool:  # the cluster elects its meta leader first
            try:
                await ensure_streams(js, topology, limits)
            except Exception:
                return False
            return True

        await eventually(made, timeout=30)
        await ensure_streams(js, topology, limits)  # a second service's start changes nothing

        async def replicated() -> bool:
            for config in topology.stream_configs(limits):
                info = await js.stream_info(config.name or "")
                peers = info.cluster.replicas if info.cluster else None
                if info.config.num_replicas != 3 or not peers or len(peers) != 2:
                    return False
                if not all(peer.current for peer in peers):
                    return False
            return True

        await eventually(replicated, timeout=30)
    finally:
        await client.close()
