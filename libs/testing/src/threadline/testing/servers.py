"""Where integration tests find NATS JetStream and PostgreSQL.

In order: the URL in an environment variable; a container started with testcontainers when
Docker runs (set `THREADLINE_TEST_DOCKER=0` to skip it); an embedded server from the wheels.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DATABASE_URL_VARIABLE",
    "NATS_URL_VARIABLE",
    "SessionServer",
    "docker_available",
    "planned_origin",
    "start_nats",
    "start_postgres",
]

logger = logging.getLogger(__name__)

NATS_URL_VARIABLE = "THREADLINE_TEST_NATS_URL"
DATABASE_URL_VARIABLE = "THREADLINE_TEST_DATABASE_URL"
DOCKER_VARIABLE = "THREADLINE_TEST_DOCKER"
NATS_IMAGE = "nats:2-alpine"
POSTGRES_IMAGE = "postgres:17-alpine"
# Tests never need durability; these settings make CREATE/DROP DATABASE and commits cheap.
POSTGRES_TEST_SETTINGS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
)


@dataclass(frozen=True)
class SessionServer:
    """A server the test session uses: its URL, where it came from and how long it took."""

    name: str
    url: str
    origin: str
    seconds: float = 0.0


def docker_available() -> bool:
    """Whether testcontainers may be used: Docker is not turned off and its daemon answers."""
    return os.environ.get(DOCKER_VARIABLE, "1") != "0" and _docker_daemon_answers()


@functools.cache
def _docker_daemon_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=3,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def planned_origin(variable: str) -> str:
    """How the server configured by `variable` will be provided, without starting it."""
    if os.environ.get(variable):
        return f"from ${variable}"
    return "testcontainers" if docker_available() else "embedded"


def start_nats(stack: ExitStack) -> SessionServer:
    """Provide a NATS JetStream server for the session; `stack` stops it."""
    began = time.monotonic()
    if url := os.environ.get(NATS_URL_VARIABLE):
        return SessionServer("NATS", url, f"${NATS_URL_VARIABLE}")
    if docker_available():
        try:
            url = _nats_container(stack)
            return SessionServer("NATS", url, "testcontainers", time.monotonic() - began)
        except Exception:
            logger.warning("Could not start a NATS container; using nats-server", exc_info=True)
    from threadline.cli.embedded import EmbeddedNats

    server = stack.enter_context(EmbeddedNats(_workdir(stack) / "nats"))
    return SessionServer("NATS", server.url, "embedded", time.monotonic() - began)


def start_postgres(stack: ExitStack) -> SessionServer:
    """Provide a PostgreSQL server for the session, as an admin URL; `stack` stops it."""
    began = time.monotonic()
    if url := os.environ.get(DATABASE_URL_VARIABLE):
        return SessionServer("PostgreSQL", url, f"${DATABASE_URL_VARIABLE}")
    if docker_available():
        try:
            url = _postgres_container(stack)
            return SessionServer("PostgreSQL", url, "testcontainers", time.monotonic() - began)
        except Exception:
            logger.warning("Could not start a PostgreSQL container; using embedded", exc_info=True)
    from threadline.cli.embedded import EmbeddedPostgres

    server = stack.enter_context(EmbeddedPostgres(_workdir(stack) / "postgres", fast=True))
    return SessionServer("PostgreSQL", server.admin_url, "embedded", time.monotonic() - began)


def _workdir(stack: ExitStack) -> Path:
    folder = tempfile.TemporaryDirectory(prefix="threadline-test-", ignore_cleanup_errors=True)
    return Path(stack.enter_context(folder))


def _nats_container(stack: ExitStack) -> str:
    from testcontainers.community.nats import NatsContainer

    container = stack.enter_context(NatsContainer(NATS_IMAGE, jetstream=True))
    url: str = container.nats_uri()
    return url


def _postgres_container(stack: ExitStack) -> str:
    from testcontainers.community.postgres import PostgresContainer

    container = PostgresContainer(
        POSTGRES_IMAGE, username="postgres", password="postgres", dbname="postgres", driver=None
    ).with_command(POSTGRES_TEST_SETTINGS)
    stack.enter_context(container)
    url: str = container.get_connection_url()
    return url
