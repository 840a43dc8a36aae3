"""`threadline dlq list / show / redrive` over real NATS JetStream: the table, one dead letter's
headers and payload, a re-drive that reaches the original subject once however often it is run,
and a truncated dead letter refused with a clear line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as Nats
from nats.js import JetStreamContext

from threadline.cli.main import main
from threadline.messaging.bus import JetStreamBus
from threadline.messaging.dead_letters import dead_letter
from threadline.messaging.topology import INGEST_EVENTS, Topology, ensure_streams


class SmallBus(JetStreamBus):
    """As if the server took messages of 8 KiB at most: a larger dead letter is cut."""

    @property
    def max_payload(self) -> int:
        return 8 * 1024


@pytest.fixture
async def js(
    nats_server_url: str, nats_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[JetStreamContext]:
    client: Nats = await nats.connect(nats_server_url)
    topology = Topology(nats_namespace)
    await ensure_streams(client.jetstream(), topology)
    monkeypatch.setenv("THREADLINE_NATS_URL", nats_server_url)
    monkeypatch.setenv("THREADLINE_NATS_NAMESPACE", nats_namespace)
    yield client.jetstream()
    for config in topology.stream_configs():
        await client.jetstream().delete_stream(config.name or "")
    await client.close()


async def threadline(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def dead_letters(js: JetStreamContext, topology: Topology) -> None:
    """Two whole dead letters of the session (reasons bad_input, unsettled), one cut."""
    subject = topology.subject("ingest.events", "109", "InboundMessageReceived")
    for sequence, (slug, data, bus) in enumerate(
        (
            ("bad_input", b"first fact", JetStreamBus(js)),
            ("unsettled", b"second fact", JetStreamBus(js)),
            ("too_large", b"x" * 20_000, SmallBus(js)),
        ),
        start=3,
    ):
        await dead_letter(
            bus,
            topology,
            service="session",
            slug=slug,
            reason=f"could not: {slug}",
            subject=subject,
            data=data,
            headers={"Nats-Msg-Id": f"fact-{slug}", "Threadline-Event-Id": slug},
            stream=topology.stream(INGEST_EVENTS),
            sequence=sequence,
        )


async def published(js: JetStreamContext, topology: Topology) -> list[bytes]:
    stream = topology.stream(INGEST_EVENTS)
    info = await js.stream_info(stream)
    found = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages:
            found.append((await js.get_msg(stream, sequence)).data or b"")
    return found


async def test_list_show_and_redrive_once(
    js: JetStreamContext, nats_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topology = Topology(nats_namespace)
    await dead_letters(js, topology)

    code, out, _ = await threadline("dlq", "list", capsys=capsys)
    header, first, _, cut = out.splitlines()
    assert code == 0
    assert header.split() == ["SEQ", "TIME", "SERVICE", "REASON", "SIZE", "ORIGINAL", "SUBJECT"]
    assert first.split()[3:6] == ["session", "bad_input", "10"]
    assert first.split()[-1] == topology.subject("ingest.events.109.InboundMessageReceived")
    assert "(cut)" in cut and "too_large" in cut
    sequence = first.split()[0]

    code, out, _ = await threadline("dlq", "show", sequence, capsys=capsys)
    assert code == 0 and out.endswith("\nfirst fact\n")
    assert "Threadline-Dead-Reason: could not: bad_input" in out
    assert "Threadline-Original-Msg-Id: fact-bad_input" in out

    code, out, err = await threadline("dlq", "redrive", "--seq", sequence, capsys=capsys)
    again = await threadline("dlq", "redrive", "--seq", sequence, capsys=capsys)
    assert (code, err) == (0, "")
    assert out.startswith(f"redriven {sequence} (session/bad_input) → ")
    assert again[0] == 1 and f"no dead letter at sequence {sequence}" in again[2]
    assert await published(js, topology) == [b"first fact"]

    code, out, err = await threadline("dlq", "redrive", "--all", capsys=capsys)
    twice = await threadline("dlq", "redrive", "--all", capsys=capsys)

    assert code == 1  # the cut one is refused, and kept
    assert out.startswith("redriven ") and "(session/unsettled)" in out
    assert err.count("\n") == 1 and "(session/too_large) refused: truncated" in err
    assert twice[0] == 1 and twice[1] == "" and "refused: truncated" in twice[2]
    assert await published(js, topology) == [b"first fact", b"second fact"]
    remaining = await threadline("dlq", "list", capsys=capsys)
    assert len(remaining[1].splitlines()) == 2 and "too_large" in remaining[1]


async def test_redrive_by_reason_and_an_unknown_sequence(
    js: JetStreamContext, nats_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topology = Topology(nats_namespace)
    await dead_letters(js, topology)

    code, out, _ = await threadline("dlq", "redrive", "--reason", "unsettled", capsys=capsys)
    missing = await threadline("dlq", "show", "999999", capsys=capsys)
    filtered = await threadline("dlq", "list", "--reason", "bad_input", capsys=capsys)

    assert code == 0 and "(session/unsettled)" in out and out.count("\n") == 1
    assert await published(js, topology) == [b"second fact"]
    assert missing[0] == 1 and missing[2].startswith("threadline dlq show: no dead letter at")
    assert len(filtered[1].splitlines()) == 2 and "bad_input" in filtered[1]
