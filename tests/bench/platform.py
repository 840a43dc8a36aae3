"""The platform as the benchmarks run it: five service processes, embedded servers, and the
WhatsApp sandbox in the benchmark's own process (so reply times are read off its clock)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from threadline.cli.devstate import DevState
from threadline.cli.supervisor import Supervisor
from threadline.cli.up import PROCESSES, environment, plan, start_servers, wait_until_ready
from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.server import Sandbox


@dataclass
class RunningPlatform:
    state: DevState
    sandbox: Sandbox


@asynccontextmanager
async def running_platform(
    workdir: Path, *, env: Mapping[str, str] | None = None
) -> AsyncIterator[RunningPlatform]:
    """The platform as `threadline up` runs it, with `env` added to every service's
    environment."""
    extra = env or {}
    with ExitStack() as servers:
        nats_url, database_url = start_servers(servers, workdir)
        state = plan(nats_url, database_url)
        # The benchmarks measure the platform, not a number's send budget: every number gets
        # the most Meta allows one (1,000 messages/s; 80 is outbound's default).
        service_env = {
            **environment(state),
            "THREADLINE_LOG_LEVEL": "WARNING",
            "THREADLINE_OUTBOUND_NUMBER_RATE": "1000",
            **extra,
        }
        sandbox = Sandbox(
            SandboxConfig(
                app_secret=state.secrets.app_secret,
                access_token=state.secrets.access_token,
                port=state.ports.sandbox,
                webhook_url=state.webhook_url,
                status_delay_ms=0,
            )
        )
        await sandbox.start()
        supervisor = Supervisor(max_restarts=0)
        for name, module, _, _ in PROCESSES:
            supervisor.add(name, [sys.executable, "-m", module], service_env)
        await supervisor.start()
        try:
            await wait_until_ready(state)
            yield RunningPlatform(state=state, sandbox=sandbox)
        finally:
            await supervisor.stop()
            await sandbox.stop()
