"""`threadline status`: every part's health at a glance, as a table; exit 1 when one is down.

- Each service's `/healthz` (the process answers) and `/readyz` (its dependencies and loops are
  fine; the problems it names otherwise) on its ops port.
- NATS reachable, and from JetStream directly: each durable consumer's lag (messages pending,
  delivered but not acknowledged, redelivered) and `DEAD_LETTERS`' depth.
- The session's outbox relay, when its `/metrics` shows it: events stored but not yet published.

Where the services are: `THREADLINE_<SERVICE>_OPS_URL` (e.g. `http://session:9102`), else the
port of `THREADLINE_<SERVICE>_OPS_PORT` or of a running `threadline up` (its dev.json), else the
standard one, on `THREADLINE_OPS_HOST` (127.0.0.1). NATS: `THREADLINE_NATS_URL` or dev.json.
Dead letters waiting do not make the exit status non-zero (`threadline dlq list` shows them).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

import aiohttp
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import NotFoundError

from threadline.cli.columns import columns
from threadline.cli.devstate import STATE_FILE, DevState
from threadline.cli.endpoints import NatsEndpoint
from threadline.cli.failures import PlatformDown, connect, explain, one_line
from threadline.messaging.topology import DEAD_LETTERS, DURABLES, Durable, Topology

# (service, its ops variable's infix, standard ops port): as `threadline up` runs them.
SERVICES = (
    ("ingest", "INGEST", 9101),
    ("session", "SESSION", 9102),
    ("ai_responder", "AI", 9103),
    ("outbound", "OUTBOUND", 9104),
    ("analytics", "ANALYTICS", 9105),
    ("gateway", "GATEWAY", 9106),
)
PROBE_SECONDS = 3.0
DETAIL_CHARS = 160
RELAY_METRICS = ("threadline_relay_pending_events", "threadline_relay_seconds_behind")


@dataclass(frozen=True, slots=True)
class Row:
    part: str
    state: str  # up, down, ok, absent, a count
    detail: str = ""
    down: bool = False


@dataclass(frozen=True, slots=True)
class Targets:
    ops: Mapping[str, str]  # service → its ops base URL
    nats: NatsEndpoint | None

    @classmethod
    def resolve(cls, env: Mapping[str, str], state_file: Path = STATE_FILE) -> Targets:
        try:
            state: DevState | None = DevState.load(state_file)
        except (FileNotFoundError, KeyError, ValueError, TypeError):
            state = None
        host = env.get("THREADLINE_OPS_HOST", "127.0.0.1")
        ops = {}
        for service, infix, standard in SERVICES:
            url = env.get(f"THREADLINE_{infix}_OPS_URL", "")
            port = env.get(f"THREADLINE_{infix}_OPS_PORT", "") or (
                str(state.ports.ops.get(service, standard)) if state else str(standard)
            )
            ops[service] = url.rstrip("/") or f"http://{host}:{port}"
        nats_url = env.get("THREADLINE_NATS_URL") or (state.nats_url if state else "")
        nats = (
            NatsEndpoint(nats_url, env.get("THREADLINE_NATS_NAMESPACE", "")) if nats_url else None
        )
        return cls(ops, nats)


async def probe_service(http: aiohttp.ClientSession, service: str, base: str) -> Row:
    try:
        async with http.get(f"{base}/healthz") as health:
            if health.status != 200:
                return Row(service, "down", f"{base}/healthz answered {health.status}", True)
        async with http.get(f"{base}/readyz") as ready:
            body = await ready.text()
            if ready.status == 200:
                return Row(service, "up", f"ready ({base})")
            problems = _problems(body)
            return Row(service, "not ready", one_line(problems, DETAIL_CHARS), True)
    except aiohttp.ClientConnectorError as error:
        cause = error.os_error.strerror or str(error.os_error)
        return Row(service, "down", one_line(f"{base}: unreachable ({cause})", DETAIL_CHARS), True)
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        said = str(error) or type(error).__name__
        return Row(service, "down", one_line(f"{base}: {said}", DETAIL_CHARS), True)


def _problems(body: str) -> str:
    try:
        problems = json.loads(body).get("problems", {})
    except (ValueError, AttributeError):
        return body
    if isinstance(problems, dict):
        return "; ".join(f"{name}: {problem}" for name, problem in problems.items())
    return str(problems)


async def relay_row(http: aiohttp.ClientSession, base: str) -> Row | None:
    """The session's relay, from its /metrics; None when they do not show it."""
    try:
        async with http.get(f"{base}/metrics") as answer:
            if answer.status != 200:
                return None
            text = await answer.text()
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None
    values: dict[str, float] = {}
    for line in text.splitlines():
        for name in RELAY_METRICS:
            if line.startswith(name + "{") or line.startswith(name + " "):
                try:
                    values[name] = values.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
                except ValueError:
                    continue
    if RELAY_METRICS[0] not in values:
        return None
    pending = int(values[RELAY_METRICS[0]])
    behind = values.get(RELAY_METRICS[1], 0.0)
    return Row(
        "relay (session)",
        "ok" if pending == 0 else "behind",
        f"pending {pending}, {behind:.1f} s behind",
    )


