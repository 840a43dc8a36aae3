import re

import nats
import psycopg
import pytest

from threadline.testing.servers import DATABASE_URL_VARIABLE, DOCKER_VARIABLE, NATS_URL_VARIABLE

pytest_plugins = ["pytester"]

INNER_ARGS = (
    "-p",
    "threadline.testing.plugin",
    "-o",
    "asyncio_default_fixture_loop_scope=function",
)
databases_seen: set[str] = set()


async def test_nats_server_url_serves_jetstream(nats_server_url: str, nats_namespace: str) -> None:
    stream = f"{nats_namespace}_EVENTS"
    client = await nats.connect(nats_server_url)
    jetstream = client.jetstream()

    await jetstream.add_stream(name=stream, subjects=[f"{nats_namespace}.>"])
    ack = await jetstream.publish(f"{nats_namespace}.greeting", b"hello")
    message = await jetstream.get_msg(stream, ack.seq)

    await jetstream.delete_stream(stream)
    await client.drain()
    assert message.data == b"hello"


def test_nats_namespace_is_a_short_fresh_token(nats_namespace: str) -> None:
    assert re.fullmatch(r"t[0-9a-f]{10}", nats_namespace)


@pytest.mark.parametrize("attempt", [1, 2])
def test_database_url_is_an_empty_database_of_the_tests_own(
    database_url: str, attempt: int
) -> None:
    with psycopg.connect(database_url) as connection:
        connection.execute("CREATE TABLE probe (attempt int)")
        row = connection.execute("SELECT current_database()").fetchone()

    assert row is not None and re.fullmatch(r"t_[0-9a-f]{12}", row[0])
    assert row[0] not in databases_seen
    databases_seen.add(row[0])


def test_database_url_is_dropped_after_the_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, postgres_server_url: str
) -> None:
    monkeypatch.setenv(DATABASE_URL_VARIABLE, postgres_server_url)
    pytester.makepyfile(
        """
        from pathlib import Path

        def test_records_its_database(database_url):
            Path("database.txt").write_text(database_url.rsplit("/", 1)[1])
        """
    )

    pytester.runpytest(*INNER_ARGS).assert_outcomes(passed=1)

    name = (pytester.path / "database.txt").read_text()
    with psycopg.connect(postgres_server_url) as connection:
        row = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        assert row.fetchone() is None


def test_tests_using_servers_are_marked_integration(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_pure():
            pass

        def test_with_a_database(database_url):
            pass
        """
    )

    result = pytester.runpytest(*INNER_ARGS, "--collect-only", "-q", "-m", "integration")

    result.stdout.fnmatch_lines(["*::test_with_a_database", "1/2 tests collected*"])


def test_unit_tests_start_no_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_VARIABLE, raising=False)
    monkeypatch.setenv(NATS_URL_VARIABLE, "nats://127.0.0.1:1")
    monkeypatch.setenv(DOCKER_VARIABLE, "0")
    pytester.makepyfile("def test_pure():\n    pass\n")

    result = pytester.runpytest(*INNER_ARGS)

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "threadline servers (started on first use): "
            f"NATS from ${NATS_URL_VARIABLE}, PostgreSQL embedded"
        ]
    )
    result.stdout.no_fnmatch_line("threadline PostgreSQL:*")


def test_a_server_asked_for_at_run_time_fails_an_unmarked_test_before_it_starts(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_VARIABLE, raising=False)
    monkeypatch.setenv(NATS_URL_VARIABLE, "nats://127.0.0.1:1")
    monkeypatch.setenv(DOCKER_VARIABLE, "0")
    pytester.makepyfile(
        """
        import pytest

        def test_sneaks_a_database(request):
            request.getfixturevalue("database_url")

        @pytest.fixture
        def store(request):
            return request.getfixturevalue("nats_server_url")

        def test_through_a_fixture(store):
            pass
        """
    )

    result = pytester.runpytest(*INNER_ARGS, "-m", "not integration")

    result.assert_outcomes(errors=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_sneaks_a_database asked for the server fixture 'database_url' at run time*"
            "not marked integration*"
        ]
    )
    result.stdout.fnmatch_lines(
        ["test_through_a_fixture asked for the server fixture 'nats_server_url' at run time*"]
    )
    result.stdout.no_fnmatch_line("threadline PostgreSQL:*")
    result.stdout.no_fnmatch_line("threadline NATS:*")


def test_a_test_marked_integration_may_ask_for_a_server_at_run_time(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NATS_URL_VARIABLE, "nats://127.0.0.1:1")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.integration
        def test_marked(request):
            assert request.getfixturevalue("nats_server_url") == "nats://127.0.0.1:1"

        @pytest.fixture(params=["memory", pytest.param("nats", marks=pytest.mark.integration)])
        def store(request):
            if request.param == "memory":
                return "memory"
            return request.getfixturevalue("nats_server_url")

        def test_either_store(store):
            assert store in ("memory", "nats://127.0.0.1:1")
        """
    )

    everything = pytester.runpytest(*INNER_ARGS)
    units = pytester.runpytest(*INNER_ARGS, "-m", "not integration", "-v")

    everything.assert_outcomes(passed=3)
    units.assert_outcomes(passed=1, deselected=2)
    units.stdout.fnmatch_lines(["*test_either_store?memory? PASSED*"])


STRAY_SKIPS = """
    import pytest

    def test_runs():
        pass

    def test_lacks_a_tool():
        pytest.skip("needs Docker: the daemon does not answer")

    @pytest.mark.skipif(True, reason="the samples are not there")
    def test_hides():
        pass

    @pytest.mark.skip
    def test_no_reason():
        pass
"""


def test_strict_skips_fail_the_run_on_a_skip_that_names_no_missing_capability(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(STRAY_SKIPS)
    # Conftests in folders side by side: pytest then hashes every plugin while collecting.
    pytester.makepyfile(**{"one/conftest": "", "one/test_one": "def test_one():\n    pass\n"})
    pytester.makepyfile(**{"two/conftest": "", "two/test_two": "def test_two():\n    pass\n"})

    result = pytester.runpytest(*INNER_ARGS, "--strict-skips")

    result.assert_outcomes(passed=3, skipped=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*skipped without naming what the machine lacks*",
            "*::test_hides: 'the samples are not there'",
            "*::test_no_reason: 'unconditional skip'",
        ]
    )
    result.stdout.no_fnmatch_line("*::test_lacks_a_tool:*")


def test_a_skip_for_what_the_machine_lacks_passes_strict_skips(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_lacking="""
        import pytest

        pytest.importorskip("no_such_module_at_all", reason="needs no_such_module_at_all")

        def test_never_collected():
            pass
        """,
        test_present="""
        import pytest

        def test_runs():
            pass

        @pytest.mark.skipif(True, reason="needs a second network interface")
        def test_lacks_an_interface():
            pass
        """,
    )

    result = pytester.runpytest(*INNER_ARGS, "--strict-skips")

    result.assert_outcomes(passed=1, skipped=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*skipped without naming*")


def test_without_strict_skips_any_skip_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(STRAY_SKIPS)

    result = pytester.runpytest(*INNER_ARGS)

    result.assert_outcomes(passed=1, skipped=3)
    assert result.ret == pytest.ExitCode.OK
