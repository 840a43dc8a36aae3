"""How every `threadline` command fails: one line on stderr and a non-zero exit, never a traceback.

`explain` turns what a command raises when the platform is down or refuses it (a gRPC status,
a NATS error, a refused connection, a database that is not there, a missing setting) into that
line; `main` calls it around every command. `THREADLINE_DEBUG=1` shows the traceback as well.
`connect` is the CLI's NATS connection: unlike a service's, it gives up at once when the server
is not there, and says when an established connection is lost for good.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import grpc
import nats.errors
import nats.js.errors
import psycopg
from nats.aio.client import Client as NatsClient

from threadline.servicekit.config import ConfigError

USAGE = 2  # a setting is missing or malformed (argparse's own status for bad arguments)
FAILED = 1
INTERRUPTED = 130
LINE_CHARS = 400
CONNECT_TIMEOUT = 3
RECONNECT_ATTEMPTS = 3  # an established connection: ~3 s of outage before giving up

_SPACES = re.compile(r"\s+")

# What the codes whose details are technical mean to an operator; other codes' details (the
# service's own reason: NOT_FOUND, PERMISSION_DENIED, INVALID_ARGUMENT, ...) say it themselves.
_GRPC_MEANING = {
    grpc.StatusCode.UNAVAILABLE: "the platform is unreachable",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the platform did not answer in time",
    grpc.StatusCode.UNAUTHENTICATED: "the token was refused (check THREADLINE_API_TOKEN)",
}


class PlatformDown(Exception):
    """A part of the platform the command needs does not answer; the message names it."""


@dataclass(frozen=True, slots=True)
class Failure:
    line: str
    status: int


def one_line(text: str, limit: int = LINE_CHARS) -> str:
    """`text` on one line, bounded."""
    clean = _SPACES.sub(" ", text).strip()
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def explain(error: BaseException) -> Failure | None:
    """The one line (without the command's name) and the exit status for `error`; None for
    what is not a known failure (a bug: the caller still reports it on one line)."""
    if isinstance(error, ConfigError):
        return Failure(one_line(str(error)), USAGE)
    if isinstance(error, grpc.RpcError):
        # A sync call's error is a grpc.Call; grpc.aio's AioRpcError is not, but answers alike.
        code = error.code() if hasattr(error, "code") else None
        details = str(error.details() or "") if hasattr(error, "details") else ""
        name = code.name if code is not None else "ERROR"
        meaning = _GRPC_MEANING.get(code) if code is not None else None
        said = f"{meaning}: {details}" if meaning and details else meaning or details or name
        return Failure(one_line(f"{name}: {said}"), FAILED)
    if isinstance(error, PlatformDown):
        return Failure(one_line(str(error)), FAILED)
    if isinstance(error, nats.errors.NoServersError):
        return Failure("NATS is unreachable (no server answered; is the platform up?)", FAILED)
    if isinstance(error, nats.js.errors.ServiceUnavailableError):
        return Failure("JetStream is not available on this NATS server", FAILED)
    if isinstance(error, nats.js.errors.NotFoundError):
        return Failure(one_line(f"not found on NATS: {error.description or error}"), FAILED)
    if isinstance(error, nats.errors.TimeoutError | TimeoutError):
        return Failure("the platform did not answer in time", FAILED)
    if isinstance(error, nats.errors.Error):
        return Failure(one_line(f"NATS: {error}"), FAILED)
    if isinstance(error, psycopg.OperationalError):
        return Failure(one_line(f"the database is unreachable: {error}"), FAILED)
    if isinstance(error, psycopg.Error):
        return Failure(one_line(f"database: {error}"), FAILED)
    if isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError):
        return Failure(one_line(str(error)), FAILED)
    if isinstance(error, ConnectionError | OSError):
        return Failure(one_line(f"unreachable: {error}"), FAILED)
    return None


async def connect(url: str, name: str, lost: asyncio.Event | None = None) -> NatsClient:
    """A NATS client that fails at once (PlatformDown) when no server answers at `url`, and,
    once connected, gives up after a few reconnect attempts, setting `lost`."""
    client = NatsClient()

    async def quiet(_: Exception) -> None:  # nats.py prints tracebacks by default
        return None

    async def closed() -> None:
        if lost is not None:
            lost.set()

    try:
        await client.connect(
            url,
            name=name,
            connect_timeout=CONNECT_TIMEOUT,
            max_reconnect_attempts=RECONNECT_ATTEMPTS,
            reconnect_time_wait=1,
            allow_reconnect=True,
            error_cb=quiet,
            closed_cb=closed,
        )
    except (TimeoutError, nats.errors.NoServersError, OSError) as error:
        raise PlatformDown(f"NATS at {url} is unreachable (is the platform up?)") from error
    return client
