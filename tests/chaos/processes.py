"""The processes a chaos run kills: the five services, NATS and PostgreSQL.

Services run as `python -m threadline.<service>` children with their output in a log file each
(files, not pipes: nothing can block on a full pipe). A service that exits while nobody killed
it is restarted after a short back-off, as `threadline up` does, and counted: that is a finding
worth reading in the summary, not a failure by itself.

The embedded servers are the ones `threadline up` uses (`threadline.cli.embedded`); they are
crashed with SIGKILL (PostgreSQL: the postmaster and every backend) and started again on the same
port and data folder. Their processes are found through /proc, so nothing here depends on the
servers' private attributes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp

from threadline.cli.embedded import EmbeddedNats, EmbeddedPostgres

log = logging.getLogger("chaos")

RESTART_BACKOFF = (0.5, 1.0, 2.0, 4.0)  # after unplanned exits, then 4 s each time


@dataclass
class Service:
    """One service process, its ops port (for /readyz) and what happened to it."""

    name: str
    module: str
    ops_port: int
    env: Mapping[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    planned_down: bool = False
    kills: int = 0
    starts: int = 0
    unplanned_exits: list[tuple[float, int]] = field(default_factory=list)
    _log: IO[bytes] | None = None

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        if self._log is None:
            self._log = self.log_path.open("ab")
        self._log.write(f"\n==== chaos: start #{self.starts + 1} at {time.time():.3f}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C reaches only the chaos runner
        )
        self.starts += 1
        self.planned_down = False

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or acked."""
        self.planned_down = True
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.kills += 1

    def stop(self, grace: float = 10.0) -> None:
        self.planned_down = True
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def exited(self) -> int | None:
        """The exit code of a process that ended while it should be running, else None."""
        if self.planned_down or self.process is None:
            return None
        return self.process.poll()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class Services:
    """The five service processes, kept running unless killed on purpose."""

    def __init__(self, services: list[Service]) -> None:
        self.by_name = {service.name: service for service in services}
        self._watch: asyncio.Task[None] | None = None

    def __iter__(self) -> Iterator[Service]:
        return iter(self.by_name.values())

    def start_all(self) -> None:
        for service in self:
            service.start()
        self._watch = asyncio.create_task(self._keep_running(), name="chaos watch")

    async def _keep_running(self) -> None:
        """Restart a service that exited unasked, with a short back-off (as the supervisor
        of `threadline up` does)."""
        while True:
            await asyncio.sleep(0.2)
            for service in self:
                code = service.exited()
                if code is None:
                    continue
                service.unplanned_exits.append((time.monotonic(), code))
                exits = len(service.unplanned_exits)
                delay = RESTART_BACKOFF[min(exits, len(RESTART_BACKOFF)) - 1]
                log.warning(
                    "%s exited by itself (code %s): restarting in %.1fs", service.name, code, delay
                )
                service.planned_down = True
                await asyncio.sleep(delay)
                service.start()

    async def wait_ready(self, timeout: float, names: list[str] | None = None) -> float:
        """Until every service (or those named) answers 200 on /readyz; how long it took."""
        began = time.monotonic()
        deadline = began + timeout
        wanted = [self.by_name[n] for n in names] if names else list(self)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            for service in wanted:
                url = f"http://127.0.0.1:{service.ops_port}/readyz"
                while True:
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        async with http.get(url) as response:
                            if response.status == 200:
                                break
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"{service.name} was not ready within {timeout:.0f}s; its log ends "
                            f"with:\n{service.log_tail()}"
                        )
                    await asyncio.sleep(0.2)
        return time.monotonic() - began

    async def stop_all(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await asyncio.gather(*(asyncio.to_thread(s.stop) for s in self))


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped counts as dead: it holds no port and no memory)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _pids_running(needle: str) -> list[int]:
    """Processes whose command line contains `needle` (a path unique to this run)."""
    found = []
    for pid in _pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if needle.encode() in cmdline and _alive(pid):
            found.append(pid)
    return found


def _kill_and_wait(pids: list[int], timeout: float = 10.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {pids} survived SIGKILL for {timeout:.0f}s")
        time.sleep(0.02)


class CrashableNats:
    """Embedded NATS on a fixed port and data folder, crashed with SIGKILL and started again."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.server = EmbeddedNats(data_dir, port=port)
        self.kills = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server.start(timeout=30.0)

    def crash(self) -> None:
        pids = _pids_running(str(self.data_dir / "jetstream"))
        if not pids:
            raise RuntimeError("nats-server of this run is not running")
        _kill_and_wait(pids)
        self.server.stop()  # reaps the child; it is gone already
        self.kills += 1

    def stop(self) -> None:
        self.server.stop()


class CrashablePostgres:
    """Embedded PostgreSQL crashed by SIGKILL of the postmaster and every backend (so it
    recovers from its WAL on the next start), started again on the same port."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.server = EmbeddedPostgres(data_dir, port=port)
        self.kills = 0

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.server.start()

    def crash(self) -> None:
        try:
            postmaster = int((self.server.pgdata / "postmaster.pid").read_text().split("\n")[0])
        except (OSError, ValueError) as error:
            raise RuntimeError(f"PostgreSQL of this run is not running: {error}") from None
        # Frozen first, so no backend is forked between the scan and the kill.
        os.kill(postmaster, signal.SIGSTOP)
        children = [pid for pid in _pids() if _parent(pid) == postmaster]
        _kill_and_wait([postmaster, *children])
        with _quiet("threadline.cli.embedded"):
            self.server.stop()  # pg_ctl finds no server; this only marks it stopped
        self.kills += 1

    def stop(self) -> None:
        self.server.stop()


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    target = logging.getLogger(logger)
    level = target.level
    target.setLevel(logging.ERROR)
    try:
        yield
    finally:
        target.setLevel(level)
