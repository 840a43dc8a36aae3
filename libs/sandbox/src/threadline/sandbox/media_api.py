"""The Graph API's media endpoints: upload, look up (a download URL), download, delete.

`POST /{version}/{phone_number_id}/media` takes multipart `file`, `type` and
`messaging_product` and answers `{"id"}`; `GET /{version}/{media_id}` answers the URL,
`mime_type`, `sha256` (hex), `file_size` (a string, as in Meta's OpenAPI), `id` and
`messaging_product`; the URL (`/whatsapp_business/attachments/?mid=&ext=&hash=` on the sandbox)
needs the bearer token and expires; `DELETE /{version}/{media_id}` answers `{"success": true}`.
Every call checks the bearer token; an unknown, expired or deleted id, or one that belongs to
another number than `?phone_number_id=`, is Graph's "object does not exist" error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from threadline.sandbox.graph_errors import (
    graph_error,
    invalid_parameter,
    unknown_object,
)
from threadline.sandbox.media import MediaLibrary, StoredMedia

log = logging.getLogger(__name__)

_MB: Final = 1024 * 1024
_DOCUMENT_LIMIT: Final = 100 * _MB
# The media types the Cloud API takes, and the largest file of each (Meta's "supported media").
MEDIA_SIZE_LIMITS: Final = {
    "audio/aac": 16 * _MB,
    "audio/amr": 16 * _MB,
    "audio/mpeg": 16 * _MB,
    "audio/mp4": 16 * _MB,
    "audio/ogg": 16 * _MB,
    "image/jpeg": 5 * _MB,
    "image/png": 5 * _MB,
    "image/webp": 500 * 1024,
    "video/mp4": 16 * _MB,
    "video/3gpp": 16 * _MB,
    "text/plain": _DOCUMENT_LIMIT,
    "application/pdf": _DOCUMENT_LIMIT,
    "application/msword": _DOCUMENT_LIMIT,
    "application/vnd.ms-excel": _DOCUMENT_LIMIT,
    "application/vnd.ms-powerpoint": _DOCUMENT_LIMIT,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _DOCUMENT_LIMIT,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _DOCUMENT_LIMIT,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": _DOCUMENT_LIMIT,
}
LARGEST_MEDIA: Final = max(MEDIA_SIZE_LIMITS.values())
DOWNLOAD_PATH: Final = "/whatsapp_business/attachments/"

TokenCheck = Callable[[web.Request], web.Response | None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def media_problems(mime_type: str, size: int) -> list[str]:
    """Why the Cloud API would refuse a file of `mime_type` and `size` bytes (empty when fine)."""
    base = mime_type.split(";")[0].strip().lower()
    limit = MEDIA_SIZE_LIMITS.get(base)
    if limit is None:
        return [f"type {mime_type!r} is not a supported media type"]
    if size == 0:
        return ["file is empty"]
    if size > limit:
        return [f"file is {size} bytes; the maximum for {base} is {limit}"]
    return []


class MediaApi:
    """Upload, look-up, download and delete of media, as the Cloud API answers them."""

    def __init__(self, library: MediaLibrary, check_token: TokenCheck) -> None:
        self._library = library
        self._check_token = check_token

    def routes(self) -> list[web.RouteDef]:
        """The routes this API serves."""
        version = r"{version:v\d+\.\d+}"
        return [
            web.post(f"/{version}/{{phone_number_id}}/media", self._authorised(self.upload)),
            web.get(f"/{version}/{{media_id:\\d+}}", self._authorised(self.retrieve)),
            web.delete(f"/{version}/{{media_id:\\d+}}", self._authorised(self.delete)),
            web.get(DOWNLOAD_PATH, self._authorised(self.download)),
        ]

    async def upload(self, request: web.Request) -> web.Response:
        """Keep an uploaded file for `phone_number_id`; answer its media id."""
        if not request.content_type.startswith("multipart/"):
            return invalid_parameter(["the upload must be multipart/form-data"])
        form = await request.post()
        file = form.get("file")
        if not isinstance(file, web.FileField):
            return invalid_parameter(["file is required (a multipart file part)"])
        problems = []
        if form.get("messaging_product") != "whatsapp":
            problems.append("messaging_product must be 'whatsapp'")
        mime_type = form.get("type")
        if not isinstance(mime_type, str) or not mime_type.strip():
            problems.append("type is required (the file's MIME type)")
            mime_type = ""
        data = file.file.read()
        if mime_type:
            problems += media_problems(mime_type, len(data))
        if problems:
            return invalid_parameter(problems)
        try:
            media = self._library.add(
                data,
                mime_type.strip(),
                phone_number_id=request.match_info["phone_number_id"],
                origin="uploaded",
                filename=file.filename or None,
            )
        except ValueError as error:
            return invalid_parameter([str(error)])
        log.info("uploaded media %s (%s, %d bytes)", media.id, media.mime_type, len(data))
        return web.json_response({"id": media.id})

    async def retrieve(self, request: web.Request) -> web.Response:
        """Describe a media id, with a fresh download URL."""
        media = self._find(request)
        if media is None:
            return unknown_object(request.match_info["media_id"])
        url = request.url.origin().with_path(DOWNLOAD_PATH)
        url = url.with_query(self._library.signed_query(media.id))
        return web.json_response(
            {
                "url": str(url),
                "mime_type": media.mime_type,
                "sha256": media.sha256_hex,
                "file_size": str(len(media.data)),
                "id": media.id,
                "messaging_product": "whatsapp",
            }
        )

    async def delete(self, request: web.Request) -> web.Response:
        """Forget a media id."""
        media = self._find(request)
        if media is None or not self._library.delete(media.id):
            return unknown_object(request.match_info["media_id"])
        log.info("deleted media %s", media.id)
        return web.json_response({"success": True})

    async def download(self, request: web.Request) -> web.Response:
        """The bytes behind a download URL that is signed, unexpired, and for kept media."""
        media_id = request.query.get("mid", "")
        refused = self._library.check_url(
            media_id, request.query.get("ext", ""), request.query.get("hash", "")
        )
        media = self._library.get(media_id) if refused is None else None
        if refused is None and media is None:
            refused = "the media no longer exists"
        if refused is not None or media is None:
            return graph_error(404, f"Media download refused: {refused}", code=100)
        return web.Response(body=media.data, headers={"Content-Type": media.mime_type})

    def _find(self, request: web.Request) -> StoredMedia | None:
        media = self._library.get(request.match_info["media_id"])
        owner = request.query.get("phone_number_id")
        if media is not None and owner and owner != media.phone_number_id:
            return None
        return media

    def _authorised(self, handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            denied = self._check_token(request)
            return denied if denied is not None else await handler(request)

        return checked
