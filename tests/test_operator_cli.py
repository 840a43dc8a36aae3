"""Issue 14 item 5: an operator's CLI against the whole platform (every service, the WhatsApp
sandbox): list and show conversations, send a text, buttons and a template, register and list
templates, hand off and resume, turn autopilot off and on, export — each a `threadline` command
through the services' gRPC; a refused token and an unknown conversation are one line each; a
text sent from the CLI is one trace down to the Graph API call."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_end_to_end import customer_number, customer_writes
from threadline.cli.commands import queue_message
from threadline.cli.endpoints import SessionEndpoint
from threadline.cli.main import main
from threadline.contracts.analytics.v1 import analytics_pb2 as analytics_pb
from threadline.contracts.events.v1 import common_pb2
from threadline.testing import eventually


async def threadline(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def operator(platform: Platform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Platform:
    """The CLI pointed at the platform by the environment alone (no dev.json)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THREADLINE_SESSION_GRPC_ADDRESS", f"127.0.0.1:{platform.session_grpc_port}")
    monkeypatch.setenv(
        "THREADLINE_ANALYTICS_GRPC_ADDRESS", f"127.0.0.1:{platform.analytics_grpc_port}"
    )
    monkeypatch.setenv("THREADLINE_API_TOKEN", platform.api_token)
    return platform


async def test_an_operator_works_a_conversation_from_the_command_line(
    operator: Platform, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    wa_id = customer_number()
    await customer_writes(operator, wa_id, "do you open on Sundays?")
    listed: list[str] = []

    async def listed_once() -> bool:
        code, out, _ = await threadline("conversations", "list", "--customer", wa_id, capsys=capsys)
        listed[:] = out.splitlines()
        return code == 0 and len(listed) == 2

    await eventually(listed_once)
    header, row = listed
    assert header.split()[:4] == ["ID", "STATUS", "NUMBER", "CUSTOMER"]
    conversation = row.split()[0]
    assert row.split()[2:4] == [PHONE_NUMBER_ID, wa_id]

    code, out, _ = await threadline("conversations", "show", conversation, capsys=capsys)
    assert code == 0 and out.startswith(f"conversation {conversation}\n")
    assert "do you open on Sundays?" in out and f"customer {wa_id}" in out

    sent = await threadline("send", conversation, "--text", "Yes, 10 to 4.", capsys=capsys)
    buttons = await threadline(
        "send", conversation, "--text", "Book?", "--button", "yes:Yes", "--button", "No",
        capsys=capsys,
    )  # fmt: skip
    registered = await threadline(
        "templates", "register", "opening_hours", "--number", PHONE_NUMBER_ID,
        "--language", "en_US", "--category", "UTILITY", "--body", "Hi {{1}}, we open at {{2}}.",
        capsys=capsys,
    )  # fmt: skip
    templates = await threadline("templates", "list", "--number", PHONE_NUMBER_ID, capsys=capsys)
    template = await threadline(
        "send", conversation, "--template", "opening_hours", "--language", "en_US",
        "--param", "Ana", "--param", "10", capsys=capsys,
    )  # fmt: skip

    assert sent[0] == 0 and uuid.UUID(sent[1].strip())
    assert buttons[0] == 0 and template[0] == 0, (buttons, template)
    assert registered[:2] == (
        0,
        f"registered opening_hours (en_US, UTILITY, 2 parameters) for {PHONE_NUMBER_ID}\n",
    )
    assert "opening_hours" in templates[1] and "Hi {{1}}, we open at {{2}}." in templates[1]

    async def all_three_shown() -> bool:
        out = (await threadline("conversations", "show", conversation, capsys=capsys))[1]
        return "Yes, 10 to 4." in out and "[interactive]" in out and "[template]" in out

    await eventually(all_three_shown)

    handed = await threadline("handoff", conversation, "--reason", "wants a human", capsys=capsys)
    resumed = await threadline("resume", conversation, capsys=capsys)
    off = await threadline("autopilot", "off", PHONE_NUMBER_ID, capsys=capsys)
    on = await threadline("autopilot", "on", PHONE_NUMBER_ID, capsys=capsys)

    assert handed[0] == 0 and handed[1].startswith(f"{conversation} escalated")
    assert resumed[0] == 0 and resumed[1].startswith(f"{conversation} active")
    assert off[:2] == (0, f"autopilot off for {PHONE_NUMBER_ID}\n")
    assert on[:2] == (0, f"autopilot on for {PHONE_NUMBER_ID}\n")

    exported = tmp_path / "conversations.jsonl"
    code, _, err = await threadline(
        "export", "--format", "jsonl", "--customer", wa_id, "--output", str(exported),
        capsys=capsys,
    )  # fmt: skip
    assert (code, err) == (0, "")
    [line] = exported.read_text().splitlines()
    assert json.loads(line)["id"] == conversation
    assert not await asyncio.to_thread(lambda: list(tmp_path.glob("*.partial")))


async def test_an_unknown_conversation_and_a_refused_token_are_one_line_each(
    operator: Platform, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    unknown = str(uuid.uuid4())

    shown = await threadline("conversations", "show", unknown, capsys=capsys)
    handed = await threadline("handoff", unknown, capsys=capsys)
    monkeypatch.setenv("THREADLINE_API_TOKEN", "not-a-token")
    refused = await threadline("conversations", "list", capsys=capsys)
    sending = await threadline("send", unknown, "--text", "hi", capsys=capsys)

    for code, out, err in (shown, handed, refused, sending):
        assert code == 1 and out == "" and err.count("\n") == 1, (code, out, err)
    assert shown[2].startswith("threadline conversations show: NOT_FOUND: ")
    assert handed[2].startswith("threadline handoff: NOT_FOUND: ")
    assert refused[2].startswith("threadline conversations list: UNAUTHENTICATED: the token")
    assert sending[2].startswith("threadline send: UNAUTHENTICATED: ")


async def test_a_text_sent_from_the_cli_is_one_trace_with_its_graph_api_call(
    operator: Platform, spans: InMemorySpanExporter
) -> None:
    wa_id = customer_number()
    await customer_writes(operator, wa_id, "are you there?")
    await eventually(lambda: len(operator.sandbox.outbox.messages(to=wa_id)) == 1, timeout=20)
    listed = await operator.analytics.ListConversations(
        analytics_pb.ListConversationsRequest(customer_phone=wa_id), metadata=operator.auth
    )
    endpoint = SessionEndpoint(f"127.0.0.1:{operator.session_grpc_port}", operator.api_token)

    await queue_message(
        endpoint, listed.conversations[0].id, common_pb2.MessageContent(type="text", text="Yes!")
    )

    await eventually(lambda: len(operator.sandbox.outbox.messages(to=wa_id)) == 2, timeout=30)
    sent = operator.sandbox.outbox.messages(to=wa_id)[-1]
    trace_id = int(sent.trace_headers["traceparent"].split("-")[1], 16)

    def names() -> set[tuple[str, str]]:
        return {
            (s.instrumentation_scope.name if s.instrumentation_scope else "", s.name)
            for s in spans.get_finished_spans()
            if s.context is not None and s.context.trace_id == trace_id
        }

    await eventually(lambda: ("threadline.cli", "threadline send") in names(), timeout=10)
    assert any(name == "/threadline.session.v1.SessionCommands/SendMessage" for _, name in names())
