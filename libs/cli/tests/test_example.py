"""The example `threadline up` loads (examples/salon): which directory, what the summary says,
and the assistant file's booking URL filled from the environment (the loading itself, over the
platform's gRPC APIs, is tested in tests/test_salon_example.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from threadline.cli.assistants import AssistantFileError, read_assistant_file
from threadline.cli.devstate import DevState, Ports, Secrets
from threadline.cli.example import BOOKINGS_URL, EXAMPLE, Loaded, example_directory
from threadline.cli.up import summary

SALON = Path(__file__).resolve().parents[3] / EXAMPLE
STATE = DevState(
    secrets=Secrets("app", "verify", "access", "dev-token"),
    ports=Ports(ingest=18080, session_grpc=15051, analytics_grpc=15052, sandbox=18090, ops={}),
    nats_url="nats://127.0.0.1:14222",
    database_url="postgresql://dev@127.0.0.1:15432/threadline",
)


def test_the_summary_says_what_was_loaded() -> None:
    loaded = Loaded("salon", "offline", ("salon",), 10, ("salon-booking",))
    line = loaded.describe()

    assert line == (
        "assistant salon (offline) answering from knowledge base salon (10 passages); "
        "flow salon-booking"
    )
    assert f"  example loaded                {line}" in summary(STATE, {}, line)
    assert "example loaded" not in summary(STATE)


def test_what_could_not_be_loaded_is_said_too() -> None:
    partly = Loaded("salon", "offline", problems=("knowledge not loaded: no database",))
    nothing = Loaded(problems=("examples/salon/assistant.yaml: model is required",))

    assert partly.describe() == "assistant salon (offline); knowledge not loaded: no database"
    assert nothing.describe() == "examples/salon/assistant.yaml: model is required"


def test_the_example_is_the_salon_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(SALON.parents[1])
    assert example_directory({}) == EXAMPLE
    assert example_directory({"THREADLINE_EXAMPLE": "none"}) is None
    assert example_directory({"THREADLINE_EXAMPLE": str(tmp_path)}) == tmp_path
    assert example_directory({"THREADLINE_EXAMPLE": str(tmp_path / "missing")}) is None
    monkeypatch.chdir(tmp_path)
    assert example_directory({}) is None  # not in a checkout: nothing to load


def test_the_salon_assistant_file_is_offline_with_its_booking_url_from_the_environment() -> None:
    url = "http://127.0.0.1:8090/examples/salon/bookings"

    request = read_assistant_file(SALON / "assistant.yaml", {BOOKINGS_URL: url})

    assistant = request.assistant
    assert (assistant.name, assistant.model, assistant.language) == ("salon", "offline", "pt")
    assert list(assistant.knowledge_bases) == ["salon"]
    [tool] = json.loads(assistant.http_tools_json)
    assert (tool["name"], tool["method"], tool["url"]) == ("book_appointment", "POST", url)
    assert tool["parameters"]["required"] == ["name", "service", "date", "time"]


def test_a_url_naming_an_unset_variable_is_refused_naming_it() -> None:
    with pytest.raises(AssistantFileError, match=f"http_tools\\[0\\].url names {BOOKINGS_URL}"):
        read_assistant_file(SALON / "assistant.yaml", {})
