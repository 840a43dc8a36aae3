"""The one way a service connects to NATS: reconnect forever, say so when the state changes."""

from __future__ import annotations

import logging

from nats.aio.client import Client as NatsClient

log = logging.getLogger(__name__)

RECONNECT_WAIT = 1  # seconds between attempts (nats.py's default is 2)


async def connect_nats(url: str, service: str) -> NatsClient:
    """A client named `threadline-<service>` that never gives up reconnecting.

    nats.py's default gives up after 60 attempts (about two minutes): a NATS restart that takes
    longer would leave the service alive but deaf. Every change of state is logged once.
    """
    client = NatsClient()

    async def on_error(error: Exception) -> None:
        log.warning("NATS (%s): %s", service, error)

    async def on_disconnected() -> None:
        if not client.is_closed:
            log.warning("NATS disconnected (%s); reconnecting until it is back", service)

    async def on_reconnected() -> None:
        log.info("NATS reconnected (%s)", service)

    await client.connect(
        url,
        name=f"threadline-{service}",
        max_reconnect_attempts=-1,
        reconnect_time_wait=RECONNECT_WAIT,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
    )
    return client
