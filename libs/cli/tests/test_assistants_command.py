"""`threadline assistants apply FILE.yaml` and `threadline assistants list` against the real
session service (gRPC, NATS, PostgreSQL), found as `threadline replay` finds the platform."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from threadline.cli.assistants import AssistantFileError, apply_assistant, read_assistant_file
from threadline.cli.devstate import DevState, Ports, Secrets
from threadline.cli.endpoints import SessionEndpoint
from threadline.cli.main import main
from threadline.servicekit.auth import hash_token
from threadline.session.bootstrap import bootstrap
from threadline.session.config import SessionConfig

ADMIN, READER = "assistants-admin", "assistants-reader"
NUMBER = "109000000000001"
SALON = f"""\
name: salon
model: openai:gpt-4.1-mini
system_prompt: |
  You are the assistant of Lina's Hair Salon. Be brief and friendly.
language: en
reply_delay_seconds: 2
business_numbers: ["{NUMBER}"]
"""


@pytest.fixture
async def session_address(
    database_url: str, nats_server_url: str, nats_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    config = SessionConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        database_url=database_url,
        api_tokens=f"{hash_token(ADMIN)}:read,write,admin:*;{hash_token(READER)}:read:{NUMBER}",
        grpc_port=0,
        ops_port=0,
    )
    async with AsyncExitStack() as stack:
        service = await bootstrap(config, stack)
        address = f"127.0.0.1:{service.grpc_port}"
        monkeypatch.setenv("THREADLINE_SESSION_GRPC_ADDRESS", address)
        monkeypatch.setenv("THREADLINE_API_TOKEN", ADMIN)
        yield address


def written(tmp_path: Path, text: str, name: str = "salon.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def threadline(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_apply_creates_then_leaves_unchanged_then_updates(
    session_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = written(tmp_path, SALON)

    created = await threadline("assistants", "apply", str(path), capsys=capsys)
    unchanged = await threadline("assistants", "apply", str(path), capsys=capsys)
    path.write_text(SALON.replace("Be brief", "Be very brief"), encoding="utf-8")
    updated = await threadline("assistants", "apply", str(path), capsys=capsys)

    assert created[:2] == (0, "created salon v1\n")
    assert unchanged[:2] == (0, "unchanged salon v1\n")
    assert updated[:2] == (0, "updated salon v2\n")


async def test_list_prints_a_table_of_the_assistants(
    session_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await threadline("assistants", "apply", str(written(tmp_path, SALON)), capsys=capsys)
    other = SALON.replace("name: salon", "name: clinic").replace(NUMBER, "109000000000002")
    await threadline("assistants", "apply", str(written(tmp_path, other, "c.yaml")), capsys=capsys)

    code, out, _ = await threadline("assistants", "list", capsys=capsys)

    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == [
        "NAME",
        "VERSION",
        "MODEL",
        "LANGUAGE",
        "DELAY",
        "NUMBERS",
        "PROMPT",
    ]
    assert lines[1].split()[:6] == [
        "clinic",
        "v1",
        "openai:gpt-4.1-mini",
        "en",
        "2s",
        "109000000000002",
    ]
    assert lines[2].split()[:6] == ["salon", "v1", "openai:gpt-4.1-mini", "en", "2s", NUMBER]
    assert "You are the assistant of Lina's Hair" in lines[2]


async def test_a_reader_sees_only_its_numbers_and_cannot_apply(
    session_address: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await threadline("assistants", "apply", str(written(tmp_path, SALON)), capsys=capsys)
    other = SALON.replace("name: salon", "name: clinic").replace(NUMBER, "109000000000002")
    await threadline("assistants", "apply", str(written(tmp_path, other, "c.yaml")), capsys=capsys)
    monkeypatch.setenv("THREADLINE_API_TOKEN", READER)

    listed = await threadline("assistants", "list", capsys=capsys)
    refused = await threadline("assistants", "apply", str(tmp_path / "salon.yaml"), capsys=capsys)

    assert [line.split()[0] for line in listed[1].splitlines()[1:]] == ["salon"]
    assert refused[0] == 1 and "PERMISSION_DENIED" in refused[2]


async def test_the_session_refuses_a_rule_naming_the_field(
    session_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = written(tmp_path, SALON.replace("reply_delay_seconds: 2", "reply_delay_seconds: 90"))

    code, out, err = await threadline("assistants", "apply", str(path), capsys=capsys)

    assert (code, out) == (1, "")
    assert "INVALID_ARGUMENT: reply_delay_seconds must be from 0 to 60" in err


def test_a_file_that_is_not_an_assistant_is_refused_by_key(tmp_path: Path) -> None:
    endpoint = SessionEndpoint("127.0.0.1:1", "unused")
    err = io.StringIO()

    code = apply_assistant(endpoint, written(tmp_path, "name: salon\nmodle: x\n"), err=err)

    assert code == 2 and "unknown key(s) ['modle']" in err.getvalue()
    for text, expected in [
        ("- a list\n", "must be a mapping"),
        ("name: salon\n", "model, system_prompt is required"),
        (SALON.replace('["109000000000001"]', "109000000000001"), "business_numbers must be"),
        (SALON.replace("reply_delay_seconds: 2", "reply_delay_seconds: soon"), "must be a number"),
        ("name: [unclosed\n", "cannot be read as YAML"),
    ]:
        with pytest.raises(AssistantFileError, match=expected):
            read_assistant_file(written(tmp_path, text))


def test_an_unset_delay_is_the_sessions_default_and_zero_is_kept(tmp_path: Path) -> None:
    unset = read_assistant_file(written(tmp_path, SALON.replace("reply_delay_seconds: 2\n", "")))
    zero = read_assistant_file(written(tmp_path, SALON.replace("seconds: 2", "seconds: 0")))

    assert not unset.reply_delay_set
    assert zero.reply_delay_set and zero.assistant.reply_delay_seconds == 0.0


def test_the_session_is_found_through_the_dev_state(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    DevState(
        secrets=Secrets("app", "verify", "access", "dev-token"),
        ports=Ports(ingest=1, session_grpc=50151, analytics_grpc=3, sandbox=4, ops={}),
        nats_url="nats://127.0.0.1:4333",
        database_url="postgresql://dev@127.0.0.1:5433/threadline",
    ).save(path)

    found = SessionEndpoint.resolve({}, path)

    assert found == SessionEndpoint("127.0.0.1:50151", "dev-token")


def test_a_missing_session_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("THREADLINE_SESSION_GRPC_ADDRESS", raising=False)

    code = main(["assistants", "list"])

    assert code == 2 and "THREADLINE_SESSION_GRPC_ADDRESS" in capsys.readouterr().err


def test_http_tools_in_the_file_go_to_the_session_as_json(tmp_path: Path) -> None:
    tools = """http_tools:
  - name: book_appointment
    description: Book an appointment.
    method: POST
    url: https://salon.example/api/bookings
    headers:
      Authorization: "Bearer ${SALON_API_TOKEN}"
    parameters:
      type: object
      properties:
        date: {type: string}
      required: [date]
