"""A conversation's attachments through the gateway, over real NATS and PostgreSQL: the list
from analytics and each file streamed from the media store, behind the same tokens and scopes.

The session records a customer's media as outbound reports it kept (`MediaKept`), so the tests
put the bytes in a filesystem store under `tmp_path` (the gateway's store) and publish that fact
as outbound would; analytics projects the attachment from the session's events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from uuid import uuid4

import aiohttp
import nats
import pytest
from nats.js import JetStreamContext

from threadline.analytics.bootstrap import bootstrap as start_analytics
from threadline.analytics.config import AnalyticsConfig
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.events.v1 import common_pb2, ingest_pb2, outbound_pb2
from threadline.gateway.adapters.inbound.http.files import (
    content_disposition,
    content_type_of,
    download_name,
)
from threadline.gateway.bootstrap import bootstrap as start_gateway
from threadline.gateway.config import GatewayConfig
from threadline.media import FilesystemMediaStore, StoredMedia
from threadline.messaging.topology import (
    INBOUND_MESSAGE_RECEIVED,
    MEDIA_KEEP_FAILED,
    MEDIA_KEPT,
    Topology,
)
from threadline.servicekit.auth import TokenRegistry, hash_token
from threadline.session.bootstrap import bootstrap as start_session
from threadline.session.config import SessionConfig
from threadline.session.domain.identity import inbound_message_id
from threadline.testing import eventually

NUMBER = "pn-gallery-1"
OTHER_NUMBER = "pn-gallery-2"
READER = "gallery-reader-of-every-number"
TENANT = "gallery-reader-of-the-other-number"
TOKENS = f"{hash_token(READER)}:read,write:*;{hash_token(TENANT)}:read:{OTHER_NUMBER}"
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40  # a JPEG's start, then 10 KiB
PDF = b"%PDF-1.4\n" + b"invoice line\n" * 24_000  # ~312 KB: more than one 256 KiB chunk

Json = dict[str, Any]


@dataclass
class Gallery:
    """Session, analytics and the gateway running over one media store; customers send media."""

    http: aiohttp.ClientSession
    js: JetStreamContext
    topology: Topology
    store: FilesystemMediaStore

    async def customer_sends(
        self, kind: str, *, wa_id: str, caption: str = "", number: str = NUMBER
    ) -> tuple[str, str]:
        """The conversation id and the id of the customer's media message, once projected."""
        fact = ingest_pb2.InboundMessageReceived(
            wamid=f"wamid.{uuid4().hex}",
            phone_number_id=number,
            customer=common_pb2.CustomerIdentity(wa_id=wa_id, profile_name="Ana"),
            content=common_pb2.MessageContent(type=kind, text=caption),
        )
        fact.sent_at.FromDatetime(datetime.now(UTC))
        fact.received_at.FromDatetime(datetime.now(UTC))
        subject = self.topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id=number)
        await self.js.publish(
            subject, fact.SerializeToString(), headers={"Nats-Msg-Id": fact.wamid}
        )
        message_id = str(inbound_message_id(fact.wamid))
        found: list[Json] = []

        async def projected() -> bool:
            async with self.http.get(
                "/api/v1/conversations", params={"customer_phone": wa_id}, headers=bearer(READER)
            ) as response:
                found[:] = (await response.json())["conversations"]
            return any(c["last_message_at"] for c in found)

        await eventually(projected, timeout=15)
        return found[0]["id"], message_id

    async def kept(
        self,
        conversation_id: str,
        message_id: str,
        data: bytes,
        *,
        media_type: str,
        content_type: str,
        file_name: str = "",
    ) -> StoredMedia:
        """The media put in the store and reported kept, once the gallery lists it."""
        stored = await self.store.put(data, content_type=content_type, file_name=file_name)
        fact = outbound_pb2.MediaKept(
            message_id=message_id,
            conversation_id=conversation_id,
            media_id=f"media-{message_id}",
            media_type=media_type,
            content_type=content_type,
            size=stored.size,
            sha256=stored.sha256,
            file_name=file_name,
            location=stored.location,
        )
        fact.kept_at.FromDatetime(datetime.now(UTC))
        await self.js.publish(
            self.topology.publish_subject(MEDIA_KEPT),
            fact.SerializeToString(),
            headers={"Nats-Msg-Id": f"{message_id}:media-kept"},
        )
        await self._listed(conversation_id, message_id, "stored")
        return stored

    async def not_kept(self, conversation_id: str, message_id: str, reason: str) -> None:
        fact = outbound_pb2.MediaKeepFailed(
            message_id=message_id,
            conversation_id=conversation_id,
            media_id=f"media-{message_id}",
            media_type="video",
            reason=reason,
            refused=True,
            attempts=1,
        )
        fact.failed_at.FromDatetime(datetime.now(UTC))
        await self.js.publish(
            self.topology.publish_subject(MEDIA_KEEP_FAILED),
            fact.SerializeToString(),
            headers={"Nats-Msg-Id": f"{message_id}:media-failed"},
        )
        await self._listed(conversation_id, message_id, "failed")

    async def attachments(
        self, conversation_id: str, *, token: str = READER, **params: str
    ) -> Json:
        async with self.http.get(
            f"/api/v1/conversations/{conversation_id}/attachments",
            params=params,
            headers=bearer(token),
        ) as response:
            assert response.status == 200, await response.text()
            body: Json = await response.json()
            return body

    async def refusal(self, path: str, *, token: str = READER, **params: str) -> tuple[int, Json]:
        async with self.http.get(path, params=params, headers=bearer(token)) as response:
            return response.status, (await response.json())["error"]

    async def _listed(self, conversation_id: str, message_id: str, status: str) -> None:
        async def listed() -> bool:
            found = (await self.attachments(conversation_id))["data"]
            return any(a["message_id"] == message_id and a["status"] == status for a in found)

        await eventually(listed, timeout=15)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def customer() -> str:
    return f"1556{uuid4().int % 10**7:07d}"


