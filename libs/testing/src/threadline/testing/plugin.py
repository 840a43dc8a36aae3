"""Pytest fixtures giving integration tests real NATS JetStream and PostgreSQL servers.

Servers start on first use, once per session, so unit tests never start one. Tests stay apart
on shared servers: each gets its own database (`database_url`) and its own namespace for
stream names and subjects (`nats_namespace`).

The tiers cannot leak. A test that names a server fixture in its signature (or through its
fixtures') is marked `integration` at collection; a test that asks for one at run time
(`request.getfixturevalue("database_url")`) must carry the mark itself (on the test, or on the
fixture parameter that needs the server: `pytest.param("postgres", marks=pytest.mark.integration)`)
or it fails, before any server starts. So `pytest -m "not integration"` (`make test-unit`)
never starts a server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit, urlunsplit

import pytest

from threadline.testing import unique_id
from threadline.testing.servers import (
    DATABASE_URL_VARIABLE,
    NATS_URL_VARIABLE,
    SessionServer,
    planned_origin,
    start_nats,
    start_postgres,
)

SERVER_FIXTURES = frozenset({"nats_server_url", "postgres_server_url", "database_url"})
INTEGRATION = "integration"

STARTED_SERVERS = pytest.StashKey[list[SessionServer]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[STARTED_SERVERS] = []
    config.addinivalue_line(
        "markers", "integration: needs real NATS JetStream and PostgreSQL (added automatically)"
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    nats = planned_origin(NATS_URL_VARIABLE)
    postgres = planned_origin(DATABASE_URL_VARIABLE)
    return [f"threadline servers (started on first use): NATS {nats}, PostgreSQL {postgres}"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function) and SERVER_FIXTURES.intersection(item.fixturenames):
            item.add_marker(pytest.mark.integration)


def require_integration(request: pytest.FixtureRequest, fixture: str) -> None:
    """Fail the test asking for `fixture` unless it is marked `integration`."""
    node = request.node
    if node.get_closest_marker(INTEGRATION) is not None:
        return
    pytest.fail(
        f"{node.name} asked for the server fixture '{fixture}' at run time "
        "(request.getfixturevalue) but is not marked integration: name the fixture in the "
        "test's signature, or mark the test (or the fixture parameter that needs the server) "
        "with pytest.mark.integration",
        pytrace=False,
    )


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    for server in config.stash[STARTED_SERVERS]:
        started = f", ready in {server.seconds:.2f}s" if server.seconds else ""
        terminalreporter.write_line(
            f"threadline {server.name}: {server.url} ({server.origin}{started})"
        )


# The servers themselves: started once per session, on first use. Tests reach them only through
# the function-scoped fixtures below, which check the mark before anything starts.


@pytest.fixture(scope="session")
def _threadline_nats_server(pytestconfig: pytest.Config) -> Iterator[str]:
    with ExitStack() as stack:
        server = start_nats(stack)
        pytestconfig.stash[STARTED_SERVERS].append(server)
        yield server.url


@pytest.fixture(scope="session")
def _threadline_postgres_server(pytestconfig: pytest.Config) -> Iterator[str]:
    with ExitStack() as stack:
        server = start_postgres(stack)
        pytestconfig.stash[STARTED_SERVERS].append(server)
        yield server.url


@pytest.fixture
def nats_server_url(request: pytest.FixtureRequest) -> str:
    """URL of a NATS server with JetStream, shared by the whole session."""
    require_integration(request, "nats_server_url")
    url: str = request.getfixturevalue("_threadline_nats_server")
    return url


@pytest.fixture
def postgres_server_url(request: pytest.FixtureRequest) -> str:
    """Admin URL of a PostgreSQL server shared by the whole session."""
    require_integration(request, "postgres_server_url")
    url: str = request.getfixturevalue("_threadline_postgres_server")
    return url


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a fresh, empty database of the test's own, dropped after the test."""
    import psycopg
    from psycopg import sql

    require_integration(request, "database_url")
    postgres_server_url: str = request.getfixturevalue("postgres_server_url")
    name = unique_id("t_", length=12)
    identifier = sql.Identifier(name)
    with psycopg.connect(postgres_server_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(identifier))
    yield _with_database(postgres_server_url, name)
    with psycopg.connect(postgres_server_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier))


@pytest.fixture
def nats_namespace() -> str:
    """A fresh prefix for the test's stream names and subjects, e.g. `t3f9c0a12b4`."""
    return unique_id("t")


def _with_database(url: str, name: str) -> str:
    if "://" in url:
        return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    from psycopg.conninfo import make_conninfo

    return make_conninfo(url, dbname=name)
