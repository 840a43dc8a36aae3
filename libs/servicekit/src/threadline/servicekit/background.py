"""Background loops on a service's exit stack: started once, stopped in order, seen by /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from threadline.servicekit.ops_http import ReadinessCheck

log = logging.getLogger(__name__)

GRACE_SECONDS = 5.0
RESTART_SECONDS = 1.0


@dataclass
class Background:
    """One loop run as a task until the stack unwinds (`stop()`, then `grace` seconds to
    finish, then cancelled). With `restart`, a loop that fails is started again after
    `RESTART_SECONDS` instead of staying dead."""

    name: str
    work: Callable[[], Awaitable[None]]
    stop: Callable[[], None] | None = None
    grace: float = GRACE_SECONDS
    restart: bool = False
    task: asyncio.Task[None] | None = field(default=None, init=False)

    def start(self, stack: AsyncExitStack) -> Background:
        self.task = asyncio.create_task(self._run(), name=self.name)
        stack.push_async_callback(self._finish)
        return self

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def check(self) -> ReadinessCheck:
        """Ready while the loop runs; else why it stopped."""

        async def check() -> str | None:
            task = self.task
            if task is None or not task.done():
                return None if task is not None else f"{self.name} has not started"
            error = None if task.cancelled() else task.exception()
            return f"{self.name} stopped: {error!r}" if error else f"{self.name} stopped"

        return check

    async def _run(self) -> None:
        while True:
            try:
                await self.work()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if not self.restart:
                    raise
                log.exception("%s failed; starting it again in %.0fs", self.name, RESTART_SECONDS)
                await asyncio.sleep(RESTART_SECONDS)

    async def _finish(self) -> None:
        task = self.task
        if task is None:
            return
        if self.stop is not None:
            self.stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("%s had failed", self.name)


def run_in_background(
    stack: AsyncExitStack,
    name: str,
    work: Callable[[], Awaitable[None]],
    *,
    stop: Callable[[], None] | None = None,
    grace: float = GRACE_SECONDS,
    restart: bool = False,
) -> Background:
    """Start `work()` as a task now; `stack` stops it (see `Background`)."""
    return Background(name, work, stop, grace, restart).start(stack)
