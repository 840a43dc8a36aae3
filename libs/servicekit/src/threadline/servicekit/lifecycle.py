"""Running a service until a signal asks it to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

log = logging.getLogger(__name__)

Starter = Callable[[AsyncExitStack], Awaitable[None]]


async def serve_until_stopped(name: str, start: Starter) -> None:
    """Start a service inside an exit stack, wait for SIGINT/SIGTERM, then unwind it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        await start(stack)
        log.info("%s started", name)
        await stop.wait()
        log.info("%s stopping", name)
    log.info("%s stopped", name)


def run(name: str, start: Starter) -> None:
    """The body of every service's `main()`."""
    asyncio.run(serve_until_stopped(name, start))
