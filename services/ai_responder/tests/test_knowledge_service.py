"""The `KnowledgeBases` gRPC service of the AI responder over real servers (NATS, the machine's
PostgreSQL: exact search where it lacks pgvector) with the offline embedder, and `threadline kb`
against it. Documents stay small: the offline embedder embeds some passages a second."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from threadline.ai_responder.adapters.inbound.grpc_api import MAX_CHUNK
from threadline.ai_responder.bootstrap import bootstrap
from threadline.ai_responder.config import AiResponderConfig
from threadline.cli.main import main
from threadline.contracts.knowledge.v1 import knowledge_pb2 as pb
from threadline.contracts.knowledge.v1 import knowledge_pb2_grpc as pb_grpc
from threadline.servicekit.auth import hash_token
from threadline.testing.grpc_fuzz import request_bytes, requests
from threadline.testing.grpc_surface import FAILURES, GrpcMethod, knowledge_methods

WRITER, READER = "kb-writer", "kb-reader"
HOURS_MD = """\
# Lina's Hair Salon

## Horário de funcionamento

Abrimos de terça a sábado, das 9h às 19h. Aos domingos e segundas estamos fechados.

## Parking

There is free parking behind the salon, entrance on Rua das Flores.
"""
PRICES = ("Prices: a women's cut costs 35 euros.", "Colouring starts at 60 euros.")


def pdf_of(lines: tuple[str, ...]) -> bytes:
    """A real PDF, one line of text per page (as pypdf writes it)."""
    writer = PdfWriter()
    for line in lines:
        page = writer.add_blank_page(width=300, height=200)
        font = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        content = DecodedStreamObject()
        content.set_data(f"BT /F1 12 Tf 20 100 Td ({line}) Tj ET".encode())
        page[NameObject("/Contents")] = writer._add_object(content)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@pytest.fixture
async def address(
    database_url: str, nats_server_url: str, nats_namespace: str
) -> AsyncIterator[str]:
    config = AiResponderConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        ops_port=0,
        database_url=database_url,
        grpc_port=0,
        api_tokens=f"{hash_token(WRITER)}:read,write:*;{hash_token(READER)}:read:*",
    )
    async with AsyncExitStack() as stack:
        running = await bootstrap(config, stack)
        assert running.knowledge is not None and running.grpc_port
        yield f"127.0.0.1:{running.grpc_port}"


@pytest.fixture
async def stub(address: str) -> AsyncIterator[pb_grpc.KnowledgeBasesAsyncStub]:
    async with grpc.aio.insecure_channel(address) as channel:
        yield pb_grpc.KnowledgeBasesStub(channel)


def auth(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def document(
    base: str, name: str, content_type: str, data: bytes
) -> Iterator[pb.AddDocumentRequest]:
    header = pb.AddDocumentHeader(knowledge_base=base, document=name, content_type=content_type)
    yield pb.AddDocumentRequest(header=header)
    for start in range(0, len(data), MAX_CHUNK):
        yield pb.AddDocumentRequest(chunk=data[start : start + MAX_CHUNK])


async def test_documents_are_added_searched_in_portuguese_replaced_and_removed(
    stub: pb_grpc.KnowledgeBasesAsyncStub,
) -> None:
    added = await stub.AddDocument(
        document("salon", "faq.md", "text/markdown", HOURS_MD.encode()), metadata=auth(WRITER)
    )
    prices = await stub.AddDocument(
        document("salon", "prices.pdf", "application/pdf", pdf_of(PRICES)), metadata=auth(WRITER)
    )
    assert (added.document, added.replaced) == ("faq.md", False) and added.passages >= 1
    assert prices.passages >= 1 and not prices.replaced

    found = await stub.Search(
        pb.SearchRequest(knowledge_bases=["salon"], question="Qual é o horário de vocês?", k=3),
        metadata=auth(READER),
    )
    assert not found.abstained
    best = found.passages[0]
    assert (best.knowledge_base, best.document) == ("salon", "faq.md")
    assert "9h às 19h" in best.text and best.similarity > 0

    cut = await stub.Search(
        pb.SearchRequest(knowledge_bases=["salon"], question="How much is a women's cut?"),
        metadata=auth(READER),
    )
    assert cut.passages[0].document == "prices.pdf" and "35 euros" in cut.passages[0].text

    # Re-adding the document replaces its passages: the old hours are gone.
    again = await stub.AddDocument(
        document("salon", "faq.md", "text/plain", "Abrimos todos os dias das 10h às 20h.".encode()),
        metadata=auth(WRITER),
    )
    assert again.replaced and again.passages == 1
    listed = await stub.ListDocuments(
        pb.ListDocumentsRequest(knowledge_base="salon"), metadata=auth(READER)
    )
    assert [(d.document, d.passages) for d in listed.documents] == [
        ("faq.md", 1),
        ("prices.pdf", prices.passages),
    ]
    hours = await stub.Search(
        pb.SearchRequest(knowledge_bases=["salon"], question="Qual é o horário de vocês?"),
        metadata=auth(READER),
    )
    assert all("9h às 19h" not in p.text for p in hours.passages)
    assert "10h às 20h" in hours.passages[0].text

    removed = await stub.RemoveDocument(
        pb.RemoveDocumentRequest(knowledge_base="salon", document="faq.md"), metadata=auth(WRITER)
    )
    gone = await stub.RemoveDocument(
        pb.RemoveDocumentRequest(knowledge_base="salon", document="faq.md"), metadata=auth(WRITER)
    )
    assert removed.removed and not gone.removed
    every = await stub.ListDocuments(pb.ListDocumentsRequest(), metadata=auth(READER))
    assert [d.document for d in every.documents] == ["prices.pdf"]


async def test_callers_and_requests_are_checked(stub: pb_grpc.KnowledgeBasesAsyncStub) -> None:
    search = pb.SearchRequest(knowledge_bases=["salon"], question="horário?")
    with pytest.raises(grpc.aio.AioRpcError) as no_token:
        await stub.Search(search)
    assert no_token.value.code() == grpc.StatusCode.UNAUTHENTICATED

    with pytest.raises(grpc.aio.AioRpcError) as reader_adds:
        await stub.AddDocument(
            document("salon", "a.txt", "text/plain", b"hi"), metadata=auth(READER)
        )
    assert reader_adds.value.code() == grpc.StatusCode.PERMISSION_DENIED

    with pytest.raises(grpc.aio.AioRpcError) as bad_type:
        await stub.AddDocument(
            document("salon", "a.docx", "application/msword", b"x" * 3 * MAX_CHUNK),
            metadata=auth(WRITER),
        )
    assert bad_type.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "header.content_type" in (bad_type.value.details() or "")

    with pytest.raises(grpc.aio.AioRpcError) as bad_name:
        await stub.AddDocument(
            document("No Spaces", "a.txt", "text/plain", b"hi"), metadata=auth(WRITER)
        )
    assert bad_name.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "header.knowledge_base" in (bad_name.value.details() or "")

    with pytest.raises(grpc.aio.AioRpcError) as no_bases:
        await stub.Search(pb.SearchRequest(question="horário?"), metadata=auth(READER))
    assert "knowledge_bases" in (no_bases.value.details() or "")

    with pytest.raises(grpc.aio.AioRpcError) as big_k:
        await stub.Search(
            pb.SearchRequest(knowledge_bases=["salon"], question="horário?", k=99),
            metadata=auth(READER),
        )
    assert big_k.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "k " in (
        big_k.value.details() or ""
    )

    nothing = await stub.ListDocuments(pb.ListDocumentsRequest(), metadata=auth(READER))
    assert list(nothing.documents) == []


async def test_the_kb_commands_add_list_and_search(
    address: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("THREADLINE_AI_GRPC_ADDRESS", address)
    monkeypatch.setenv("THREADLINE_API_TOKEN", WRITER)
    faq = tmp_path / "faq.md"
    faq.write_text(HOURS_MD, encoding="utf-8")
    prices = tmp_path / "prices.pdf"
    prices.write_bytes(pdf_of(PRICES))

    assert await asyncio.to_thread(main, ["kb", "add", "salon", str(faq), str(prices)]) == 0
    out = capsys.readouterr().out
    assert "added salon/faq.md (" in out and "added salon/prices.pdf (" in out

    assert await asyncio.to_thread(main, ["kb", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["KNOWLEDGE", "BASE", "DOCUMENT", "PASSAGES"]
    assert [line.split()[:2] for line in table[1:]] == [
        ["salon", "faq.md"],
        ["salon", "prices.pdf"],
    ]

    assert (
        await asyncio.to_thread(main, ["kb", "search", "salon", "--", "Qual", "é", "o", "horário?"])
        == 0
    )
    first = capsys.readouterr().out.splitlines()
    assert first[0].startswith("1. salon/faq.md #") and "score" in first[0]
    assert "9h às 19h" in first[1]

    assert (
        await asyncio.to_thread(
            main, ["kb", "search", "salon", "--question", "women's cut price", "-k", "1"]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("1. salon/prices.pdf #")

    notes = tmp_path / "notes.docx"
    notes.write_bytes(b"x")
    assert await asyncio.to_thread(main, ["kb", "add", "salon", str(notes)]) == 2
    assert ".pdf" in capsys.readouterr().err


async def test_broken_document_streams_are_refused_naming_the_problem(
    stub: pb_grpc.KnowledgeBasesAsyncStub,
) -> None:
    header = pb.AddDocumentRequest(
        header=pb.AddDocumentHeader(
            knowledge_base="salon", document="a.pdf", content_type="application/pdf"
        )
    )
    chunk = pb.AddDocumentRequest(chunk=b"%PDF-1.4 not really")
    for parts, named in (
        ([chunk], "header"),
        ([header, header, chunk], "header"),
        ([], "header"),
        ([header], "chunk"),
        ([header, chunk], "a.pdf"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.AddDocument(iter(parts), metadata=auth(WRITER))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, parts
        assert named in (refused.value.details() or ""), (parts, refused.value.details())
    listed = await stub.ListDocuments(pb.ListDocumentsRequest(), metadata=auth(READER))
    assert list(listed.documents) == []


KNOWN = ["salon", "faq.md", "horário"]


def any_method_and_request(raw: bool) -> st.SearchStrategy[tuple[GrpcMethod, Any]]:
    """A method of KnowledgeBases and a hostile request (or bytes) for it."""

    def calls(method: GrpcMethod) -> st.SearchStrategy[tuple[GrpcMethod, Any]]:
        made: st.SearchStrategy[Any] = (
            request_bytes(method.request, known=KNOWN)
            if raw
            else requests(method.request, known=KNOWN)
        )
        return st.tuples(st.just(method), made)

    return st.one_of([calls(method) for method in knowledge_methods()])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(call_=st.one_of(any_method_and_request(raw=False), any_method_and_request(raw=True)))
async def test_no_request_ends_in_a_failure(address: str, call_: tuple[GrpcMethod, Any]) -> None:
    method, request = call_
    async with grpc.aio.insecure_channel(address) as channel:
        outcome = await method.call(channel, request, metadata=auth(WRITER))

    event(f"{method.name}: {outcome.code.name}")
    assert outcome.code not in FAILURES, (method.name, outcome)
    assert len(outcome.details.encode()) <= 1024


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(question=st.text(max_size=300), k=st.integers(0, 20))
async def test_any_question_is_searched_or_refused(address: str, question: str, k: int) -> None:
    request = pb.SearchRequest(knowledge_bases=["salon", "prices"], question=question, k=k)
    method = next(m for m in knowledge_methods() if m.name == "Search")
    async with grpc.aio.insecure_channel(address) as channel:
        outcome = await method.call(channel, request, metadata=auth(READER))

    event(outcome.code.name)
    assert outcome.code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), outcome
