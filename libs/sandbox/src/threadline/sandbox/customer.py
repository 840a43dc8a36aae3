"""Playing a customer: inbound text and media webhooks, built as Meta sends them, signed and
delivered.

A customer's image, document or voice note is kept in the sandbox's media first (as received
media, expiring like Meta's after 7 days), so the platform can fetch it by the id the webhook
carries: `GET /{version}/{media-id}`, then the download URL.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Final

import aiohttp
from aiohttp import web

from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.envelope import DEFAULT_WABA_ID, BusinessNumber, webhook_envelope
from threadline.sandbox.graph_errors import invalid_parameter
from threadline.sandbox.identifiers import new_wamid
from threadline.sandbox.inbox import Inbox
from threadline.sandbox.limits import as_object, check_text
from threadline.sandbox.media import MediaLibrary, StoredMedia
from threadline.sandbox.media_api import media_problems
from threadline.sandbox.sample_media import MEDIA_KINDS, SAMPLES, MediaKind
from threadline.sandbox.webhooks import post_signed

log = logging.getLogger(__name__)

DEFAULT_PROFILE_NAME: Final = "Sandbox Customer"
CAPTION_LIMIT: Final = 1024


def build_inbound_text(
    phone_number_id: str,
    display_phone_number: str,
    wa_id: str,
    profile_name: str,
    text: str,
    *,
    wamid: str | None = None,
    timestamp: int | datetime | None = None,
    user_id: str | None = None,
    waba_id: str = DEFAULT_WABA_ID,
) -> dict[str, object]:
    """The webhook Meta sends when customer `wa_id` writes `text` to the business number."""
    return build_inbound_message(
        phone_number_id,
        display_phone_number,
        wa_id,
        profile_name,
        {"text": {"body": text}, "type": "text"},
        wamid=wamid,
        timestamp=timestamp,
        user_id=user_id,
        waba_id=waba_id,
    )


def media_content(
    kind: MediaKind,
    media: StoredMedia,
    *,
    caption: str | None = None,
    voice: bool | None = None,
) -> dict[str, object]:
    """The part of a media message naming the file: `{"type": kind, kind: {"id", ...}}`.

    As in Meta's samples: `mime_type`, `sha256` (base64), `id`, then `caption` (image,
    document), `filename` (document) or `voice` (audio).
    """
    fields: dict[str, object] = {
        "mime_type": media.mime_type,
        "sha256": media.sha256_base64,
        "id": media.id,
    }
    if kind == "document":
        fields["filename"] = media.filename or "document"
    if caption is not None and kind != "audio":
        fields["caption"] = caption
    if kind == "audio":
        fields["voice"] = bool(voice)
    return {"type": kind, kind: fields}


# A customer's tap on a quick-reply button or a list row the business sent (Cloud API
# `interactive` message of type `button_reply` / `list_reply`: the option's id and title).
TAP_KINDS: Final = ("button_reply", "list_reply")
TAP_TITLE_LIMIT: Final = 24


def tap_content(kind: str, reply_id: str, title: str) -> dict[str, object]:
    """The message content of a tap on the option `reply_id` titled `title`."""
    return {
        "type": "interactive",
        "interactive": {"type": kind, kind: {"id": reply_id, "title": title}},
    }


def build_inbound_message(
    phone_number_id: str,
    display_phone_number: str,
    wa_id: str,
    profile_name: str,
    content: Mapping[str, object],
    *,
    wamid: str | None = None,
    timestamp: int | datetime | None = None,
    user_id: str | None = None,
    waba_id: str = DEFAULT_WABA_ID,
) -> dict[str, object]:
    """The webhook of one message from `wa_id`; `content` holds its `type` and that object."""
    contact: dict[str, object] = {"profile": {"name": profile_name}, "wa_id": wa_id}
    if user_id is not None:
        contact["user_id"] = user_id
    message = {
        "from": wa_id,
        "id": wamid or new_wamid(),
        "timestamp": str(_unix_seconds(timestamp)),
        **content,
    }
    number = BusinessNumber(
        waba_id=waba_id,
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
    )
    return webhook_envelope(number, {"contacts": [contact], "messages": [message]})


async def send_inbound(
    session: aiohttp.ClientSession,
    webhook_url: str,
    app_secret: str,
    *,
    phone_number_id: str,
    display_phone_number: str,
    wa_id: str,
    profile_name: str,
    text: str,
    wamid: str | None = None,
    timestamp: int | datetime | None = None,
    user_id: str | None = None,
    waba_id: str = DEFAULT_WABA_ID,
) -> tuple[int, str]:
    """Deliver one signed inbound text webhook (one attempt); its HTTP status and wamid.

    Raises `aiohttp.ClientError` (or `TimeoutError`) when the webhook URL cannot be reached.
    """
    wamid = wamid or new_wamid()
    payload = build_inbound_text(
        phone_number_id,
        display_phone_number,
        wa_id,
        profile_name,
        text,
        wamid=wamid,
        timestamp=timestamp,
        user_id=user_id,
        waba_id=waba_id,
    )
    status = await post_signed(session, webhook_url, payload, app_secret)
    return status, wamid


class CustomerApi:
    """`POST /sandbox/customers/{wa_id}/messages`: a customer writes to a business number.

    The body is `{"phone_number_id", "text"}` for a text, or `{"phone_number_id", "type":
    "image" | "document" | "audio", "caption"?, "filename"?, "voice"?, "file_base64"?,
    "mime_type"?}` for a file: the customer's own (base64, with its MIME type) or, without one,
    the sandbox's sample of that kind (a PNG photo, a PDF invoice, an OGG Opus voice note).
    `{"phone_number_id", "type": "button_reply" | "list_reply", "reply_id", "title"}` is a tap
    on a button or list row the business sent. `profile_name` and `user_id` are optional. Each
    message is recorded in `inbox` before its webhook goes, so the business's read receipt for
    it, however quick, finds it."""

    def __init__(
        self,
        config: SandboxConfig,
        session: aiohttp.ClientSession,
        inbox: Inbox,
        media: MediaLibrary,
    ) -> None:
        self._config = config
        self._session = session
        self._inbox = inbox
        self._media = media

    def routes(self) -> list[web.RouteDef]:
        """The routes this API serves."""
        return [web.post("/sandbox/customers/{wa_id}/messages", self.send_message)]

    async def send_message(self, request: web.Request) -> web.Response:
        """Send the customer's message to the platform's webhook; report the wamid and its reply."""
        try:
            body = as_object(await request.json())
        except ValueError:
            body = None
        if body is None:
            return invalid_parameter(["the request body must be a JSON object"])
        problems = check_text(body, "phone_number_id", "phone_number_id", limit=None, required=True)
        problems += check_text(body, "profile_name", "profile_name", limit=None, required=False)
        problems += check_text(body, "user_id", "user_id", limit=None, required=False)
        kind = body.get("type", "text")
        number = self._config.business_number(str(body.get("phone_number_id")))
        reply: dict[str, object] = {}
        if kind == "text":
            problems += check_text(body, "text", "text", limit=4096, required=True)
            content: dict[str, object] = {"text": {"body": body.get("text")}, "type": "text"}
        elif kind in TAP_KINDS:
            problems += check_text(body, "reply_id", "reply_id", limit=256, required=True)
            problems += check_text(body, "title", "title", limit=TAP_TITLE_LIMIT, required=True)
            content = tap_content(kind, str(body.get("reply_id")), str(body.get("title")))
        elif kind in MEDIA_KINDS:
            problems += _media_request_problems(kind, body)
            media = None if problems else self._keep(kind, body, number.phone_number_id, problems)
            if media is None:
                return invalid_parameter(problems)
            content = media_content(
                kind,
                media,
                caption=str(body["caption"]) if body.get("caption") is not None else None,
                voice=_voice(kind, body, media),
            )
            reply["media_id"] = media.id
        else:
            kinds = ", ".join(("text", *TAP_KINDS, *MEDIA_KINDS))
            problems.append(f"type must be one of {kinds}; got {kind!r}")
        if problems:
            return invalid_parameter(problems)
        wa_id, wamid = request.match_info["wa_id"], new_wamid()
        self._inbox.record(wamid, phone_number_id=number.phone_number_id, wa_id=wa_id)
        payload = build_inbound_message(
            number.phone_number_id,
            number.display_phone_number,
            wa_id,
            str(body.get("profile_name") or DEFAULT_PROFILE_NAME),
            content,
            wamid=wamid,
            user_id=str(body["user_id"]) if body.get("user_id") else None,
            waba_id=number.waba_id,
        )
        try:
            status = await post_signed(
                self._session, self._config.webhook_url, payload, self._config.app_secret
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("webhook %s unreachable: %s", self._config.webhook_url, error)
            return web.json_response(
                {"wamid": wamid, "webhook_status": None, "error": str(error), **reply}, status=502
            )
        log.info("customer %s wrote to %s: %s (%d)", wa_id, number.phone_number_id, wamid, status)
        return web.json_response({"wamid": wamid, "webhook_status": status, **reply})

    def _keep(
        self, kind: MediaKind, body: Mapping[str, object], phone_number_id: str, problems: list[str]
    ) -> StoredMedia | None:
        """Store the customer's file (or the sample) as received media; None, with problems, if
        it cannot be."""
        encoded = body.get("file_base64")
        if encoded is None:
            sample = SAMPLES[kind]
            data, mime_type, filename = sample.data, sample.mime_type, sample.filename
        else:
            try:
                data = base64.b64decode(str(encoded), validate=True)
            except (binascii.Error, ValueError):
                problems.append("file_base64 must be valid base64")
                return None
            mime_type, filename = str(body["mime_type"]), None
            problems += media_problems(mime_type, len(data))
        if body.get("filename") is not None:
            filename = str(body["filename"])
        if problems:
            return None
        try:
            return self._media.add(
                data,
                mime_type,
                phone_number_id=phone_number_id,
                origin="received",
                filename=filename,
            )
        except ValueError as error:
            problems.append(str(error))
            return None


def _media_request_problems(kind: object, body: Mapping[str, object]) -> list[str]:
    problems = check_text(body, "caption", "caption", limit=CAPTION_LIMIT, required=False)
    problems += check_text(body, "filename", "filename", limit=240, required=False)
    if kind == "audio" and body.get("caption") is not None:
        problems.append("an audio message has no caption")
    if kind != "document" and body.get("filename") is not None:
        problems.append("only a document has a filename")
    voice = body.get("voice")
    if voice is not None and (kind != "audio" or not isinstance(voice, bool)):
        problems.append("voice must be true or false, and only on audio")
    if body.get("file_base64") is not None:
        problems += check_text(body, "file_base64", "file_base64", limit=None, required=True)
        problems += check_text(body, "mime_type", "mime_type", limit=None, required=True)
    return problems


def _voice(kind: MediaKind, body: Mapping[str, object], media: StoredMedia) -> bool | None:
    """Whether an audio message is a voice note: as asked, else when it is OGG Opus."""
    if kind != "audio":
        return None
    voice = body.get("voice")
    return voice if isinstance(voice, bool) else media.mime_type.startswith("audio/ogg")


def _unix_seconds(timestamp: int | datetime | None) -> int:
    if timestamp is None:
        return int(time.time())
    if isinstance(timestamp, datetime):
        return int(timestamp.timestamp())
    return timestamp
