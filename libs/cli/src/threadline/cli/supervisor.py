"""Child processes with prefixed logs, restarted when they crash, stopped together; and a watch
that restarts the embedded servers when they die.

A child's output is read in chunks and split into lines here, so a line of any length never
stops the reading (a stopped reader would leave the child blocked on its full pipe). Each line is
printed with the child's name, cut to `max_line_bytes` with a note of what was cut.

A child that exits while the platform runs is restarted, forever, after a delay that doubles
with each quick exit up to `max_delay` and starts again from `initial_delay` once the child ran
for `stable_after` seconds. Every exit is logged at ERROR with how many exits the child had
in the last `crash_window` seconds and the last lines it printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TextIO

log = logging.getLogger(__name__)
COLOURS = ("36", "35", "33", "32", "34", "31")
READ_CHUNK = 64 * 1024


@dataclass(frozen=True, kw_only=True)
class SupervisorSettings:
    """How children are restarted and how their output is printed."""

    initial_delay: float = 0.5
    max_delay: float = 30.0
    # A child that ran this long before exiting starts the back-off again from `initial_delay`.
    stable_after: float = 60.0
    # Exits counted in the ERROR line, and what "keeps crashing" means.
    crash_window: float = 300.0
    keeps_crashing_after: int = 3
    # Bytes of one output line printed; the rest is cut (and said so).
    max_line_bytes: int = 8 * 1024
    # Lines of a child's latest output repeated when it exits.
    last_lines: int = 8
    # Seconds the output of an exited child is still read (a grandchild may hold the pipe).
    drain_after_exit: float = 2.0

    def delay(self, quick_exits: int) -> float:
        """The wait before a restart after `quick_exits` exits in a row (1 for the first)."""
        exponent = max(0, quick_exits - 1)
        # min() before the power would overflow: 2.0 ** 2000 raises.
        if exponent >= 64:
            return self.max_delay
        return min(self.initial_delay * 2.0**exponent, self.max_delay)


@dataclass(frozen=True)
class Restart:
    """One restart of a child: why and after how long a wait."""

    exit: str
    ran_for: float
    delay: float


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    history: list[Restart] = field(default_factory=list)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=8))
    exits: deque[float] = field(default_factory=deque)
    quick_exits: int = 0


class LineCutter:
    """Splits a byte stream into lines (without their `\\n`), keeping at most `limit` bytes of
    each and counting the bytes cut; memory stays within `limit` whatever the line length."""

    def __init__(self, limit: int) -> None:
        self._limit = max(0, limit)
        self._head = bytearray()
        self._cut = 0
        self._open = False

    def feed(self, chunk: bytes) -> list[tuple[bytes, int]]:
        """The lines `chunk` completes, each as (kept bytes, number of bytes cut)."""
        lines: list[tuple[bytes, int]] = []
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            stop = len(chunk) if end < 0 else end
            room = self._limit - len(self._head)
            kept = min(room, stop - start)
            self._head += chunk[start : start + kept]
            self._cut += stop - start - kept
            self._open = True
            if end < 0:
                break
            lines.append(self._take())
            start = end + 1
        return lines

    def flush(self) -> list[tuple[bytes, int]]:
        """The last line when the stream ended without a newline."""
        return [self._take()] if self._open else []

    def _take(self) -> tuple[bytes, int]:
        line = (bytes(self._head), self._cut)
        self._head.clear()
        self._cut = 0
        self._open = False
        return line


def render(line: bytes, cut: int) -> str:
    text = line.decode(errors="replace")
    return f"{text} … [{cut:,} bytes cut]" if cut else text


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)
    settings: SupervisorSettings = field(default_factory=SupervisorSettings)
    # None: restart forever. A number: give up after that many restarts (benchmarks use 0).
    max_restarts: int | None = None
    # Where children's lines go; None: sys.stdout at the time of writing.
    output: TextIO | None = None
    _stopping: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _output_broken: bool = False

    def add(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
        child = Child(name, argv, env)
        child.recent = deque(maxlen=max(1, self.settings.last_lines))
        self.children.append(child)

    async def start(self) -> None:
        width = max(len(c.name) for c in self.children)
        try:
            colour = (self.output or sys.stdout).isatty()
        except (OSError, ValueError):
            colour = False
        for index, child in enumerate(self.children):
            prefix = (
                f"\x1b[{COLOURS[index % len(COLOURS)]}m{child.name:<{width}}\x1b[0m | "
                if colour
                else f"{child.name:<{width}} | "
            )
            task = asyncio.create_task(self._keep_running(child, prefix), name=child.name)
            self._tasks.append(task)

    async def _keep_running(self, child: Child, prefix: str) -> None:
        while not self._stopping:
            began = time.monotonic()
            try:
                outcome = await self._run_once(child, prefix)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # never let one failure end the supervision of a child
                log.exception("supervising %s failed", child.name)
                outcome = f"could not be run ({error})"
            if self._stopping:
                return
            if self.max_restarts is not None and child.restarts >= self.max_restarts:
                log.error("%s %s; giving up after %d restarts", child.name, outcome, child.restarts)
                return
            delay = self._note_exit(child, outcome, time.monotonic() - began)
            await asyncio.sleep(delay)

    async def _run_once(self, child: Child, prefix: str) -> str:
        """Run the child until it exits; how it ended."""
        try:
            process = await asyncio.create_subprocess_exec(
                *child.argv,
                env={**os.environ, **child.env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as error:
            return f"could not be started ({error})"
        child.process = process
        child.recent.clear()  # the last lines shown when it exits are this run's
        if self._stopping:  # stop() ran while the process was being created
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        assert process.stdout is not None
        reader = asyncio.create_task(self._pump(process.stdout, child, prefix))
        try:
            code = await process.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reader), self.settings.drain_after_exit)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        return describe_exit(code)

    async def _pump(self, stream: asyncio.StreamReader, child: Child, prefix: str) -> None:
        """Print the child's output line by line until it closes; never stops early."""
        cutter = LineCutter(self.settings.max_line_bytes)
        while chunk := await stream.read(READ_CHUNK):
            for line, cut in cutter.feed(chunk):
                self._print(child, prefix, render(line, cut))
        for line, cut in cutter.flush():
            self._print(child, prefix, render(line, cut))

    def _print(self, child: Child, prefix: str, text: str) -> None:
        child.recent.append(text)
        if self._output_broken:
            return
        output = self.output or sys.stdout
        line = f"{prefix}{text}\n"
        try:
            try:
                output.write(line)
            except UnicodeEncodeError:  # a terminal that cannot show every character
                encoding = getattr(output, "encoding", None) or "ascii"
                output.write(line.encode(encoding, errors="replace").decode(encoding))
            output.flush()
        except (OSError, ValueError):
            # A closed terminal or pipe: keep reading (the child must never block), stop printing.
            self._output_broken = True

    def _note_exit(self, child: Child, outcome: str, ran_for: float) -> float:
        """Record an unexpected exit, say so loudly, and return the delay before the restart."""
        now = time.monotonic()
        settings = self.settings
        child.quick_exits = 1 if ran_for >= settings.stable_after else child.quick_exits + 1
        delay = settings.delay(child.quick_exits)
        child.exits.append(now)
        while child.exits and child.exits[0] < now - settings.crash_window:
            child.exits.popleft()
        child.restarts += 1
        child.history.append(Restart(exit=outcome, ran_for=ran_for, delay=delay))
        count = len(child.exits)
        window = _duration(settings.crash_window)
        headline = (
            f"{child.name} keeps crashing: it {outcome} after {_duration(ran_for)}, "
            f"{count} exits in the last {window}"
            if count >= settings.keeps_crashing_after
            else f"{child.name} {outcome} after {_duration(ran_for)} "
            f"({count} exit{'s' if count != 1 else ''} in the last {window})"
        )
        lines = [f"{headline}; restarting it in {_duration(delay)} (restart {child.restarts})."]
        if child.recent:
            lines.append(f"  last lines of {child.name}:")
            lines += [f"    {_shorten(text)}" for text in child.recent]
        else:
            lines.append(f"  {child.name} printed nothing before it ended.")
        log.error("%s", "\n".join(lines))
        return delay

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every child (each drains and stops gracefully), then kill stragglers."""
        self._stopping = True
        running = self._running()
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
        # A child started while the others were stopping.
        for process in self._running():
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    def _running(self) -> list[asyncio.subprocess.Process]:
        return [
            c.process
            for c in self.children
            if c.process is not None and c.process.returncode is None
        ]


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else f"{text[:limit]} … [{len(text) - limit:,} more]"


class WatchedServer(Protocol):
    """A server the platform cannot run without (the embedded NATS and PostgreSQL)."""

    @property
    def name(self) -> str: ...

    def alive(self) -> bool:
        """Whether its process still runs."""
        ...

    def answers(self) -> bool:
        """Whether it accepts connections on its port."""
        ...

    def restart(self) -> None:
        """Stop what is left of it and start it again: same port, same data."""
        ...


@dataclass(frozen=True, kw_only=True)
class WatchSettings:
    interval: float = 1.0
    # Checks in a row without an answer, while the process runs, before it counts as hung.
    unanswered_checks: int = 10
    restart_attempts: int = 3
    retry_delay: float = 2.0


class ServerWatch:
    """Checks each server every `interval`; restarts one that died or stopped answering.

    `run()` returns only when a server could not be restarted, with a message saying so; the
    platform must then stop. `stop()` ends the watch (before the servers are stopped).
    """

    def __init__(
        self,
        servers: Sequence[WatchedServer],
        settings: WatchSettings | None = None,
    ) -> None:
        self._servers = list(servers)
        self._settings = settings or WatchSettings()
        self._stopping = asyncio.Event()
        self._unanswered = dict.fromkeys(range(len(self._servers)), 0)
        self.restarts: dict[str, int] = {server.name: 0 for server in self._servers}

    async def run(self) -> str:
        while not self._stopping.is_set():
            for index, server in enumerate(self._servers):
                reason = await asyncio.to_thread(self._problem, index, server)
                if reason is None or self._stopping.is_set():
                    continue
                failure = await self._restart(server, reason)
                if failure is not None:
                    return failure
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._settings.interval)
        return ""

    async def stop(self) -> None:
        self._stopping.set()

    def _problem(self, index: int, server: WatchedServer) -> str | None:
        if not server.alive():
            self._unanswered[index] = 0
            return "its process is gone"
        if server.answers():
            self._unanswered[index] = 0
            return None
        self._unanswered[index] += 1
        checks = self._unanswered[index]
        if checks < self._settings.unanswered_checks:
            return None
        self._unanswered[index] = 0
        return f"it has not accepted connections for {checks} checks in a row"

    async def _restart(self, server: WatchedServer, reason: str) -> str | None:
        self.restarts[server.name] += 1
        log.error(
            "embedded %s stopped serving (%s): restarting it on the same port with the same "
            "data (restart %d)",
            server.name,
            reason,
            self.restarts[server.name],
        )
        attempts = max(1, self._settings.restart_attempts)
        error: Exception | None = None
        for attempt in range(1, attempts + 1):
            if self._stopping.is_set():
                return None
            try:
                await asyncio.to_thread(server.restart)
            except Exception as failed:
                error = failed
                log.error(
                    "restarting embedded %s failed (attempt %d of %d): %s",
                    server.name,
                    attempt,
                    attempts,
                    failed,
                )
                if attempt < attempts:
                    await asyncio.sleep(self._settings.retry_delay)
                continue
            log.warning("embedded %s is back; the services reconnect by themselves", server.name)
            return None
        return (
            f"embedded {server.name} stopped serving ({reason}) and could not be restarted "
            f"after {attempts} attempts: {str(error).rstrip('.')}"
        )
