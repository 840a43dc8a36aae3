"""The `GraphApi` port over HTTP (send one Cloud API message and get its wamid; mark a customer's
message read), the `GraphMedia` port (look a media id up, download its file), and a fake."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
from opentelemetry.trace import Status, StatusCode

from threadline.outbound.adapters.outbound import prometheus
from threadline.outbound.adapters.outbound.graph_errors import (
    error_from_response,
    network_error,
    unexpected_answer,
)
from threadline.outbound.adapters.outbound.graph_tracing import graph_call, traced_call
from threadline.outbound.application.ports import (
    DownloadUrlExpired,
    GraphApiError,
    MediaDescription,
    MediaTooLarge,
)
from threadline.servicekit.telemetry import inject_trace_headers

DOWNLOAD_CHUNK = 64 * 1024
# A refused download URL: Meta answers 401 or 404 once it expired, the sandbox 404.
_EXPIRED_URL_STATUSES = frozenset({401, 404})


class HttpGraphApi:
    """`POST {base}/{version}/{phone_number_id}/messages` with the access token as bearer; and
    `GET {base}/{version}/{media_id}` then its download URL, with the same bearer."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        version: str,
        access_token: str,
    ) -> None:
        self._session = session
        self._root = f"{base_url.rstrip('/')}/{version}"
        self._authorization = f"Bearer {access_token}"

    @prometheus.counts_graph_errors("send")
    async def send(self, phone_number_id: str, body: Mapping[str, Any]) -> str:
        status, parsed, text = await self._post(phone_number_id, body, request="send")
        return _wamid(status, parsed, text)

    @prometheus.counts_graph_errors("read_receipt")
    async def mark_read(self, phone_number_id: str, body: Mapping[str, Any]) -> None:
        status, parsed, text = await self._post(phone_number_id, body, request="read_receipt")
        if not (isinstance(parsed, Mapping) and parsed.get("success") is True):
            raise unexpected_answer(status, text, expected='{"success": true}')

    @traced_call("POST", "/{version}/{phone_number_id}/media", request="media_upload")
    @prometheus.counts_graph_errors("media_upload")
    async def upload_media(
        self, phone_number_id: str, data: bytes, *, content_type: str, file_name: str
    ) -> str:
        """`POST {base}/{version}/{phone_number_id}/media`, multipart `messaging_product`,
        `type` and `file`, as Meta's "Upload media" takes it; the media id it answers."""
        url = f"{self._root}/{quote(phone_number_id, safe='')}/media"
        headers = {"Authorization": self._authorization}
        inject_trace_headers(headers)
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", content_type)
        form.add_field("file", data, filename=file_name or "file", content_type=content_type)
        started = time.perf_counter()
        try:
            async with self._session.post(url, data=form, headers=headers) as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise network_error(error) from error
        finally:
            prometheus.GRAPH_API_SECONDS.labels("media_upload").observe(
                time.perf_counter() - started
            )
        parsed = _json(text)
        if not 200 <= status < 300:
            raise error_from_response(status, parsed, text)
        media_id = parsed.get("id") if isinstance(parsed, Mapping) else None
        if not isinstance(media_id, str) or not media_id:
            raise unexpected_answer(status, text, expected="id")
        return media_id

    @traced_call("GET", "/{version}/{media_id}", request="media_lookup")
    @prometheus.counts_graph_errors("media_lookup")
    async def describe_media(self, media_id: str) -> MediaDescription:
        url = f"{self._root}/{quote(media_id, safe='')}"
        headers = {"Authorization": self._authorization}
        inject_trace_headers(headers)
        started = time.perf_counter()
        try:
            async with self._session.get(url, headers=headers) as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise network_error(error) from error
        finally:
            prometheus.GRAPH_API_SECONDS.labels("media_lookup").observe(
                time.perf_counter() - started
            )
        parsed = _json(text)
        if not 200 <= status < 300:
            raise error_from_response(status, parsed, text)
        return _media_description(media_id, status, parsed, text)

    @traced_call("GET", "{media_url}", request="media_download")
    @prometheus.counts_graph_errors("media_download")
    async def download_media(self, url: str, *, max_bytes: int) -> bytes:
        """Streamed, and given up as soon as it passes `max_bytes` (or says it will)."""
        headers = {"Authorization": self._authorization}
        inject_trace_headers(headers)
        started = time.perf_counter()
        try:
            async with self._session.get(url, headers=headers) as response:
                if not 200 <= response.status < 300:
                    text = await response.text()
                    error = error_from_response(response.status, _json(text), text)
                    if response.status in _EXPIRED_URL_STATUSES:
                        raise DownloadUrlExpired(error.failure, http_status=response.status)
                    raise error
                if response.content_length is not None and response.content_length > max_bytes:
                    raise MediaTooLarge(max_bytes)
                data = bytearray()
                async for chunk in response.content.iter_chunked(DOWNLOAD_CHUNK):
                    data += chunk
                    if len(data) > max_bytes:
                        raise MediaTooLarge(max_bytes)
                return bytes(data)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise network_error(error) from error
        finally:
            prometheus.GRAPH_API_SECONDS.labels("media_download").observe(
                time.perf_counter() - started
            )

    async def _post(
        self, phone_number_id: str, body: Mapping[str, Any], *, request: str
    ) -> tuple[int, Any, str]:
        """The status and the (parsed, raw) answer of a 2xx; `GraphApiError` for anything else.
        `request` names the kind of call in the latency histogram."""
        url = f"{self._root}/{quote(phone_number_id, safe='')}/messages"
        headers = {"Authorization": self._authorization}
        # A CLIENT span whose traceparent the request carries: the sandbox continues the trace.
        with graph_call(
            "POST",
            "/{version}/{phone_number_id}/messages",
            url,
            headers,
            request=request,
            business_number=phone_number_id,
        ) as span:
            started = time.perf_counter()
            try:
                async with self._session.post(url, json=body, headers=headers) as response:
                    status, text = response.status, await response.text()
            except (aiohttp.ClientError, TimeoutError) as error:
                raise network_error(error) from error
            finally:
                prometheus.GRAPH_API_SECONDS.labels(request).observe(time.perf_counter() - started)
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
        parsed = _json(text)
        if not 200 <= status < 300:
            raise error_from_response(status, parsed, text)
        return status, parsed, text


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _media_description(media_id: str, status: int, parsed: Any, text: str) -> MediaDescription:
    if not isinstance(parsed, Mapping):
        raise unexpected_answer(status, text, expected="a media object")
    url = parsed.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise unexpected_answer(status, text, expected="url")
    size = parsed.get("file_size")  # a string in Meta's OpenAPI, a number in some answers
    return MediaDescription(
        media_id=media_id,
        url=url,
        mime_type=str(parsed.get("mime_type") or ""),
        sha256=str(parsed.get("sha256") or ""),
        file_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
    )


