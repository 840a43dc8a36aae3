"""A raw HTTP/1.1 client: the request line, headers and body go out byte for byte as given
(an HTTP library would quote a hostile path or refuse a hostile header before sending it)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass(frozen=True)
class RawResponse:
    status: int
    body: bytes


class NoAnswer(Exception):
    """The server closed the connection or sent something that is not an HTTP response;
    `while_sending` when it closed before the whole request was written."""

    def __init__(self, reason: str, *, while_sending: bool = False) -> None:
        super().__init__(reason)
        self.while_sending = while_sending


async def request(
    host: str,
    port: int,
    method: str,
    target: bytes,
    headers: tuple[tuple[bytes, bytes], ...],
    body: bytes,
    *,
    timeout: float,
) -> RawResponse:
    """Send one request on a new connection (`Connection: close`) and read the whole answer."""
    head = [method.encode("latin-1") + b" " + target + b" HTTP/1.1", b"Host: " + host.encode()]
    head += [name + b": " + value for name, value in headers]
    head += [b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        try:
            writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
            await writer.drain()
        except (ConnectionError, OSError) as error:
            # A server may answer early (400, 413) and close: read what it said, if anything.
            try:
                raw = await asyncio.wait_for(reader.read(-1), timeout)
            except (ConnectionError, OSError):
                raw = b""
            if not raw:
                raise NoAnswer(f"closed while sending: {error!r}", while_sending=True) from error
            return _parse(raw)
        raw = await asyncio.wait_for(reader.read(-1), timeout)
    except (ConnectionError, OSError) as error:
        raise NoAnswer(f"connection failed: {error!r}") from error
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return _parse(raw)


def _parse(raw: bytes) -> RawResponse:
    head, _, rest = raw.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 1") and rest:  # an interim answer (100 Continue)
        head, _, rest = rest.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise NoAnswer(f"not an HTTP response: {raw[:80]!r}")
    if b"transfer-encoding: chunked" in head.lower():
        rest = _unchunk(rest)
    return RawResponse(int(parts[1]), rest)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)
