"""The supervisor with real child processes: small Python programs that misbehave."""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.cli.supervisor import Child, LineCutter, Supervisor, SupervisorSettings

WAIT = 60.0  # generous: the machine is shared; only outcomes are asserted, never durations

LONG_LINE_THEN_TICKS = """
    import sys, time
    sys.stdout.write("L" * 200 * 1024 + "\\n")
    sys.stdout.write("M" * 300 * 1024 + "\\n")
    sys.stdout.flush()
    tick = 0
    while True:
        tick += 1
        print(f"tick {tick}", flush=True)
        time.sleep(0.01)
"""

EXITS_AT_ONCE = """
    print("starting up", flush=True)
    raise SystemExit("configuration is broken")
"""

RUNS_A_WHILE_THEN_EXITS = """
    import time
    print("up", flush=True)
    time.sleep(0.5)
    raise SystemExit(4)
"""

RUNS_FOREVER = """
    import time
    print("up", flush=True)
    while True:
        time.sleep(1)
"""


def program(source: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(source)]


@pytest.fixture
async def supervise() -> AsyncIterator[Callable[..., Supervisor]]:
    """Build supervisors of one child each; every one is stopped after the test."""
    started: list[Supervisor] = []

    def build(source: str, **overrides: float | int) -> Supervisor:
        supervisor = Supervisor(
            settings=SupervisorSettings(**overrides),  # type: ignore[arg-type]
            output=io.StringIO(),
        )
        supervisor.add("child", program(source), {})
        started.append(supervisor)
        return supervisor

    yield build
    for supervisor in started:
        await supervisor.stop(grace=5)


async def eventually(condition: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.02)
    assert condition(), what


def printed(supervisor: Supervisor) -> list[str]:
    assert isinstance(supervisor.output, io.StringIO)
    return supervisor.output.getvalue().splitlines()


async def test_lines_far_over_64_kib_are_cut_and_the_child_keeps_running(
    supervise: Callable[..., Supervisor],
) -> None:
    supervisor = supervise(LONG_LINE_THEN_TICKS, max_line_bytes=1000)
    await supervisor.start()
    child = supervisor.children[0]

    await eventually(lambda: "child | tick 200" in printed(supervisor), "ticks after the lines")

    lines = printed(supervisor)
    assert lines[0] == "child | " + "L" * 1000 + f" … [{200 * 1024 - 1000:,} bytes cut]"
    assert lines[1] == "child | " + "M" * 1000 + f" … [{300 * 1024 - 1000:,} bytes cut]"
    assert lines[2:5] == ["child | tick 1", "child | tick 2", "child | tick 3"]
    assert child.process is not None and child.process.returncode is None
    assert child.restarts == 0


async def test_the_child_keeps_being_read_when_the_terminal_is_gone(
    supervise: Callable[..., Supervisor],
) -> None:
    supervisor = supervise(LONG_LINE_THEN_TICKS)
    await supervisor.start()
    child = supervisor.children[0]
    assert supervisor.output is not None
    supervisor.output.close()

    await eventually(lambda: "tick 200" in child.recent, "ticks read after the output closed")

    assert child.process is not None and child.process.returncode is None


async def test_characters_the_terminal_cannot_show_are_replaced(
    supervise: Callable[..., Supervisor],
) -> None:
    supervisor = supervise('print("caf\\u00e9 \\u2615", flush=True)', initial_delay=30)
    raw = io.BytesIO()
    supervisor.output = io.TextIOWrapper(raw, encoding="ascii")
    await supervisor.start()
    child = supervisor.children[0]

    await eventually(lambda: child.restarts == 1, "the child printed and exited")

    assert raw.getvalue() == b"child | caf? ?\n"


