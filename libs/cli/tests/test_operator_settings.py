"""Where the operator commands find the platform, and how the replay shows its progress."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from threadline.analytics.application.write.rebuild import Progress
from threadline.cli.devstate import DevState, Ports, Secrets
from threadline.cli.endpoints import Endpoints
from threadline.cli.main import main
from threadline.cli.progress import ProgressBar, render
from threadline.cli.status import Targets
from threadline.servicekit.config import ConfigError


def saved_state(tmp_path: Path) -> Path:
    path = tmp_path / "dev.json"
    DevState(
        secrets=Secrets("app", "verify", "access", "dev-token"),
        ports=Ports(ingest=1, session_grpc=50151, analytics_grpc=3, sandbox=4, ops={}),
        nats_url="nats://127.0.0.1:4333",
        database_url="postgresql://dev@127.0.0.1:5433/threadline",
    ).save(path)
    return path


def test_a_running_platform_is_found_through_its_dev_state(tmp_path: Path) -> None:
    endpoints = Endpoints.resolve({}, saved_state(tmp_path))

    assert endpoints.session_address == "127.0.0.1:50151"
    assert endpoints.token == "dev-token"
    assert endpoints.database_url == "postgresql://dev@127.0.0.1:5433/threadline"


def test_the_environment_wins_over_the_dev_state(tmp_path: Path) -> None:
    env = {"THREADLINE_DATABASE_URL": "postgresql://ops@db/prod", "THREADLINE_API_TOKEN": "t"}

    endpoints = Endpoints.resolve(env, saved_state(tmp_path))

    assert endpoints.database_url == "postgresql://ops@db/prod" and endpoints.token == "t"


def test_a_setting_found_nowhere_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="THREADLINE_DATABASE_URL"):
        Endpoints.resolve({}, tmp_path / "absent.json")


def test_malformed_rates_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="THREADLINE_ANALYTICS_RATES"):
        Endpoints.resolve({"THREADLINE_ANALYTICS_RATES": "{"}, saved_state(tmp_path))


def test_the_command_reports_a_missing_setting_instead_of_failing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("THREADLINE_DATABASE_URL", "THREADLINE_SESSION_GRPC_ADDRESS"):
        monkeypatch.delenv(name, raising=False)

    code = main(["replay"])

    assert code == 2 and "THREADLINE_DATABASE_URL" in capsys.readouterr().err


def test_progress_shows_the_share_done_the_rate_and_the_time_left() -> None:
    progress = Progress("rebuilding", position=600, head=1000, events=500, resumed_from=100)

    line = render(progress, seconds=10.0)

    assert "56%" in line and "600/1,000" in line
    assert "50 ev/s" in line and "0:00:08 left" in line


def test_progress_into_a_file_is_a_line_per_phase_not_a_redrawn_bar() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, clock=iter([0.0, 1.0, 1.5, 2.0]).__next__)

    bar(Progress("rebuilding", 10, 100, 10, 0))
    bar(Progress("rebuilding", 20, 100, 20, 0))
    bar(Progress("done", 100, 100, 100, 0))

    lines = stream.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["rebuilding", "done"]
    assert "\r" not in stream.getvalue()


def test_status_finds_the_services_through_the_dev_state_or_the_environment(
    tmp_path: Path,
) -> None:
    state = tmp_path / "dev.json"
    DevState(
        secrets=Secrets("app", "verify", "access", "dev-token"),
        ports=Ports(1, 2, 3, 4, ops={"session": 19102, "gateway": 19106}),
        nats_url="nats://127.0.0.1:4333",
        database_url="postgresql://dev@127.0.0.1:5433/threadline",
    ).save(state)
    env = {
        "THREADLINE_GATEWAY_OPS_URL": "http://gateway:9106/",
        "THREADLINE_AI_OPS_PORT": "9999",
        "THREADLINE_NATS_NAMESPACE": "ns",
    }

    found = Targets.resolve(env, state)
    nowhere = Targets.resolve({}, tmp_path / "absent.json")

    assert found.ops["session"] == "http://127.0.0.1:19102"
    assert found.ops["gateway"] == "http://gateway:9106"
    assert found.ops["ai_responder"] == "http://127.0.0.1:9999"
    assert found.ops["ingest"] == "http://127.0.0.1:9101"  # not in dev.json: the standard port
    assert found.nats is not None and (found.nats.url, found.nats.namespace) == (
        "nats://127.0.0.1:4333",
        "ns",
    )
    assert nowhere.nats is None and nowhere.ops["outbound"] == "http://127.0.0.1:9104"
