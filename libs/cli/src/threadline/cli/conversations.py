"""`threadline conversations list / show` and `threadline export`: the read models, through the
analytics service's gRPC (`ConversationQueries`, `Metrics.ExportConversations`) with a `read`
token, as the gateway's REST API reads them.

`list` is a table, newest activity first, filtered as the REST API's list is (status, number,
customer, assistant) a page at a time; `show ID` prints the conversation and its messages;
`export --format csv|jsonl` streams the analytics export to stdout or `--output FILE`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO
from uuid import UUID

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.cli.columns import columns
from threadline.cli.endpoints import AnalyticsEndpoint
from threadline.cli.failures import USAGE, one_line
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc as pb_grpc

TIMEOUT = 10.0
EXPORT_TIMEOUT = 600.0
MAX_PAGE_SIZE = 100
PREVIEW_CHARS = 60
EXPORT_FORMATS = ("csv", "jsonl")


@dataclass(frozen=True, slots=True)
class Filters:
    status: str = ""
    number: str = ""
    customer: str = ""
    assistant: str = ""


def _metadata(endpoint: AnalyticsEndpoint) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {endpoint.token}"),)


def _when(stamp: Timestamp) -> str:
    if not stamp.seconds:
        return "-"
    return stamp.ToDatetime().strftime("%Y-%m-%d %H:%M")


def conversation_table(conversations: list[pb.Conversation]) -> str:
    if not conversations:
        return "no conversations\n"
    rows = [("ID", "STATUS", "NUMBER", "CUSTOMER", "MSGS", "AI", "LAST", "PREVIEW")]
    for c in conversations:
        preview = one_line(c.last_message_preview, PREVIEW_CHARS)
        rows.append(
            (
                c.id,
                c.status,
                c.business_number,
                c.lead.wa_id or c.lead.user_id or "-",
                str(c.message_count),
                "paused" if c.ai_paused else "on",
                _when(c.last_message_at),
                preview,
            )
        )
    return columns(rows)


def list_conversations(
    endpoint: AnalyticsEndpoint,
    filters: Filters,
    *,
    page: int = 1,
    size: int = 20,
    out: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    request = pb.ListConversationsRequest(
        page=max(1, page),
        size=max(1, min(size, MAX_PAGE_SIZE)),
        status=filters.status,
        business_number=filters.number,
        customer_phone=filters.customer,
        assistant=filters.assistant,
    )
    with grpc.insecure_channel(endpoint.address) as channel:
        answer = pb_grpc.ConversationQueriesStub(channel).ListConversations(
            request, metadata=_metadata(endpoint), timeout=TIMEOUT
        )
    out.write(conversation_table(list(answer.conversations)))
    shown = len(answer.conversations)
    if answer.total > shown:
        first = (answer.page - 1) * answer.size + 1
        out.write(f"({first}-{first + shown - 1} of {answer.total}; --page for more)\n")
    return 0


def show_conversation(
    endpoint: AnalyticsEndpoint,
    conversation_id: str,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if not _is_uuid(conversation_id):
        err.write(f"threadline conversations show: not a conversation id: {conversation_id!r}\n")
        return USAGE
    with grpc.insecure_channel(endpoint.address) as channel:
        answer = pb_grpc.ConversationQueriesStub(channel).GetConversation(
            pb.GetConversationRequest(conversation_id=conversation_id),
            metadata=_metadata(endpoint),
            timeout=TIMEOUT,
        )
    c = answer.conversation
    customer = c.lead.wa_id or c.lead.user_id or "-"
    out.write(
        f"conversation {c.id}\n"
        f"  status {c.status}, AI {'paused (handed off)' if c.ai_paused else 'on'}"
        f", number {c.business_number}, customer {customer}"
        f"{f' ({c.lead.name})' if c.lead.name else ''}\n"
        f"  {c.message_count} messages, created {_when(c.created_at)}"
        f", last {_when(c.last_message_at)}, cost {c.cost:.4f}\n"
    )
    for message in answer.messages:
        said = message.content if message.type == "text" else f"[{message.type}] {message.content}"
        out.write(
            f"{_when(message.created_at)}  {message.author or message.role:<8}"
            f"  {message.status:<9}  {one_line(said, 300)}\n"
        )
    return 0


def export(
    endpoint: AnalyticsEndpoint,
    export_format: str,
    filters: Filters,
    *,
    include_messages: bool = False,
    output: Path | None = None,
    out: BinaryIO | None = None,
) -> int:
    """Stream the export into `output` (written whole or not at all), else into `out`."""
    if export_format not in EXPORT_FORMATS:
        sys.stderr.write(f"threadline export: --format is one of {', '.join(EXPORT_FORMATS)}\n")
        return USAGE
    request = pb.ExportConversationsRequest(
        filter=pb.ConversationFilter(
            status=filters.status,
            business_number=filters.number,
            customer_phone=filters.customer,
            assistant=filters.assistant,
        ),
        format=export_format,
        include_messages=include_messages,
    )
    with grpc.insecure_channel(endpoint.address) as channel:
        chunks: Iterator[pb.ExportChunk] = pb_grpc.MetricsStub(channel).ExportConversations(
            request, metadata=_metadata(endpoint), timeout=EXPORT_TIMEOUT
        )
        if output is None:
            sink = out or sys.stdout.buffer
            for chunk in chunks:
                sink.write(chunk.data)
            sink.flush()
            return 0
        partial = output.with_name(output.name + ".partial")
        try:
            with partial.open("wb") as sink_file:
                for chunk in chunks:
                    sink_file.write(chunk.data)
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)
    return 0


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True