def file_path(conversation_id: str, message_id: str) -> str:
    return f"/api/v1/conversations/{conversation_id}/attachments/{message_id}/file"


@pytest.fixture
async def gallery(
    nats_server_url: str, nats_namespace: str, database_url: str, tmp_path: Path
) -> AsyncIterator[Gallery]:
    async with AsyncExitStack() as stack:
        session = await start_session(
            SessionConfig(
                nats_url=nats_server_url,
                nats_namespace=nats_namespace,
                database_url=database_url,
                api_tokens=TOKENS,
                grpc_port=0,
                ops_port=0,
            ),
            stack,
        )
        analytics = await start_analytics(
            AnalyticsConfig(
                nats_url=nats_server_url,
                nats_namespace=nats_namespace,
                database_url=database_url,
                tokens=TokenRegistry.parse(TOKENS),
                grpc_port=0,
                ops_port=0,
                batch_size=50,
            ),
            stack,
        )
        gateway = await start_gateway(
            GatewayConfig.from_env(
                {
                    "THREADLINE_GATEWAY_PORT": "0",
                    "THREADLINE_GATEWAY_OPS_PORT": "0",
                    "THREADLINE_ANALYTICS_GRPC_ADDRESS": analytics.grpc_address,
                    "THREADLINE_SESSION_GRPC_ADDRESS": f"127.0.0.1:{session.grpc_port}",
                    "THREADLINE_MEDIA_STORE": "fs",
                    "THREADLINE_MEDIA_ROOT": str(tmp_path / "media"),
                }
            ),
            stack,
        )
        client = await nats.connect(nats_server_url)
        stack.push_async_callback(client.drain)
        http = aiohttp.ClientSession(f"http://127.0.0.1:{gateway.port}")
        stack.push_async_callback(http.close)
        store = FilesystemMediaStore(tmp_path / "media")
        yield Gallery(http, client.jetstream(), Topology(nats_namespace), store)


