"""The business's HTTP tools called with aiohttp: bounded by the tool's timeout (the whole call,
redirects included) and `max_response_bytes` (the rest is cut, the result says so); redirects
followed only on the same scheme and host (at most `MAX_REDIRECTS`), a redirect elsewhere is an
error; every failure is a `ToolResult`, never an exception.

A tool's URL is the tenant's choice, so by default only public addresses are called
(`servicekit.egress`, as the gateway's outgoing webhooks): a name resolving only to private,
loopback or link-local addresses, or such an address written in the URL, is refused before
anything is sent — else an assistant could be pointed at what only the platform reaches (the
cloud's metadata service, NATS's monitoring port, another service's `/metrics`) and read it out
to a customer. A development platform, whose business systems run on the same machine, allows
private addresses (`allow_private_addresses`, `THREADLINE_AI_TOOLS_ALLOW_PRIVATE_ADDRESSES`)."""

from __future__ import annotations

import asyncio
from typing import Final
from urllib.parse import urljoin, urlsplit

import aiohttp

from threadline.ai_responder.domain.http_tools import HttpToolRequest
from threadline.ai_responder.domain.tool_calls import ToolResult
from threadline.servicekit.egress import PublicOnlyResolver, refused_address

MAX_RESPONSE_BYTES: Final = 65_536
MAX_REDIRECTS: Final = 3
REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


class AiohttpToolCaller:
    """Calls tools with a session of its own (made in a running event loop; `close` it): no
    cookies kept between calls, and only public addresses unless `allow_private_addresses`."""

    def __init__(
        self,
        *,
        allow_private_addresses: bool = False,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._public_only = not allow_private_addresses
        resolver = PublicOnlyResolver() if self._public_only else None
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=resolver),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self._max = max_response_bytes

    async def close(self) -> None:
        await self._session.close()

    async def call(self, request: HttpToolRequest) -> ToolResult:
        try:
            async with asyncio.timeout(request.timeout_seconds):
                return await self._follow(request)
        except TimeoutError:
            return ToolResult(
                "timeout", detail=f"the system did not answer within {request.timeout_seconds:g} s"
            )
        except aiohttp.ClientError as error:
            return ToolResult("connection_error", detail=f"cannot reach the system: {error}")
        except OSError as error:
            return ToolResult("connection_error", detail=f"cannot reach the system: {error}")

    async def _follow(self, request: HttpToolRequest) -> ToolResult:
        method, url, body = request.method, request.url, request.body
        origin = urlsplit(url)
        for _ in range(MAX_REDIRECTS + 1):
            if self._public_only and (refused := refused_address(url)):
                return ToolResult("connection_error", detail=f"refused: {refused}")
            async with self._session.request(
                method, url, headers=dict(request.headers), data=body, allow_redirects=False
            ) as response:
                if response.status in REDIRECTS and "Location" in response.headers:
                    target = urljoin(url, response.headers["Location"])
                    moved = urlsplit(target)
                    if (moved.scheme, moved.netloc) != (origin.scheme, origin.netloc):
                        return ToolResult(
                            "http_error",
                            http_status=response.status,
                            detail="the system redirected to another host; not followed",
                        )
                    if response.status == 303:
                        method, body = "GET", None
                    url = target
                    continue
                content, truncated = await self._read(response)
                text = content.decode(response.charset or "utf-8", errors="replace")
                if response.status >= 400:
                    return ToolResult(
                        "http_error",
                        http_status=response.status,
                        body=text,
                        truncated=truncated,
                        detail=f"the system answered HTTP {response.status}",
                    )
                return ToolResult("ok", http_status=response.status, body=text, truncated=truncated)
        return ToolResult("http_error", detail=f"more than {MAX_REDIRECTS} redirects")

    async def _read(self, response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        kept = bytearray()
        async for chunk in response.content.iter_chunked(16_384):
            kept += chunk
            if len(kept) > self._max:
                return bytes(kept[: self._max]), True
        return bytes(kept), False
