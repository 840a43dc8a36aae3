"""Background loops on a service's exit stack: started at once, stopped in order, told apart by
/readyz, restarted when asked to."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

import pytest

from threadline.servicekit import background
from threadline.servicekit.background import Background, run_in_background


class Loop:
    """A loop that runs until told to stop (or cancelled), recording what happened to it."""

    def __init__(self, *, ignores_stop: bool = False) -> None:
        self.started = asyncio.Event()
        self.stopping = asyncio.Event()
        self.ignores_stop = ignores_stop
        self.finished = False
        self.cancelled = False

    def stop(self) -> None:
        self.stopping.set()

    async def work(self) -> None:
        self.started.set()
        try:
            if self.ignores_stop:
                await asyncio.Event().wait()
            await self.stopping.wait()
            self.finished = True
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_the_loop_starts_at_once_and_is_ready_while_it_runs() -> None:
    loop = Loop()
    async with AsyncExitStack() as stack:
        running = run_in_background(stack, "tester", loop.work, stop=loop.stop)
        async with asyncio.timeout(2):
            await loop.started.wait()

        assert running.running
        assert await running.check()() is None


async def test_unwinding_the_stack_asks_the_loop_to_stop_and_waits_for_it() -> None:
    loop = Loop()
    async with AsyncExitStack() as stack:
        running = run_in_background(stack, "tester", loop.work, stop=loop.stop, grace=5)
        await loop.started.wait()

    assert (loop.finished, loop.cancelled, running.running) == (True, False, False)


async def test_a_loop_that_ignores_stop_is_cancelled_after_its_grace() -> None:
    loop = Loop(ignores_stop=True)
    began = asyncio.get_running_loop().time()
    async with AsyncExitStack() as stack:
        run_in_background(stack, "stubborn", loop.work, stop=loop.stop, grace=0.2)
        await loop.started.wait()
    waited = asyncio.get_running_loop().time() - began

    assert (loop.finished, loop.cancelled) == (False, True)
    assert 0.2 <= waited < 2


async def test_loops_stop_in_the_reverse_order_of_their_start() -> None:
    stopped: list[str] = []

    def loop_named(name: str) -> tuple[Loop, Background]:
        loop = Loop()

        def stop() -> None:
            stopped.append(name)
            loop.stop()

        return loop, Background(name, loop.work, stop)

    async with AsyncExitStack() as stack:
        for name in ("consumer", "relay"):
            loop, made = loop_named(name)
            made.start(stack)
            await loop.started.wait()

    assert stopped == ["relay", "consumer"]


async def test_a_loop_that_failed_makes_the_check_say_why() -> None:
    async def fails() -> None:
        raise RuntimeError("the database went away")

    async with AsyncExitStack() as stack:
        failed = run_in_background(stack, "projector", fails)
        async with asyncio.timeout(2):
            while failed.running:
                await asyncio.sleep(0.01)

        reason = await failed.check()()

    assert reason == "projector stopped: RuntimeError('the database went away')"


async def test_a_loop_that_returned_makes_the_check_say_it_stopped() -> None:
    async def returns() -> None:
        return None

    async with AsyncExitStack() as stack:
        done = run_in_background(stack, "once", returns)
        async with asyncio.timeout(2):
            while done.running:
                await asyncio.sleep(0.01)

        assert await done.check()() == "once stopped"


async def test_a_loop_not_started_is_not_ready() -> None:
    async def never() -> None:
        return None

    assert await Background("idle", never).check()() == "idle has not started"


async def test_with_restart_a_failing_loop_is_started_again_and_stays_ready(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(background, "RESTART_SECONDS", 0.01)
    runs: list[int] = []
    third = asyncio.Event()

    async def flaky() -> None:
        runs.append(len(runs) + 1)
        if len(runs) < 3:
            raise ConnectionError(f"run {len(runs)} lost its connection")
        third.set()
        await asyncio.Event().wait()

    with caplog.at_level(logging.ERROR, logger=background.__name__):
        async with AsyncExitStack() as stack:
            kept = run_in_background(stack, "consumer", flaky, grace=0.1, restart=True)
            async with asyncio.timeout(2):
                await third.wait()

            assert kept.running
            assert await kept.check()() is None

    assert runs == [1, 2, 3]
    assert [r.getMessage() for r in caplog.records] == [
        "consumer failed; starting it again in 0s"
    ] * 2


async def test_without_restart_a_failing_loop_stays_dead() -> None:
    runs: list[int] = []

    async def fails() -> None:
        runs.append(1)
        raise ConnectionError("gone")

    async with AsyncExitStack() as stack:
        dead = run_in_background(stack, "consumer", fails)
        async with asyncio.timeout(2):
            while dead.running:
                await asyncio.sleep(0.01)

        # The task itself has ended with the error: nothing is left that could start it again.
        assert dead.task is not None and isinstance(dead.task.exception(), ConnectionError)
        assert runs == [1]