"""
    request = read_assistant_file(written(tmp_path, SALON + tools))

    sent = json.loads(request.assistant.http_tools_json)
    assert sent[0]["headers"] == {"Authorization": "Bearer ${SALON_API_TOKEN}"}
    assert sent[0]["parameters"]["required"] == ["date"]
    with pytest.raises(AssistantFileError, match="http_tools must be a list of mappings"):
        read_assistant_file(written(tmp_path, SALON + "http_tools: [book]\n"))


def test_collect_fields_in_the_file_go_to_the_session_as_json(tmp_path: Path) -> None:
    fields = """collect:
  - {key: name, type: name, required: true}
  - key: service
    type: choice
    options: [{id: cut, title: Haircut}]
"""
    request = read_assistant_file(written(tmp_path, SALON + fields))

    sent = json.loads(request.assistant.collect_fields_json)
    assert sent == [
        {"key": "name", "type": "name", "required": True},
        {"key": "service", "type": "choice", "options": [{"id": "cut", "title": "Haircut"}]},
    ]
    with pytest.raises(AssistantFileError, match="collect must be a list of mappings"):
        read_assistant_file(written(tmp_path, SALON + "collect: [name]\n"))


def test_knowledge_bases_in_the_file_go_to_the_session(tmp_path: Path) -> None:
    request = read_assistant_file(
        written(tmp_path, SALON + "knowledge_bases: [salon-faq, prices]\n")
    )

    assert list(request.assistant.knowledge_bases) == ["salon-faq", "prices"]
    with pytest.raises(AssistantFileError, match="knowledge_bases must be a list of text"):
        read_assistant_file(written(tmp_path, SALON + "knowledge_bases: salon-faq\n"))