def _wamid(status: int, parsed: Any, text: str) -> str:
    try:
        wamid = parsed["messages"][0]["id"]
    except (KeyError, IndexError, TypeError):
        raise unexpected_answer(status, text, expected="messages[0].id") from None
    if not isinstance(wamid, str) or not wamid:
        raise unexpected_answer(status, text, expected="messages[0].id")
    return wamid


@dataclass
class ScriptedGraphApi:
    """A `GraphApi` for unit tests: sends answer from `script` in order (a wamid or an error),
    read receipts from `receipt_script` (None: accepted, or an error)."""

    script: list[str | GraphApiError] = field(default_factory=list)
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    receipt_script: list[GraphApiError | None] = field(default_factory=list)
    marked_read: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    uploaded: list[tuple[str, bytes, str, str]] = field(default_factory=list)

    async def send(self, phone_number_id: str, body: Mapping[str, Any]) -> str:
        self.sent.append((phone_number_id, dict(body)))
        answer = self.script.pop(0) if self.script else f"wamid.scripted{len(self.sent)}"
        if isinstance(answer, GraphApiError):
            raise answer
        return answer

    async def upload_media(
        self, phone_number_id: str, data: bytes, *, content_type: str, file_name: str
    ) -> str:
        self.uploaded.append((phone_number_id, data, content_type, file_name))
        return f"media{len(self.uploaded)}"

    async def mark_read(self, phone_number_id: str, body: Mapping[str, Any]) -> None:
        self.marked_read.append((phone_number_id, dict(body)))
        answer = self.receipt_script.pop(0) if self.receipt_script else None
        if answer is not None:
            raise answer