async def jetstream_rows(endpoint: NatsEndpoint) -> list[Row]:
    try:
        client = await connect(endpoint.url, "threadline-status")
    except PlatformDown as error:
        return [Row("NATS", "down", str(error), True)]
    rows = [Row("NATS", "up", endpoint.url)]
    topology = Topology(endpoint.namespace)
    try:
        js = client.jetstream()
        for durable, info in await consumers(js, topology):
            stream = topology.stream(durable.stream)
            if info is None:
                rows.append(Row(f"consumer {durable.name}", "absent", f"on {stream}: not made yet"))
                continue
            pending, acks = info.num_pending or 0, info.num_ack_pending or 0
            redelivered = info.num_redelivered or 0
            rows.append(
                Row(
                    f"consumer {durable.name}",
                    "ok" if pending + acks == 0 else "lagging",
                    f"pending {pending}, ack pending {acks}, redelivered {redelivered}",
                )
            )
        try:
            dead = await js.stream_info(topology.stream(DEAD_LETTERS))
            depth = int(dead.state.messages or 0)
            rows.append(
                Row(
                    "dead letters",
                    str(depth),
                    "`threadline dlq list` shows them" if depth else "none waiting",
                )
            )
        except NotFoundError:
            rows.append(Row("dead letters", "absent", "no DEAD_LETTERS stream yet"))
    except Exception as error:
        failure = explain(error)
        rows.append(
            Row("JetStream", "down", failure.line if failure else one_line(str(error)), True)
        )
    finally:
        await client.close()
    return rows


async def gather(targets: Targets) -> list[Row]:
    timeout = aiohttp.ClientTimeout(total=PROBE_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        services = asyncio.gather(
            *(probe_service(http, service, base) for service, base in targets.ops.items())
        )
        relay = relay_row(http, targets.ops["session"]) if "session" in targets.ops else None
        if targets.nats is None:
            nats_rows: Sequence[Row] = [
                Row("NATS", "unknown", "THREADLINE_NATS_URL is not set (nor a dev.json)", True)
            ]
            found = await services
        else:
            found, nats_rows = await asyncio.gather(services, jetstream_rows(targets.nats))
        relayed = await relay if relay is not None else None
    rows = [*found, *nats_rows]
    if relayed is not None:
        rows.append(relayed)
    return rows


def render(rows: Sequence[Row]) -> str:
    return columns([("PART", "STATE", "DETAIL"), *((r.part, r.state, r.detail) for r in rows)])


def run(env: Mapping[str, str], *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    rows = asyncio.run(gather(Targets.resolve(env)))
    out.write(render(rows))
    down = [row.part for row in rows if row.down]
    if down:
        out.write(f"down: {', '.join(down)}\n")
        return 1
    return 0


async def consumers(
    js: JetStreamContext, topology: Topology
) -> list[tuple[Durable, ConsumerInfo | None]]:
    """Every durable of the topology with what the server says of it (None: not made yet);
    the session's, when its facts are partitioned, as the server holds them (`<name>-p<k>`)."""
    found: list[tuple[Durable, ConsumerInfo | None]] = []
    for durable in DURABLES:
        stream = topology.stream(durable.stream)
        try:
            found.append((durable, await js.consumer_info(stream, durable.name)))
            continue
        except NotFoundError:
            pass
        try:
            on_stream = await js.consumers_info(stream)
        except NotFoundError:
            on_stream = []  # no stream yet
        prefix = f"{durable.name}-p"
        partitions = [
            info
            for info in on_stream
            if info.name.startswith(prefix) and info.name[len(prefix) :].isdigit()
        ]
        partitions.sort(key=lambda info: int(info.name[len(prefix) :]))
        found += [(replace(durable, name=info.name), info) for info in partitions]
        if not partitions:
            found.append((durable, None))
    return found