async def test_the_attachments_are_listed_by_type_with_where_to_fetch_each_file(
    gallery: Gallery,
) -> None:
    wa_id = customer()
    conversation, photo = await gallery.customer_sends("image", wa_id=wa_id, caption="my sofa")
    _, invoice = await gallery.customer_sends("document", wa_id=wa_id)
    _, video = await gallery.customer_sends("video", wa_id=wa_id)
    await gallery.kept(conversation, photo, PHOTO, media_type="image", content_type="image/jpeg")
    await gallery.kept(
        conversation,
        invoice,
        PDF,
        media_type="document",
        content_type="application/pdf",
        file_name="invoice.pdf",
    )
    await gallery.not_kept(conversation, video, "larger than 16 MB")

    everything = await gallery.attachments(conversation)
    documents = await gallery.attachments(conversation, type="document")
    second_page = await gallery.attachments(conversation, page="2", size="2")

    assert [a["id"] for a in everything["data"]] == [photo, invoice, video]
    assert (everything["total"], everything["page"], everything["size"]) == (3, 1, 20)
    first = everything["data"][0]
    assert (first["type"], first["content_type"], first["size"]) == (
        "image",
        "image/jpeg",
        len(PHOTO),
    )
    assert (first["status"], first["direction"], first["conversation_id"]) == (
        "stored",
        "inbound",
        conversation,
    )
    assert first["file"] == file_path(conversation, photo)
    assert first["transcript"] is None and first["created_at"].endswith("Z")
    failed = everything["data"][2]
    assert (failed["status"], failed["failure_reason"], failed["refused"], failed["file"]) == (
        "failed",
        "larger than 16 MB",
        True,
        None,
    )
    assert "location" not in first and "file://" not in str(everything)
    assert [a["file_name"] for a in documents["data"]] == ["invoice.pdf"]
    assert documents["total"] == 1
    assert [a["id"] for a in second_page["data"]] == [video]
    assert (second_page["total"], second_page["page"]) == (3, 2)


async def test_a_file_is_streamed_with_its_type_length_and_name(gallery: Gallery) -> None:
    conversation, message = await gallery.customer_sends("document", wa_id=customer())
    await gallery.kept(
        conversation,
        message,
        PDF,
        media_type="document",
        content_type="application/pdf",
        file_name='facture d\'été "final".pdf',
    )

    async with gallery.http.get(file_path(conversation, message), headers=bearer(READER)) as got:
        body = await got.read()
        headers = got.headers

    assert got.status == 200
    assert body == PDF
    assert headers["Content-Type"] == "application/pdf"
    assert int(headers["Content-Length"]) == len(PDF)
    assert headers["X-Content-Type-Options"] == "nosniff"
    disposition = headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="facture d\'ete _final_.pdf"; ')
    assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == 'facture d\'été "final".pdf'


async def test_a_file_without_a_name_is_named_after_its_message(gallery: Gallery) -> None:
    conversation, message = await gallery.customer_sends("image", wa_id=customer())
    await gallery.kept(conversation, message, PHOTO, media_type="image", content_type="image/jpeg")

    async with gallery.http.get(file_path(conversation, message), headers=bearer(READER)) as got:
        body = await got.read()

    assert (got.status, body) == (200, PHOTO)
    assert got.headers["Content-Type"] == "image/jpeg"
    assert got.headers["Content-Disposition"] == (
        f"attachment; filename=\"{message}.jpg\"; filename*=UTF-8''{message}.jpg"
    )


async def test_another_tenants_attachments_and_files_are_not_found(gallery: Gallery) -> None:
    conversation, message = await gallery.customer_sends("image", wa_id=customer())
    await gallery.kept(conversation, message, PHOTO, media_type="image", content_type="image/jpeg")
    own, own_message = await gallery.customer_sends("image", wa_id=customer(), number=OTHER_NUMBER)
    await gallery.kept(own, own_message, PHOTO, media_type="image", content_type="image/png")

    listing = await gallery.refusal(
        f"/api/v1/conversations/{conversation}/attachments", token=TENANT
    )
    file = await gallery.refusal(file_path(conversation, message), token=TENANT)
    async with gallery.http.get(file_path(own, own_message), headers=bearer(TENANT)) as theirs:
        served = (theirs.status, await theirs.read(), theirs.headers["Content-Type"])

    assert listing == (
        404,
        {"code": "NOT_FOUND", "message": f"conversation {conversation} not found"},
    )
    assert file == (404, {"code": "NOT_FOUND", "message": f"conversation {conversation} not found"})
    assert served == (200, PHOTO, "image/png")


