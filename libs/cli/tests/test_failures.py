"""Every command fails with one line and a non-zero exit when the platform is down; each reads
only the settings it uses; `--version` names the installed package's version."""

from __future__ import annotations

import asyncio
import io
import socket
from importlib import metadata
from pathlib import Path

import nats
import pytest

from threadline.cli import commands, send
from threadline.cli.devstate import STATE_FILE, DevState, Ports, Secrets
from threadline.cli.embedded import EmbeddedNats
from threadline.cli.endpoints import NatsEndpoint
from threadline.cli.events import tail_events
from threadline.cli.failures import PlatformDown
from threadline.cli.main import main
from threadline.messaging.topology import Topology, ensure_streams
from threadline.testing import eventually

CONVERSATION = "00000000-0000-0000-0000-000000000000"
GROUPS = {"events", "tokens", "assistants", "flows", "webhooks", "kb", "dlq", "conversations"}
GROUPS |= {"templates"}


def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def platform_down(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every setting, and the dev.json of a `threadline up` that is gone, point at a port where
    nothing listens."""
    monkeypatch.chdir(tmp_path)
    # A process has one tracer provider, set once: a `send` run here must not install the
    # CLI's before the platform tests (run in the same process) install theirs.
    for module in (commands, send):
        monkeypatch.setattr(module, "ensure_tracing", lambda service: None)
    port = closed_port()
    down = f"127.0.0.1:{port}"
    DevState(
        secrets=Secrets("app", "verify", "access", "dev-token"),
        ports=Ports(port, port, port, port, ops={"session": port}, gateway=port),
        nats_url=f"nats://{down}",
        database_url=f"postgresql://nobody@{down}/nothing",
    ).save(STATE_FILE)
    for name, value in {
        "THREADLINE_SESSION_GRPC_ADDRESS": down,
        "THREADLINE_ANALYTICS_GRPC_ADDRESS": down,
        "THREADLINE_AI_GRPC_ADDRESS": down,
        "THREADLINE_API_TOKEN": "some-token",
        "THREADLINE_NATS_URL": f"nats://{down}",
        "THREADLINE_DATABASE_URL": f"postgresql://nobody@{down}/nothing",
        "THREADLINE_GATEWAY_URL": f"http://{down}",
    }.items():
        monkeypatch.setenv(name, value)


def test_version_is_the_installed_packages(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out == f"threadline {metadata.version('threadline-cli')}\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["events", "show", CONVERSATION],
        ["events", "tail"],
        ["replay"],
        ["tokens", "list"],
        ["assistants", "list"],
        ["flows", "list"],
        ["webhooks", "list"],
        ["kb", "list"],
        ["dlq", "list"],
        ["dlq", "show", "1"],
        ["dlq", "redrive", "--all"],
        ["conversations", "list"],
        ["conversations", "show", CONVERSATION],
        ["templates", "list", "--number", "109000000000001"],
        ["send", CONVERSATION, "--text", "hello"],
        ["send", CONVERSATION, "--template", "hello", "--language", "en_US", "--param", "Ana"],
        ["autopilot", "on", "109000000000001"],
        ["handoff", CONVERSATION],
        ["resume", CONVERSATION],
        ["export", "--format", "jsonl"],
        ["demo", "--timeout", "2"],
    ],
    ids=" ".join,
)
def test_with_the_platform_down_a_command_says_so_in_one_line(
    argv: list[str], platform_down: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(argv)

    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    label = " ".join(argv[:2]) if argv[0] in GROUPS else argv[0]
    assert err.startswith(f"threadline {label}: "), err


def test_status_shows_every_part_down_and_exits_non_zero(
    platform_down: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["status"])

    out, err = capsys.readouterr()
    assert code == 1 and err == ""
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:-1]}
    assert rows["NATS"] == "down"
    assert all(rows[service] == "down" for service in ("ingest", "session", "gateway"))
    assert out.splitlines()[-1].startswith("down: ingest, session")


def test_bad_arguments_are_refused_in_one_line_with_the_usage_status(
    platform_down: None, capsys: pytest.CaptureFixture[str]
) -> None:
    nothing = main(["send", CONVERSATION])
    lonely = main(["send", CONVERSATION, "--param", "x", "--text", "hi"])
    buttons = main(["send", CONVERSATION, "--text", "pick", *["--button", "a"] * 4])
    which = main(["dlq", "redrive"])

    err = capsys.readouterr().err
    assert (nothing, lonely, buttons, which) == (2, 2, 2, 2)
    assert err.count("\n") == 4 and "Traceback" not in err
    assert "say what to send" in err and "--param goes with --template" in err


def test_events_show_needs_no_database_url(
    platform_down: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("THREADLINE_DATABASE_URL")
    monkeypatch.delenv("THREADLINE_NATS_URL")
    STATE_FILE.unlink()

    code = main(["events", "show", CONVERSATION])

    err = capsys.readouterr().err
    assert code == 1 and "UNAVAILABLE" in err and "DATABASE_URL" not in err


def test_a_missing_setting_is_named_with_the_usage_status(
    platform_down: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("THREADLINE_NATS_URL")
    STATE_FILE.unlink()

    code = main(["events", "tail"])

    assert code == 2 and "THREADLINE_NATS_URL" in capsys.readouterr().err


@pytest.mark.integration  # it starts and stops a nats-server of its own
@pytest.mark.timeout(60)
async def test_events_tail_stops_with_a_clear_message_when_nats_goes_away(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        setup = await nats.connect(server.url)
        await ensure_streams(setup.jetstream(), Topology())
        await setup.close()
        following = asyncio.ensure_future(tail_events(NatsEndpoint(server.url), out=io.StringIO()))
        await asyncio.sleep(0.5)
        assert not following.done()
    finally:
        server.stop()

    await eventually(following.done, timeout=30)
    with pytest.raises(PlatformDown, match="lost NATS"):
        following.result()