async def test_a_child_that_exits_at_once_is_restarted_forever_with_growing_capped_delays(
    supervise: Callable[..., Supervisor], caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = supervise(EXITS_AT_ONCE, initial_delay=0.01, max_delay=0.08)
    caplog.set_level(logging.ERROR, logger="threadline.cli.supervisor")
    await supervisor.start()
    child = supervisor.children[0]

    await eventually(lambda: child.restarts >= 9, "more than 5 restarts")

    delays = [restart.delay for restart in child.history[:9]]
    assert delays == [0.01, 0.02, 0.04, 0.08, 0.08, 0.08, 0.08, 0.08, 0.08]
    assert {restart.exit for restart in child.history} == {"exited with code 1"}
    errors = [record.getMessage() for record in caplog.records]
    assert len(errors) >= 9
    assert errors[0].startswith("child exited with code 1 after ")
    assert "keeps crashing" in errors[8] and "9 exits in the last 5m00s" in errors[8]
    assert "restarting it in 0.1s (restart 9)" in errors[8]
    assert errors[8].splitlines()[1:] == [
        "  last lines of child:",
        "    starting up",
        "    configuration is broken",
    ]


async def test_the_back_off_starts_again_after_the_child_ran_long_enough(
    supervise: Callable[..., Supervisor],
) -> None:
    supervisor = supervise(RUNS_A_WHILE_THEN_EXITS, initial_delay=0.01, stable_after=0.1)
    await supervisor.start()
    child = supervisor.children[0]

    await eventually(lambda: child.restarts >= 3, "three restarts")

    assert [restart.delay for restart in child.history[:3]] == [0.01, 0.01, 0.01]
    assert all(restart.ran_for >= 0.1 for restart in child.history)
    assert {restart.exit for restart in child.history} == {"exited with code 4"}


async def test_a_killed_child_is_restarted(supervise: Callable[..., Supervisor]) -> None:
    supervisor = supervise(RUNS_FOREVER, initial_delay=0.01)
    await supervisor.start()
    child = supervisor.children[0]
    await eventually(lambda: printed(supervisor) == ["child | up"], "the child started")
    assert child.process is not None
    first = child.process.pid

    os.kill(first, signal.SIGKILL)
    await eventually(lambda: printed(supervisor) == ["child | up"] * 2, "the child started again")

    assert child.history[0].exit == "was killed by SIGKILL"
    assert child.process.pid != first and child.process.returncode is None


async def test_a_supervisor_told_to_give_up_stops_restarting(
    supervise: Callable[..., Supervisor], caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = supervise(EXITS_AT_ONCE, initial_delay=0.01)
    supervisor.max_restarts = 2
    await supervisor.start()

    await eventually(lambda: all(task.done() for task in supervisor._tasks), "given up")

    assert supervisor.children[0].restarts == 2
    assert "giving up after 2 restarts" in caplog.text


async def test_stop_ends_every_child(supervise: Callable[..., Supervisor]) -> None:
    supervisor = supervise(RUNS_FOREVER)
    await supervisor.start()
    child: Child = supervisor.children[0]
    await eventually(lambda: bool(printed(supervisor)), "the child started")

    await supervisor.stop(grace=5)

    assert child.process is not None and child.process.returncode is not None
    assert child.restarts == 0


def split_as_expected(data: bytes, limit: int) -> list[tuple[bytes, int]]:
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    return [(piece[:limit], max(0, len(piece) - limit)) for piece in pieces]


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=12),
    trailing_newline=st.booleans(),
    limit=st.integers(min_value=0, max_value=20),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_the_line_cutter_splits_any_chunking_like_split_and_keeps_at_most_the_limit(
    lines: list[bytes], trailing_newline: bool, limit: int, cuts: list[int]
) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    cutter = LineCutter(limit)
    found: list[tuple[bytes, int]] = []
    edges = sorted({0, len(data), *(min(cut, len(data)) for cut in cuts)})

    for start, end in itertools.pairwise(edges):
        found += cutter.feed(data[start:end])
    found += cutter.flush()

    assert found == split_as_expected(data, limit)
