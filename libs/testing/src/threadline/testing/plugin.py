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

A test may be skipped only for what the machine lacks, and says so: its reason starts with
"needs " (`pytest.skip("needs Docker: the daemon does not answer")`). With `--strict-skips`
(`.ci/run` sets it) any other skip fails the run, listed in the summary.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
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
CAPABILITY_SKIP = "needs "
STRICT_SKIPS = "--strict-skips"

STARTED_SERVERS = pytest.StashKey[list[SessionServer]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        STRICT_SKIPS,
        action="store_true",
        help=f"fail the run when a test is skipped for a reason not starting with "
        f"{CAPABILITY_SKIP.strip()!r} (what the machine lacks)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[STARTED_SERVERS] = []
    if config.getoption(STRICT_SKIPS):
        config.pluginmanager.register(StrictSkips(), "threadline-strict-skips")
    config.addinivalue_line(
        "markers",
        "integration: needs real NATS JetStream and PostgreSQL (added for a server fixture in "
        "the signature; required to ask for one at run time)",
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


@dataclass(eq=False)  # a plugin must be hashable
class StrictSkips:
    """Collects the skips whose reason names no missing capability; they fail the run."""

    stray: list[tuple[str, str]] = field(default_factory=list)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self._note(report.nodeid, report.longrepr)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:
            self._note(report.nodeid, report.longrepr)

    def _note(self, nodeid: str, longrepr: object) -> None:
        reason = skip_reason(longrepr)
        if not reason.startswith(CAPABILITY_SKIP):
            self.stray.append((nodeid, reason))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.stray and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.stray:
            return
        terminalreporter.section("skipped without naming what the machine lacks", red=True)
        for nodeid, reason in self.stray:
            terminalreporter.write_line(f"{nodeid}: {reason!r}")
        terminalreporter.write_line(
            f"A skip's reason must start with {CAPABILITY_SKIP!r} and name what the machine lacks; "
            "anything else is a test that does not run."
        )


def skip_reason(longrepr: object) -> str:
    """The reason a skip report gives (`longrepr` is `(path, line, "Skipped: <reason>")`)."""
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    text = str(text)
    return text.removeprefix("Skipped: ")


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
