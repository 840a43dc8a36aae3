"""Child processes with prefixed logs, restarted when they crash, stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
COLOURS = ("36", "35", "33", "32", "34", "31")


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)
    max_restarts: int = 5
    _stopping: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def add(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
        self.children.append(Child(name, argv, env))

    async def start(self) -> None:
        width = max(len(c.name) for c in self.children)
        for index, child in enumerate(self.children):
            colour = COLOURS[index % len(COLOURS)]
            prefix = (
                f"\x1b[{colour}m{child.name:<{width}}\x1b[0m | "
                if sys.stdout.isatty()
                else f"{child.name:<{width}} | "
            )
            self._tasks.append(asyncio.create_task(self._keep_running(child, prefix)))

    async def _keep_running(self, child: Child, prefix: str) -> None:
        while not self._stopping:
            child.process = await asyncio.create_subprocess_exec(
                *child.argv,
                env={**os.environ, **child.env},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            assert child.process.stdout is not None
            async for line in child.process.stdout:
                sys.stdout.write(prefix + line.decode(errors="replace"))
                sys.stdout.flush()
            code = await child.process.wait()
            if self._stopping:
                return
            if child.restarts >= self.max_restarts:
                log.error(
                    "%s exited with %s; giving up after %d restarts",
                    child.name,
                    code,
                    child.restarts,
                )
                return
            child.restarts += 1
            log.warning("%s exited with %s; restarting (%d)", child.name, code, child.restarts)
            await asyncio.sleep(min(2.0**child.restarts, 30.0))

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every child (each drains and stops gracefully), then kill stragglers."""
        self._stopping = True
        running = [
            c.process
            for c in self.children
            if c.process is not None and c.process.returncode is None
        ]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in running)), grace)
        except TimeoutError:
            for process in running:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
