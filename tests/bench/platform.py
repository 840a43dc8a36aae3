"""The platform as the benchmarks run it: five service processes, embedded servers, and the
WhatsApp sandbox in the benchmark's own process (so reply times are read off its clock)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from threadline.cli.devstate import DevState
from threadline.cli.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from threadline.cli.supervisor import Supervisor
from threadline.cli.up import (
    PROCESSES,
    environment,
    plan,
    start_embedded_servers,
    wait_until_ready,
)
from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.server import Sandbox

# What each extra instance of a service must not share with the first: its listening ports.
# Ingest and the gateway are left out: their HTTP ports would need a balancer in front. Extra
# session instances share the partitions of the facts (THREADLINE_SESSION_PARTITIONS, given to
# every service in `env`); gRPC calls go to the first.
SCALABLE: dict[str, tuple[str, ...]] = {
    "session": ("THREADLINE_SESSION_OPS_PORT", "THREADLINE_SESSION_GRPC_PORT"),
    "ai_responder": ("THREADLINE_AI_OPS_PORT", "THREADLINE_AI_GRPC_PORT"),
    "outbound": ("THREADLINE_OUTBOUND_OPS_PORT",),
    "analytics": ("THREADLINE_ANALYTICS_OPS_PORT", "THREADLINE_ANALYTICS_GRPC_PORT"),
}


@dataclass
class RunningPlatform:
    state: DevState
    sandbox: Sandbox
    env: Mapping[str, str]  # every service's environment
    supervisor: Supervisor | None = None
    servers: Mapping[str, int] = field(default_factory=dict)  # embedded NATS, PostgreSQL: pid
    nats_monitoring_url: str = ""  # the embedded NATS's; empty for a given one

    def pids(self) -> dict[str, int]:
        """Each service process's pid by name (`outbound`, `outbound-2`, ...)."""
        if self.supervisor is None:
            return {}
        return {
            child.name: child.process.pid
            for child in self.supervisor.children
            if child.process is not None and child.process.returncode is None
        }

    def watched(self) -> dict[str, int]:
        """The service processes and this one (`benchmark`: the load, and the sandbox)."""
        return {**self.pids(), "benchmark": os.getpid()}

    @property
    def media_root(self) -> Path:
        """Where outbound keeps customers' files (the filesystem media store)."""
        return Path(self.env["THREADLINE_MEDIA_ROOT"])


@asynccontextmanager
async def running_platform(
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    servers: tuple[str, str] | None = None,
    nats_namespace: str = "",
    sandbox: Callable[[SandboxConfig], SandboxConfig] = lambda config: config,
    instances: Mapping[str, int] | None = None,
) -> AsyncIterator[RunningPlatform]:
    """The platform as `threadline up` runs it, with `env` added to every service's
    environment; on the NATS and PostgreSQL URLs `servers` names (else the environment's, else
    embedded ones), its streams and subjects under `nats_namespace`; its sandbox's settings
    changed by `sandbox`; `instances` processes of the services in `SCALABLE` named there (one
    of every other), sharing their durable consumers as replicas in a deployment do."""
    unknown = set(instances or {}) - set(SCALABLE)
    if unknown:
        raise ValueError(f"instances: only {sorted(SCALABLE)} scale here, not {sorted(unknown)}")
    extra = env or {}
    with ExitStack() as stack:
        embedded: dict[str, int] = {}
        monitoring_url = ""
        if servers:
            nats_url, database_url = servers
        else:
            started = start_embedded_servers(stack, workdir)
            nats_url, database_url = started.nats_url, started.database_url
            embedded = _server_pids(started.embedded)
            monitoring_url = started.nats_monitoring_url
        state = plan(nats_url, database_url)
        # The benchmarks measure the platform, not a number's send budget: every number gets
        # the most Meta allows one (1,000 messages/s; 80 is outbound's default).
        service_env = {
            **environment(state),
            "THREADLINE_LOG_LEVEL": "WARNING",
            "THREADLINE_OUTBOUND_NUMBER_RATE": "1000",
            "THREADLINE_NATS_NAMESPACE": nats_namespace,
            # Customers' files in the run's own folder (not the working directory's).
            "THREADLINE_MEDIA_ROOT": str(workdir / "media"),
            **extra,
        }
        running = Sandbox(
            sandbox(
                SandboxConfig(
                    app_secret=state.secrets.app_secret,
                    access_token=state.secrets.access_token,
                    port=state.ports.sandbox,
                    webhook_url=state.webhook_url,
                    status_delay_ms=0,
                )
            )
        )
        await running.start()
        supervisor = Supervisor(max_restarts=0)
        extra_ready: list[str] = []
        for name, module, _, _ in PROCESSES:
            supervisor.add(name, [sys.executable, "-m", module], service_env)
            for k in range(2, (instances or {}).get(name, 1) + 1):
                own_ports = {variable: str(free_port(None)) for variable in SCALABLE[name]}
                extra_ready.append(f"http://127.0.0.1:{own_ports[SCALABLE[name][0]]}/readyz")
                supervisor.add(
                    f"{name}-{k}", [sys.executable, "-m", module], {**service_env, **own_ports}
                )
        await supervisor.start()
        try:
            await wait_until_ready(state)
            for url in extra_ready:
                await _ready(url, timeout=60.0)
            yield RunningPlatform(
                state=state,
                sandbox=running,
                env=service_env,
                supervisor=supervisor,
                servers=embedded,
                nats_monitoring_url=monitoring_url,
            )
        finally:
            await supervisor.stop()
            await running.stop()


def _server_pids(servers: Sequence[object]) -> dict[str, int]:
    """The embedded servers' processes by name: NATS's, and PostgreSQL's postmaster."""
    pids: dict[str, int] = {}
    for server in servers:
        if isinstance(server, EmbeddedNats) and server.pid is not None:
            pids["NATS"] = server.pid
        elif isinstance(server, EmbeddedPostgres) and server.pid is not None:
            pids["PostgreSQL"] = server.pid
    return pids


def nats_server(stack: ExitStack, workdir: Path) -> str:
    """The environment's NATS (`THREADLINE_NATS_URL`), else one embedded under `workdir`."""
    given = os.environ.get("THREADLINE_NATS_URL")
    return given or stack.enter_context(EmbeddedNats(workdir / "nats")).url


@asynccontextmanager
async def running_outbound(
    workdir: Path, *, nats_url: str, graph_api_url: str, env: Mapping[str, str]
) -> AsyncIterator[str]:
    """Outbound alone, as a process of its own sending to `graph_api_url`, with `env` added to
    its environment (namespace, access token, pacing); yields its ops URL once it is ready."""
    ops_port = free_port(None)
    service_env = {
        "THREADLINE_NATS_URL": nats_url,
        "THREADLINE_GRAPH_API_BASE_URL": graph_api_url,
        "THREADLINE_OUTBOUND_OPS_PORT": str(ops_port),
        "THREADLINE_MEDIA_ROOT": str(workdir / "media"),
        "THREADLINE_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    supervisor = Supervisor(max_restarts=0)
    supervisor.add("outbound", [sys.executable, "-m", "threadline.outbound"], service_env)
    await supervisor.start()
    ops_url = f"http://127.0.0.1:{ops_port}"
    try:
        await _ready(f"{ops_url}/readyz", timeout=60.0)
        yield ops_url
    finally:
        await supervisor.stop()


async def _ready(url: str, *, timeout: float) -> None:
    async with (
        asyncio.timeout(timeout),
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http,
    ):
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
