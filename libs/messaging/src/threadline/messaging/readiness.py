"""The readiness check every service that talks to NATS serves on `/readyz`."""

from __future__ import annotations

from nats.aio.client import Client as NatsClient

from threadline.servicekit.ops_http import ReadinessCheck


def nats_connected(client: NatsClient) -> ReadinessCheck:
    """Ready while the NATS connection is up (None), else what is wrong."""

    async def check() -> str | None:
        return None if client.is_connected else "NATS is not connected"

    return check