async def test_a_file_that_was_not_kept_or_is_gone_or_unknown_is_not_found(
    gallery: Gallery,
) -> None:
    wa_id = customer()
    conversation, video = await gallery.customer_sends("video", wa_id=wa_id)
    _, photo = await gallery.customer_sends("image", wa_id=wa_id)
    await gallery.not_kept(conversation, video, "download failed: 404")
    stored = await gallery.kept(
        conversation, photo, b"deleted later", media_type="image", content_type="image/jpeg"
    )
    await gallery.store.delete(stored.location)

    refusals = [
        await gallery.refusal(file_path(conversation, video)),
        await gallery.refusal(file_path(conversation, photo)),
        await gallery.refusal(file_path(conversation, str(uuid4()))),
        await gallery.refusal(file_path(str(uuid4()), photo)),
    ]

    assert [status for status, _ in refusals] == [404, 404, 404, 404]
    assert [error["code"] for _, error in refusals] == ["NOT_FOUND"] * 4
    assert "not in the media store" in refusals[1][1]["message"]
    assert "file://" not in str(refusals)


async def test_a_bad_parameter_or_a_missing_token_is_refused_by_name(gallery: Gallery) -> None:
    conversation, _ = await gallery.customer_sends("image", wa_id=customer())
    path = f"/api/v1/conversations/{conversation}/attachments"

    bad_type = await gallery.refusal(path, type="gif")
    bad_size = await gallery.refusal(path, size="101")
    bad_page = await gallery.refusal(path, page="first")
    bad_id = await gallery.refusal("/api/v1/conversations/c-17/attachments")
    async with gallery.http.get(file_path(conversation, "m-1")) as anonymous:
        unauthenticated = anonymous.status

    assert bad_type[0] == 400 and bad_type[1]["message"].startswith("type must be one of image")
    assert bad_size[0] == 400 and "size" in bad_size[1]["message"]
    assert bad_page[0] == 400 and bad_page[1]["message"].startswith("page must be a whole number")
    assert bad_id[0] == 400 and "conversation_id" in bad_id[1]["message"]
    assert unauthenticated == 401


def attachment(**fields: Any) -> pb.Attachment:
    return pb.Attachment(message_id="m-1", **fields)


def test_a_download_name_has_no_directory_or_control_characters() -> None:
    assert download_name(attachment(file_name="../../etc/passwd"), "text/plain") == "passwd"
    assert download_name(attachment(file_name="C:\\Users\\ana\\cv.pdf"), "x/y") == "cv.pdf"
    assert download_name(attachment(file_name="a\r\nb.txt"), "text/plain") == "ab.txt"
    assert download_name(attachment(file_name=".."), "audio/ogg") == "m-1.oga"
    assert download_name(attachment(), "application/x-unknown") == "m-1.bin"
    long = download_name(attachment(file_name="x" * 400 + ".pdf"), "application/pdf")
    assert len(long) == 180 and long.endswith("x.pdf")


def test_a_disposition_header_is_safe_whatever_the_name() -> None:
    header = content_disposition('日本語 "q" 50%;\\.txt')

    assert header.isascii() and "\r" not in header and "\n" not in header
    assert header.startswith("attachment; filename=\"___ _q_ 50_;_.txt\"; filename*=UTF-8''")
    assert unquote(header.split("''", 1)[1]) == '日本語 "q" 50%;\\.txt'


def test_a_malformed_content_type_is_served_as_binary() -> None:
    assert content_type_of(attachment(content_type="audio/ogg; codecs=opus"), "") == (
        "audio/ogg; codecs=opus"
    )
    assert content_type_of(attachment(content_type="text/html\r\nSet-Cookie: a=b"), "") == (
        "application/octet-stream"
    )
    assert content_type_of(attachment(content_type=""), "image/png") == "image/png"
    assert content_type_of(attachment(content_type="nonsense"), "") == "application/octet-stream"
