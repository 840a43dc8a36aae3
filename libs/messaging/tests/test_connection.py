"""`connect_nats`: the one NATS connection of every service, named after it, reconnecting for as
long as the server is away (longer than nats.py's default of 60 attempts) and saying so."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from threadline.cli.embedded import EmbeddedNats
from threadline.messaging import connection
from threadline.messaging.connection import connect_nats
from threadline.testing import eventually, unique_id

NATS_PY_DEFAULT_ATTEMPTS = 60


async def test_the_client_is_named_after_the_service(nats_server_url: str) -> None:
    client = await connect_nats(nats_server_url, "tester")
    try:
        options = client.options
    finally:
        await client.close()

    assert options["name"] == "threadline-tester"
    assert options["max_reconnect_attempts"] == -1


@pytest.mark.integration  # it starts, stops and starts a nats-server of its own
@pytest.mark.timeout(120)
async def test_the_client_outlasts_a_long_outage_and_carries_on_when_the_server_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Quick attempts, so that more than nats.py's default number of them fit in a few seconds.
    monkeypatch.setattr(connection, "RECONNECT_WAIT", 0.05)
    caplog.set_level(logging.INFO, logger=connection.__name__)
    subject = unique_id("reconnect.")
    server = EmbeddedNats(tmp_path / "first")
    server.start()
    port = server.port
    client = await connect_nats(server.url, "tester")
    try:
        server.stop()
        await eventually(lambda: not client.is_connected, timeout=10)

        def failed_attempts() -> int:
            return sum(r.getMessage().startswith("NATS (tester): ") for r in caplog.records)

        # Twice as many failed attempts as nats.py's default allows, and still trying.
        await eventually(lambda: failed_attempts() > 2 * NATS_PY_DEFAULT_ATTEMPTS, timeout=60)
        assert not client.is_closed

        with EmbeddedNats(tmp_path / "second", port=port):
            await eventually(lambda: client.is_connected, timeout=20)
            received = await client.subscribe(subject)
            await client.publish(subject, b"after the outage")
            message = await received.next_msg(timeout=5)
    finally:
        await client.close()
        server.stop()

    assert message.data == b"after the outage"
    said = [r.getMessage() for r in caplog.records if not r.getMessage().startswith("NATS (")]
    assert said == [
        "NATS disconnected (tester); reconnecting until it is back",
        "NATS reconnected (tester)",
    ]
